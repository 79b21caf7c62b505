"""What holds across every dialer process because PostgreSQL holds it (docs/design.md sections 4 and 8): a queue's
pacing, an agent's reservation for the whole call, a line result recorded once, and waits that do not fill
the audit trail."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from cbdialer.adapters.db import Database
from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import Agent, Callback, CallbackType, CompletionStatus, Queue, QueueSettings
from cbdialer.ports import StartOutcome

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


async def setup(db: Database, agents: int, **settings: object) -> tuple[Queue, list[str]]:
    store = db.store()
    queue = Queue(id="sales", name="sales", settings=QueueSettings(**settings))  # type: ignore[arg-type]
    await store.save_queue(queue)
    ids = [str(1001 + i) for i in range(agents)]
    for agent in ids:
        await store.upsert_agent(Agent(id=agent, dial_string=f"PJSIP/agent-{agent}", queues=frozenset({"sales"})))
    return queue, ids


async def claimed(db: Database, owner: uuid.UUID, n: int, at: datetime = NOW) -> list[Callback]:
    store = db.store()
    for i in range(n):
        await store.add_callback(Callback(id=uuid.uuid4(), queue_id="sales", destination=f"+4420794600{i:02d}",
                                          type=CallbackType.STANDARD, state=CallbackState.SCHEDULED, due_at=at,
                                          start_at=at, end_at=at + timedelta(hours=1), created_at=at), actor="test")
    return await store.claim_due(owner, now=at, limit=n, lease=LEASE)


async def start(db: Database, queue: Queue, callback: Callback, agent: str, owner: uuid.UUID,
                at: datetime = NOW) -> StartOutcome:
    settings = queue.settings
    started = await db.store().start_attempt(
        callback, attempt_id=uuid.uuid4(), agent_id=agent, owner=owner, now=at, lease=LEASE,
        reserve_until=at + timedelta(minutes=2), actor="test", max_calls=settings.max_concurrent_calls,
        calls_per_second=settings.calls_per_second)
    return started.outcome


async def test_two_processes_never_have_more_live_calls_than_the_queue_allows(db: Database) -> None:
    queue, agents = await setup(db, 6, max_concurrent_calls=2, calls_per_second=1000)
    one, two = uuid.uuid4(), uuid.uuid4()
    mine, theirs = await claimed(db, one, 3), await claimed(db, two, 3)
    # All six at once, from two "processes": the queue's row makes them take turns.
    outcomes = await asyncio.gather(*(start(db, queue, c, agent, owner) for c, agent, owner in
                                      zip([*mine, *theirs], agents, [one] * 3 + [two] * 3, strict=True)))
    assert sorted(outcomes) == sorted([StartOutcome.STARTED] * 2 + [StartOutcome.NO_SLOT] * 4)


async def test_calls_per_second_holds_across_processes(db: Database) -> None:
    queue, agents = await setup(db, 4, max_concurrent_calls=10, calls_per_second=1)
    one, two = uuid.uuid4(), uuid.uuid4()
    (a, b), (c, d) = await claimed(db, one, 2), await claimed(db, two, 2)
    assert await start(db, queue, a, agents[0], one) is StartOutcome.STARTED
    assert await start(db, queue, c, agents[1], two) is StartOutcome.NO_SLOT  # the other process, same second
    assert await start(db, queue, b, agents[2], one, NOW + timedelta(milliseconds=500)) is StartOutcome.NO_SLOT
    assert await start(db, queue, d, agents[3], two, NOW + timedelta(seconds=1)) is StartOutcome.STARTED


async def test_a_reservation_lasts_as_long_as_its_call(db: Database) -> None:
    queue, (agent,) = await setup(db, 1)
    owner = uuid.uuid4()
    first, second = await claimed(db, owner, 2)
    store = db.store()
    assert await start(db, queue, first, agent, owner) is StartOutcome.STARTED
    # Long past the offer's ceiling the call goes on; the heartbeat keeps the agent reserved.
    later = NOW + timedelta(minutes=10)
    await store.extend_leases(owner, now=later, lease=LEASE)
    assert await start(db, queue, second, agent, owner, later + timedelta(seconds=1)) is StartOutcome.AGENT_TAKEN
    record = await store.get_agent(agent)
    assert record is not None and record.reserved_until == later + 2 * LEASE


async def test_a_result_is_recorded_once_by_whoever_hears_it_first(db: Database) -> None:
    queue, (agent,) = await setup(db, 1)
    owner = uuid.uuid4()
    (callback,) = await claimed(db, owner, 1)
    store = db.store()
    assert await start(db, queue, callback, agent, owner) is StartOutcome.STARTED
    (attempt,) = await store.attempts(callback.id)
    heard = NOW + timedelta(seconds=20)
    assert await store.result_heard(attempt.id, heard_at=heard, dial_status="ANSWER", hangup_cause=16,
                                    amd_status="")  # another process heard it
    assert not await store.result_heard(attempt.id, heard_at=heard + timedelta(seconds=1), dial_status="NOANSWER",
                                        hangup_cause=19, amd_status="")
    # The holder's own record moves it into wrap-up and frees the agent, and keeps the first result.
    assert await store.record_result(attempt.id, agent_id=agent, heard_at=heard + timedelta(seconds=2),
                                     dial_status="ANSWER", hangup_cause=16, amd_status="",
                                     wrap_up_until=heard + timedelta(seconds=30), status=CompletionStatus.HANDLED)
    (row,) = await store.attempts(callback.id)
    assert (row.dial_status, row.hangup_cause, row.result_at, row.interaction_state.value) == \
        ("ANSWER", 16, heard, "wrap_up")
    assert await store.set_disposition(callback.id, CompletionStatus.HANDLED)  # wrap-up: dispositions open
    record = await store.get_agent(agent)
    assert record is not None and record.reserved_until is None and record.wrap_up_until == heard + timedelta(seconds=30)


async def test_a_long_wait_for_a_dial_slot_is_audited_once(db: Database) -> None:
    await setup(db, 1)
    owner = uuid.uuid4()
    store = db.store()
    (callback,) = await claimed(db, owner, 1)
    at = NOW
    for _ in range(30):  # a minute of waits, claimed again every 2 s
        waited = await store.wait(callback, owner=owner, reason=Reason.DIAL_SLOT_UNAVAILABLE,
                                  due_at=at + timedelta(seconds=2), now=at, actor="test")
        assert waited is not None and (waited.state, waited.due_at) == (CallbackState.QUEUED, at + timedelta(seconds=2))
        at += timedelta(seconds=2)
        (callback,) = await store.claim_due(owner, now=at, limit=1, lease=LEASE)
    trail = [(h.from_state, h.to_state, h.reason) for h in await store.history(callback.id)]
    assert trail == [(None, CallbackState.SCHEDULED, Reason.CREATED), (CallbackState.SCHEDULED, CallbackState.QUEUED, Reason.DUE),
                     (CallbackState.QUEUED, CallbackState.QUEUED, Reason.DIAL_SLOT_UNAVAILABLE)]
    # Waiting for a busy agent is a change worth one line too, and so is each change of agent.
    await store.wait(callback, owner=owner, reason=Reason.DIAL_SLOT_UNAVAILABLE, due_at=at + timedelta(seconds=2),
                     now=at, actor="test", assigned_agent="1001")
    assert len(await store.history(callback.id)) == 4
    assert await store.wait(callback, owner=uuid.uuid4(), reason=Reason.DIAL_SLOT_UNAVAILABLE, due_at=at,
                            now=at, actor="test") is None  # not leased to that owner
