"""What every conformance suite shares: the time, the queue each store starts with, and builders of callbacks,
agents and live calls. Rule: a helper only drives the store through its public methods."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from cbdialer.domain.lifecycle import CallbackState
from cbdialer.domain.models import (
    Agent,
    Callback,
    CallbackType,
    CallingWindow,
    CompletionStatus,
    OpeningHours,
    PreviewMode,
    Queue,
    QueueSettings,
    Schedule,
)
from cbdialer.domain.outcomes import NextStep, after_attempt
from cbdialer.ports import Started, StartOutcome

# PostgresStore or MemoryStore: each implements every port, and the suites use them all.
Store = Any

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
QUEUE = Queue(id="sales", name="Sales", settings=QueueSettings(
    duration_for_no_answer=25, recall_intervals=(60, 600), preview_mode=PreviewMode.ALWAYS, amd=True,
    calling_window=CallingWindow(time(9, 0), time(20, 30)),
    schedule=Schedule(timezone="Europe/London",
                      weekly=tuple(OpeningHours(d, time(8, 0), time(18, 0)) for d in range(5)),
                      closed_dates=frozenset({date(2026, 12, 25)}))), skills=frozenset({"fr"}))


def make_callback(due_at: datetime = T0, **changes: Any) -> Callback:
    values: dict[str, Any] = {
        "id": uuid.uuid4(), "queue_id": "sales", "destination": "+442079460012", "type": CallbackType.STANDARD,
        "state": CallbackState.SCHEDULED, "due_at": due_at, "start_at": due_at, "end_at": due_at + timedelta(hours=5),
        "created_at": T0 - timedelta(hours=1), "remark": "asked for the manager",
    }
    values.update(changes)
    return Callback(**values)


async def add_agent(store: Store, agent_id: str = "1001", *, queues: frozenset[str] = frozenset({"sales"}),
                    teams: frozenset[str] = frozenset()) -> Agent:
    agent = Agent(id=agent_id, dial_string=f"PJSIP/agent-{agent_id}", queues=queues, skills=frozenset({"fr"}),
                  teams=teams)
    assert await store.upsert_agent(agent)
    return agent


async def start(store: Store, callback: Callback, *, owner: uuid.UUID, agent: str = "1001", now: datetime = T0,
                attempt_id: uuid.UUID | None = None, max_calls: int = 10, calls_per_second: float = 100.0) -> Started:
    return await store.start_attempt(callback, attempt_id=attempt_id or uuid.uuid4(), agent_id=agent, owner=owner,
                                     now=now, lease=LEASE, reserve_until=now + 2 * LEASE, actor="dialer",
                                     max_calls=max_calls, calls_per_second=calls_per_second)


async def live_call(store: Store, callback: Callback | None = None, *, agent: str = "1001", now: datetime = T0,
                    owner: uuid.UUID | None = None, max_calls: int = 10) -> tuple[Callback, uuid.UUID, uuid.UUID]:
    """A callback in a live attempt: added (unless it is in the store already), claimed by `owner` at `now`
    (with anything else due then), and started with `agent`. Returns the callback, the attempt and the owner."""
    callback = callback or make_callback(now)
    if await store.get_callback(callback.id) is None:
        await store.add_callback(callback, actor="test")
    owner = owner or uuid.uuid4()
    claimed = await store.claim_due(owner, now=now, limit=100, lease=LEASE)
    queued = next(c for c in claimed if c.id == callback.id)
    attempt_id = uuid.uuid4()
    started = await start(store, queued, owner=owner, agent=agent, now=now, attempt_id=attempt_id,
                          max_calls=max_calls)
    assert started.outcome is StartOutcome.STARTED and started.callback is not None
    return started.callback, attempt_id, owner


def outcome(callback: Callback, status: CompletionStatus, now: datetime) -> NextStep:
    """What the domain makes of an in-progress callback's attempt ending in `status`."""
    return after_attempt(callback, QUEUE.settings, status, now=now)


async def end(store: Store, callback: Callback, attempt_id: uuid.UUID, *, owner: uuid.UUID, agent: str = "1001",
              status: CompletionStatus = CompletionStatus.HANDLED, now: datetime, dial_status: str = "ANSWER",
              wrap_up_until: datetime | None = None) -> Any:
    return await store.end_attempt(attempt_id, agent_id=agent, owner=owner, now=now,
                                   wrap_up_until=wrap_up_until or now, step=outcome(callback, status, now),
                                   dial_status=dial_status, hangup_cause=16, amd_status="", actor="dialer")


async def row_of(store: Store, callback_id: uuid.UUID) -> dict[str, Any]:
    """The callback's raw row, every column (its lease's too), as the scheduled report returns it."""
    rows = await store.report("scheduled", start=T0 - timedelta(days=1), end=T0 + timedelta(days=1), agent_id=None,
                              queue_id=None, limit=1000, rows=1000)
    return next(r for r in rows if r["id"] == callback_id)
