"""PostgreSQL passes every store conformance suite (tests/support/contracts)."""

from __future__ import annotations

import pytest

from cbdialer.adapters.db import Database
from cbdialer.adapters.db.store import PostgresStore
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
async def store(db: Database) -> PostgresStore:
    postgres = db.store()
    await postgres.save_queue(QUEUE)
    return postgres


class TestPostgresStore(StoreContract):
    pass


class TestPostgresCallbackBook(CallbackBookContract):
    pass


class TestPostgresQueues(QueueContract):
    pass


class TestPostgresAgents(AgentContract):
    pass


class TestPostgresAttempts(AttemptContract):
    pass


class TestPostgresLists(ListContract):
    pass


class TestPostgresReports(ReportContract):
    pass


class TestPostgresTokens(TokenContract):
    pass


class TestPostgresAgentCalls(AgentCallContract):
    pass


class TestPostgresSlots(SlotContract):
    pass


class TestPostgresPlaces(PlaceContract):
    pass
