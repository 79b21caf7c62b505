"""The in-memory store passes the CallbackStore conformance suite."""

from __future__ import annotations

import pytest

from cbdialer.adapters.memory import MemoryStore
from tests.store_contract import QUEUE, StoreContract


@pytest.fixture
async def store() -> MemoryStore:
    memory = MemoryStore()
    await memory.save_queue(QUEUE)
    return memory


class TestMemoryStore(StoreContract):
    pass
