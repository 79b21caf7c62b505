"""Agents in PostgreSQL: saved again and again, their queues follow; an agent takes one offer at a time,
and an attempt starts and ends once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from cbdialer.adapters.db import Database
from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import Agent, Callback, CallbackType, CompletionStatus, InteractionState, Queue
from cbdialer.domain.outcomes import NextStep
from cbdialer.ports import StartOutcome

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)

# A queue whose pacing never gets in the way of these tests (its own tests are in test_pacing.py).
PACING = {"max_calls": 100, "calls_per_second": 1000.0}


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


async def due_callbacks(store, owner: uuid.UUID, n: int) -> list[Callback]:
    for _ in range(n):
        await store.add_callback(Callback(id=uuid.uuid4(), queue_id="sales", destination="+442079460012",
                                          type=CallbackType.STANDARD, state=CallbackState.SCHEDULED, due_at=NOW,
                                          start_at=NOW, end_at=NOW + timedelta(hours=5), created_at=NOW), actor="test")
    return await store.claim_due(owner, now=NOW, limit=n, lease=LEASE)


async def test_an_agent_takes_one_offer_at_a_time(db: Database) -> None:
    store = db.store()
    await store.save_queue(Queue(id="sales", name="sales"))
    await store.upsert_agent(Agent(id="1001", dial_string="PJSIP/agent-1001", queues=frozenset({"sales"})))
    owner = uuid.uuid4()
    one, two, three = await due_callbacks(store, owner, 3)
    until = NOW + timedelta(seconds=60)

    async def start(callback: Callback, at: datetime) -> StartOutcome:
        attempt = uuid.uuid4()
        outcome = await store.start_attempt(callback, attempt_id=attempt, agent_id="1001", owner=owner, now=at,
                                            lease=LEASE, reserve_until=until, actor="test", **PACING)
        assert (outcome.callback is not None) == (outcome.outcome is StartOutcome.STARTED)
        return outcome.outcome

    assert await start(one, NOW) is StartOutcome.STARTED
    first = (await store.attempts(one.id))[0]
    assert (first.agent_id, first.interaction_state) == ("1001", InteractionState.OFFERED)
    assert (await store.get_callback(one.id)).state is CallbackState.IN_PROGRESS
    assert await start(two, NOW) is StartOutcome.AGENT_TAKEN  # the agent is on the first offer
    assert await store.attempts(two.id) == []
    assert (await store.get_callback(two.id)).state is CallbackState.QUEUED
    await store.release_agent("1001", first.id, wrap_up_until=NOW + timedelta(seconds=10))
    assert await start(two, NOW + timedelta(seconds=5)) is StartOutcome.AGENT_TAKEN  # wrap-up
    assert await start(two, NOW + timedelta(seconds=10)) is StartOutcome.STARTED
    assert await start(two, NOW + timedelta(seconds=10)) is StartOutcome.NOT_OURS  # an attempt starts once
    assert await store.set_agent_ready("1001", False)
    await store.release_agent("1001", (await store.attempts(two.id))[0].id, wrap_up_until=NOW)
    assert await start(three, NOW + timedelta(seconds=20)) is StartOutcome.AGENT_TAKEN  # not ready


async def test_an_attempt_ends_once_and_frees_its_agent(db: Database) -> None:
    store = db.store()
    await store.save_queue(Queue(id="sales", name="sales"))
    await store.upsert_agent(Agent(id="1001", dial_string="PJSIP/agent-1001", queues=frozenset({"sales"})))
    owner = uuid.uuid4()
    (callback,) = await due_callbacks(store, owner, 1)
    attempt = uuid.uuid4()
    started = await store.start_attempt(callback, attempt_id=attempt, agent_id="1001", owner=owner, now=NOW,
                                        lease=LEASE, reserve_until=NOW + timedelta(seconds=60), actor="test", **PACING)
    assert started.callback is not None

    async def state() -> InteractionState:
        return (await store.attempts(callback.id))[0].interaction_state

    await store.set_attempt_states({attempt: InteractionState.HANDLING})
    await store.set_attempt_states({attempt: InteractionState.DIALING})  # late, out of order: no step back
    assert await state() is InteractionState.HANDLING
    later = NOW + timedelta(seconds=30)
    step = NextStep(status=CompletionStatus.BUSY, reason=Reason.BUSY, state=CallbackState.SCHEDULED,
                    due_at=later + timedelta(minutes=10), counted=True, attempts_count=1, network_failures=0)

    async def end(at: datetime):
        return await store.end_attempt(attempt, agent_id="1001", owner=owner, now=at, wrap_up_until=at, step=step,
                                       dial_status="BUSY", hangup_cause=17, amd_status="", actor="test")

    ended = await end(later)
    assert ended.finished and ended.callback is not None
    assert (ended.callback.state, ended.callback.completion_status, ended.callback.attempts_count,
            ended.callback.due_at) == (CallbackState.SCHEDULED, CompletionStatus.BUSY, 1, step.due_at)
    (row,) = await store.attempts(callback.id)
    assert (row.ended_at, row.completion_status, row.dial_status, row.hangup_cause, row.counted) == \
        (later, CompletionStatus.BUSY, "BUSY", 17, True)
    history = await store.history(callback.id)
    assert [(h.from_state, h.to_state) for h in history][-2:] == [
        (CallbackState.QUEUED, CallbackState.IN_PROGRESS), (CallbackState.IN_PROGRESS, CallbackState.SCHEDULED)]
    again = await end(later + timedelta(seconds=1))  # a late report, or the watchdog: nothing changes
    assert (again.finished, again.callback) == (False, None)
    assert len(await store.history(callback.id)) == len(history)
    await store.set_attempt_states({attempt: InteractionState.WRAP_UP})  # after the end: nothing
    assert await state() is InteractionState.ENDED
    agent = await store.get_agent("1001")
    assert agent is not None and agent.reserved_until is None and agent.idle_since == later
