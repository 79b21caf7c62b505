"""The in-memory store passes every store conformance suite (tests/support/contracts)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

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
from tests.support.contracts.nodes import NodeContract
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


class TestMemoryNodes(NodeContract):
    pass


async def test_a_process_whose_heartbeat_is_older_than_the_limit_is_not_alive() -> None:
    now = [datetime(2026, 12, 2, 12, 0, tzinfo=UTC)]
    memory = MemoryStore(clock=lambda: now[0])
    node = uuid.uuid4()
    await memory.register_node(node, hostname="pbx-1", pid=4242, version="test")
    now[0] += timedelta(seconds=30)
    assert await memory.live_nodes([node], within=timedelta(seconds=31)) == {node}
    assert await memory.live_nodes([node], within=timedelta(seconds=30)) == set()
    assert await memory.node_heartbeat(node) == now[0]
    assert await memory.live_nodes([node], within=timedelta(seconds=1)) == {node}
