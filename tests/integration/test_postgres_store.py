"""PostgreSQL passes the CallbackStore conformance suite."""

from __future__ import annotations

import pytest

from cbdialer.adapters.db import Database
from cbdialer.adapters.db.store import PostgresStore
from tests.store_contract import QUEUE, StoreContract


@pytest.fixture
async def store(db: Database) -> PostgresStore:
    postgres = db.store()
    await postgres.save_queue(QUEUE)
    return postgres


class TestPostgresStore(StoreContract):
    pass
