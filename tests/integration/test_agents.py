"""Agents in PostgreSQL: saved again and again, their queues follow; reservation is one offer at a time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from cbdialer.adapters.db import Database
from cbdialer.domain.models import Agent, Queue

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


async def test_saving_an_agent_twice_updates_its_queues(db: Database) -> None:
    store = db.store()
    for queue_id in ("sales", "support"):
        await store.save_queue(Queue(id=queue_id, name=queue_id))
    await store.upsert_agent(Agent(id="1001", dial_string="PJSIP/agent-1001", queues=frozenset({"sales"})))
    await store.upsert_agent(Agent(id="1001", dial_string="PJSIP/agent-1001", queues=frozenset({"sales"})))
    await store.upsert_agent(Agent(id="1001", dial_string="PJSIP/agent-1001b", queues=frozenset({"support"})))
    agent = await store.get_agent("1001")
    assert agent is not None
    assert (agent.agent.dial_string, agent.agent.queues) == ("PJSIP/agent-1001b", {"support"})
    assert await store.agents_of_queue("sales") == []


async def test_an_agent_takes_one_offer_at_a_time(db: Database) -> None:
    store = db.store()
    await store.save_queue(Queue(id="sales", name="sales"))
    await store.upsert_agent(Agent(id="1001", dial_string="PJSIP/agent-1001", queues=frozenset({"sales"})))
    first, second = uuid.uuid4(), uuid.uuid4()
    until = NOW + timedelta(seconds=60)
    assert await store.reserve_agent("1001", first, now=NOW, until=until)
    assert not await store.reserve_agent("1001", second, now=NOW, until=until)
    await store.release_agent("1001", first, wrap_up_until=NOW + timedelta(seconds=10))
    assert not await store.reserve_agent("1001", second, now=NOW + timedelta(seconds=5), until=until)  # wrap-up
    assert await store.reserve_agent("1001", second, now=NOW + timedelta(seconds=10), until=until)
    assert await store.set_agent_ready("1001", False)
    await store.release_agent("1001", second, wrap_up_until=NOW)
    assert not await store.reserve_agent("1001", first, now=NOW + timedelta(seconds=20), until=until)  # not ready
