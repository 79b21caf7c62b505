"""The in-memory store passes every store conformance suite (tests/support/contracts)."""

from __future__ import annotations

import pytest

from cbdialer.adapters.memory import MemoryStore
from tests.support.contracts import (
    QUEUE,
    AgentContract,
    AttemptContract,
    CallbackBookContract,
    ListContract,
    QueueContract,
    ReportContract,
    StoreContract,
    TokenContract,
)
from tests.support.contracts.calls import AgentCallContract
from tests.support.contracts.places import PlaceContract
from tests.support.contracts.slots import SlotContract


@pytest.fixture
async def store() -> MemoryStore:
    memory = MemoryStore()
    await memory.save_queue(QUEUE)
    return memory


class TestMemoryStore(StoreContract):
    pass


class TestMemoryCallbackBook(CallbackBookContract):
    pass


class TestMemoryQueues(QueueContract):
    pass


class TestMemoryAgents(AgentContract):
    pass


class TestMemoryAttempts(AttemptContract):
    pass


class TestMemoryLists(ListContract):
    pass


class TestMemoryReports(ReportContract):
    pass


class TestMemoryTokens(TokenContract):
    pass


class TestMemoryAgentCalls(AgentCallContract):
    pass


class TestMemorySlots(SlotContract):
    pass


class TestMemoryPlaces(PlaceContract):
    pass
