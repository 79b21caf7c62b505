"""PostgreSQL passes every store conformance suite (tests/support/contracts)."""

from __future__ import annotations

import uuid
from datetime import timedelta

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
from tests.support.contracts.nodes import NodeContract
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


class TestPostgresNodes(NodeContract):
    pass


async def test_a_process_whose_heartbeat_is_older_than_the_limit_is_not_alive(store: PostgresStore) -> None:
    node = uuid.uuid4()
    await store.register_node(node, hostname="pbx-1", pid=4242, version="test")
    assert await store.live_nodes([node], within=timedelta(hours=1)) == {node}
    # now() in a later statement is later than the heartbeat: any heartbeat is older than no time at all.
    assert await store.live_nodes([node], within=timedelta(0)) == set()
