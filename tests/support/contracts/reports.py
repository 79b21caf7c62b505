"""The reports' conformance suite: the raw rows of the scheduled and completed reports (every column of
`callbacks`, then one attempt's, real or dummy, with its agent's name and its queue run), their periods,
filters and caps; contacts; the daemon's metrics."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import Agent, Callback, CompletionStatus, Queue, QueueStatus
from tests.support.contracts.common import LEASE, T0, Store, add_agent, end, live_call, make_callback

CALLBACK_COLUMNS = [
    "id", "queue_id", "destination", "type", "state", "reason", "due_at", "start_at", "end_at", "created_at",
    "updated_at", "agent_id", "team_id", "created_by", "customer_timezone", "remark", "attempts_count",
    "network_failures", "strict_retries", "completion_status", "lease_owner", "claimed_at", "version",
    "assigned_agent", "assigned_at", "call_now_agent", "agent_wait_since", "origin", "joined_at", "slot", "recording",
    "due_since",
]

# What each row adds: the queue's name, the contact, then one attempt (real, or a dummy's audit line) and its job.
ATTEMPT_COLUMNS = ["queue_name", "contact_id", "attempt_id", "attempt_at", "attempt_ended_at", "serviced_by",
                   "serviced_by_name", "custom_code", "attempt_status", "interaction_state", "dummy_reason", "job_id"]
NO_ATTEMPT = dict.fromkeys(ATTEMPT_COLUMNS[2:-1])


def columns(callback: Callback, **changes: Any) -> dict[str, Any]:
    """The row of `callback` as `SELECT c.*` returns it, with the columns a Callback does not carry."""
    row: dict[str, Any] = {name: getattr(callback, name, None) for name in CALLBACK_COLUMNS}
    for name in ("type", "state", "reason", "completion_status", "origin"):
        row[name] = row[name].value if row[name] is not None else None
    row.update(updated_at=callback.created_at, version=0)
    row.update(changes)
    return row


async def named_agents(store: Store, *ids: str) -> None:
    for agent_id in ids:
        assert await store.upsert_agent(Agent(id=agent_id, dial_string=f"PJSIP/agent-{agent_id}",
                                              queues=frozenset({"sales"}), name=f"Agent {agent_id[-1]}"))


async def runs_from(store: Store, at: datetime, queue_id: str = "sales") -> None:
    """A run of the queue that opens at `at` (the fixture's queue opened its first run at the real time)."""
    assert await store.set_queue_running(queue_id, False, now=at - timedelta(minutes=1), actor="test") is not None
    assert await store.set_queue_running(queue_id, True, now=at, actor="test") is not None


async def two_attempts(store: Store, callback: Callback, *, then: CompletionStatus | None
                       ) -> tuple[Callback, datetime, uuid.UUID, list[uuid.UUID]]:
    """A first attempt by agent 1001 at T0, unanswered; a second by agent 1002 at the recall, ended in `then`
    (or left live). Returns the callback as it is, the second attempt's start, its owner and both attempts."""
    live, first, owner = await live_call(store, callback)
    recalled = (await end(store, live, first, owner=owner, status=CompletionStatus.NO_ANSWER,
                          dial_status="NOANSWER", now=T0 + timedelta(seconds=10))).callback
    second_start = recalled.due_at
    live, second, owner = await live_call(store, recalled, agent="1002", now=second_start)
    if then is None:
        return live, second_start, owner, [first, second]
    ended = await end(store, live, second, owner=owner, agent="1002", status=then,
                      now=second_start + timedelta(seconds=20, microseconds=250000))
    return ended.callback, second_start, owner, [first, second]


async def hold(store: Store, callback: Callback, reason: Reason, at: datetime, until: datetime) -> Callback:
    """Claimed at `at` and held (back to scheduled, due at `until`) for `reason`, as the scheduler does."""
    owner = uuid.uuid4()
    assert [c.id for c in await store.claim_due(owner, now=at, limit=10, lease=LEASE)] == [callback.id]
    held = await store.transition(callback.id, expected=CallbackState.QUEUED, to=CallbackState.SCHEDULED,
                                  reason=reason, now=at, actor="scheduler", owner=owner, due_at=until)
    assert held is not None
    return held


def window(**filters: Any) -> dict[str, Any]:
    return {"start": T0 - timedelta(hours=3), "end": T0 + timedelta(hours=3), "agent_id": None, "queue_id": None,
            "limit": 100, "rows": 1000, **filters}


class ReportContract:
    async def test_the_scheduled_report_has_a_row_per_attempt_with_every_column(self, store: Store) -> None:
        await store.save_queue(Queue(id="support", name="Support"), now=T0 - timedelta(hours=4))
        await runs_from(store, T0 - timedelta(hours=4))
        await named_agents(store, "1001", "1002")
        later = T0 + timedelta(hours=1)
        mine = make_callback(created_at=T0 - timedelta(hours=2), created_by="1001")
        theirs = make_callback(later, created_at=T0 - timedelta(hours=1), created_by="1002", queue_id="support",
                               team_id="blue", customer_timezone="Europe/Paris", destination="+442079460013")
        at_the_end = make_callback(later, created_at=T0, destination="+442079460014")
        too_early = make_callback(later, created_at=T0 - timedelta(hours=3), destination="+442079460015")
        for c in (theirs, at_the_end, too_early):
            await store.add_callback(c, actor="test")
        await store.add_callback(mine, actor="test")
        live, second_start, owner, attempts = await two_attempts(store, mine, then=None)
        await store.record_result(attempts[1], agent_id="1002", heard_at=second_start, dial_status="ANSWER",
                                  hangup_cause=16, amd_status="", wrap_up_until=second_start + LEASE,
                                  status=CompletionStatus.HANDLED)
        assert await store.set_disposition(mine.id, CompletionStatus.ANSWERING_MACHINE)

        async def report(**filters: Any) -> list[dict[str, Any]]:
            return await store.report("scheduled", **window(**{"start": T0 - timedelta(minutes=150), "end": T0,
                                                                **filters}))

        rows = await report()
        assert [list(r) for r in rows] == [CALLBACK_COLUMNS + ATTEMPT_COLUMNS] * 3
        assert [(r["id"], r["attempt_id"]) for r in rows] == [(mine.id, attempts[0]), (mine.id, attempts[1]),
                                                               (theirs.id, None)]
        mine_row = columns(live, updated_at=second_start, version=5, lease_owner=owner, claimed_at=second_start)
        assert rows[0] | {"job_id": None, "contact_id": None} == mine_row | {
            "queue_name": "Sales", "contact_id": None, "attempt_id": attempts[0], "attempt_at": T0,
            "attempt_ended_at": T0 + timedelta(seconds=10), "serviced_by": "1001", "serviced_by_name": "Agent 1",
            "custom_code": None, "attempt_status": "no_answer", "interaction_state": "ended", "dummy_reason": None,
            "job_id": None}
        assert rows[1] | {"job_id": None, "contact_id": None} == mine_row | {
            "queue_name": "Sales", "contact_id": None, "attempt_id": attempts[1], "attempt_at": second_start,
            "attempt_ended_at": None, "serviced_by": "1002", "serviced_by_name": "Agent 2",
            "custom_code": "answering_machine", "attempt_status": "handled", "interaction_state": "wrap_up",
            "dummy_reason": None, "job_id": None}
        assert rows[2] | {"job_id": None, "contact_id": None} == columns(theirs) | {
            "queue_name": "Support", "contact_id": None, **NO_ATTEMPT, "job_id": None}
        assert all(type(r[name]) is str for r in rows for name in ("type", "state", "reason"))
        assert all(type(r["contact_id"]) is int and type(r["job_id"]) is int for r in rows)
        assert rows[0]["job_id"] == rows[1]["job_id"] != rows[2]["job_id"]  # sales' run, then support's
        assert [r["id"] for r in await report(agent_id="1002")] == [theirs.id]  # the creator
        assert [r["id"] for r in await report(queue_id="support")] == [theirs.id]
        assert [r["attempt_id"] for r in await report(rows=1)] == [attempts[0]]  # the row cap counts rows
        assert [r["attempt_id"] for r in await report(limit=1)] == attempts  # the other, callbacks
        assert await report(agent_id="1003") == []
        assert [r["id"] for r in await report(end=T0 + timedelta(seconds=1))] == [mine.id, mine.id, theirs.id,
                                                                                  at_the_end.id]

    async def test_holds_and_skips_are_dummy_attempts_in_time_order(self, store: Store) -> None:
        """Seed 001: "POM assigns some of the completion codes to dummy attempts": a DNC hold, a postponement
        and a calling-window hold each make a row, and so does the expiry; a wait for a dial slot does not."""
        await add_agent(store)
        callback = make_callback(created_at=T0 - timedelta(minutes=5))
        await store.add_callback(callback, actor="test")
        held = await hold(store, callback, Reason.RESTRICTED_DNC, T0, T0 + timedelta(minutes=30))
        held = await hold(store, held, Reason.POSTPONED, T0 + timedelta(minutes=30), T0 + timedelta(hours=1))
        owner = uuid.uuid4()
        [queued] = await store.claim_due(owner, now=T0 + timedelta(hours=1), limit=1, lease=LEASE)
        assert await store.wait(queued, owner=owner, reason=Reason.DIAL_SLOT_UNAVAILABLE,
                                due_at=T0 + timedelta(hours=2), now=T0 + timedelta(hours=1), actor="dialer")
        [queued] = await store.claim_due(owner, now=T0 + timedelta(hours=2), limit=1, lease=LEASE)
        held = await store.transition(queued.id, expected=CallbackState.QUEUED, to=CallbackState.SCHEDULED,
                                      reason=Reason.RESTRICTED_TIME, now=T0 + timedelta(hours=2), actor="scheduler",
                                      owner=owner, due_at=T0 + timedelta(hours=4))
        assert held is not None
        expired_at = T0 + timedelta(hours=4)
        assert await store.transition(callback.id, expected=CallbackState.SCHEDULED, to=CallbackState.EXPIRED,
                                      reason=Reason.EXPIRED, now=expired_at, actor="scheduler")
        rows = await store.report("scheduled", **window())
        assert [(r["attempt_at"], r["dummy_reason"], r["attempt_id"], r["serviced_by"]) for r in rows] == [
            (T0, "restricted_dnc", None, None), (T0 + timedelta(minutes=30), "postponed", None, None),
            (T0 + timedelta(hours=2), "restricted_time", None, None), (expired_at, "expired", None, None)]
        completed = await store.report("completed", **window(end=T0 + timedelta(hours=5)))
        assert [(r["ended_at"], r["attempt_at"], r["dummy_reason"]) for r in completed] == [
            (expired_at, r["attempt_at"], r["dummy_reason"]) for r in rows]

    async def test_each_row_names_the_queue_run_open_at_its_attempt(self, store: Store) -> None:
        """Seed 001's Job ID: a run opens each time the queue starts and closes when it stops; a start of a
        running queue keeps its run; a callback without attempts has the run open when it was made, if any."""
        await named_agents(store, "1001", "1002")
        await runs_from(store, T0 - timedelta(hours=2))
        assert await store.set_queue_running("sales", True, now=T0 - timedelta(hours=1), actor="test") == 0
        callback = make_callback(created_at=T0 - timedelta(minutes=90))
        await store.add_callback(callback, actor="test")
        live, first, owner = await live_call(store, callback)
        recalled = (await end(store, live, first, owner=owner, status=CompletionStatus.NO_ANSWER,
                              dial_status="NOANSWER", now=T0 + timedelta(seconds=10))).callback
        assert await store.set_queue_running("sales", False, now=T0 + timedelta(minutes=1), actor="test") == 1
        parked = make_callback(T0 + timedelta(hours=1), created_at=T0 + timedelta(minutes=2),
                               destination="+442079460013", state=CallbackState.WAITING_FOR_QUEUE)
        await store.add_callback(parked, actor="test")
        restart = T0 + timedelta(minutes=5)
        # Two starts at once, as two processes would: one run.
        await asyncio.gather(*(store.set_queue_running("sales", True, now=restart, actor=f"p{i}") for i in (1, 2)))
        resumed = await store.get_callback(recalled.id)
        await live_call(store, resumed, agent="1002", now=resumed.due_at)
        rows = await store.report("scheduled", **window())
        assert [(r["id"], r["attempt_at"]) for r in rows] == [(callback.id, T0), (callback.id, resumed.due_at),
                                                               (parked.id, None)]
        before, after, waiting = (r["job_id"] for r in rows)
        assert type(before) is int and type(after) is int and before != after and waiting is None
        # The run of the creation time (no attempt yet), and the same run for everything during it.
        early = make_callback(T0 + timedelta(hours=2), created_at=restart + timedelta(minutes=1),
                              destination="+442079460014")
        await store.add_callback(early, actor="test")
        [row] = [r for r in await store.report("scheduled", **window()) if r["id"] == early.id]
        assert row["job_id"] == after
        await store.terminate_queue("sales", now=T0 + timedelta(minutes=10), actor="test")
        late = make_callback(T0 + timedelta(hours=2), created_at=T0 + timedelta(minutes=11),
                             destination="+442079460015", state=CallbackState.WAITING_FOR_QUEUE)
        await store.add_callback(late, actor="test")
        [row] = [r for r in await store.report("scheduled", **window()) if r["id"] == late.id]
        assert row["job_id"] is None  # terminated: its run closed
        assert (await store.get_queue("sales")).status is QueueStatus.TERMINATED

    async def test_a_contact_is_one_per_number_with_its_callbacks(self, store: Store) -> None:
        await store.save_queue(Queue(id="support", name="Support"))
        first = make_callback(created_at=T0 - timedelta(hours=2))
        again = make_callback(created_at=T0 - timedelta(hours=1), queue_id="support")
        other = make_callback(created_at=T0 - timedelta(minutes=30), destination="+442079460099")
        for c in (first, again, other):
            await store.add_callback(c, actor="test")
        rows = {r["id"]: r["contact_id"] for r in await store.report("scheduled", **window())}
        assert rows[first.id] == rows[again.id] != rows[other.id]
        contact_id, callbacks = await store.contact("+442079460012", limit=10)
        assert contact_id == rows[first.id] and [c.id for c in callbacks] == [again.id, first.id]
        assert (await store.contact("+442079460012", limit=1))[1] == [await store.get_callback(again.id)]
        assert await store.contact("+442079460098", limit=10) is None

    async def test_the_completed_report_lists_what_ended_in_the_period_with_every_attempt(
            self, store: Store) -> None:
        await store.save_queue(Queue(id="support", name="Support"))
        await named_agents(store, "1001", "1002", "1003")
        later = T0 + timedelta(hours=1)
        reached = make_callback()
        cancelled, waiting, cancelled_late = (make_callback(later, destination=f"+44207946005{i}") for i in range(3))
        purged = make_callback(later, queue_id="support")
        for c in (cancelled, waiting, cancelled_late, purged):
            await store.add_callback(c, actor="test")
        for c, at, to, reason in ((cancelled, T0 + timedelta(seconds=30), CallbackState.CANCELLED, Reason.CANCELLED),
                                  (purged, T0 + timedelta(seconds=40), CallbackState.PURGED, Reason.PURGED),
                                  (cancelled_late, later + LEASE, CallbackState.CANCELLED, Reason.CANCELLED)):
            await store.transition(c.id, expected=CallbackState.SCHEDULED, to=to, reason=reason, now=at, actor="test")
        await store.add_callback(reached, actor="test")
        done, second_start, _, attempts = await two_attempts(store, reached, then=CompletionStatus.HANDLED)
        done_at = second_start + timedelta(seconds=20, microseconds=250000)
        expired_start = done_at + LEASE
        expired, aborted, owner = await live_call(store, make_callback(expired_start, destination="+442079460060"),
                                                  agent="1003", now=expired_start)
        await store.transition(expired.id, expected=CallbackState.IN_PROGRESS, to=CallbackState.EXPIRED,
                               reason=Reason.EXPIRED, now=expired_start + LEASE, actor="dialer", owner=owner)

        async def report(**filters: Any) -> list[dict[str, Any]]:
            return await store.report("completed", **window(**{"start": T0, "end": later, **filters}))

        rows = await report()
        assert [(r["id"], r["attempt_id"], r["dummy_reason"]) for r in rows] == [
            (cancelled.id, None, None), (purged.id, None, None), (reached.id, attempts[0], None),
            (reached.id, attempts[1], None), (expired.id, aborted, None), (expired.id, None, "expired")]
        assert [list(r) for r in rows] == [CALLBACK_COLUMNS + ["ended_at"] + ATTEMPT_COLUMNS] * 6
        assert rows[0] | {"contact_id": None, "job_id": None} == columns(
            await store.get_callback(cancelled.id), updated_at=T0 + timedelta(seconds=30), version=1) | {
            "ended_at": T0 + timedelta(seconds=30), "queue_name": "Sales", "contact_id": None, **NO_ATTEMPT,
            "job_id": None}
        assert (rows[1]["queue_name"], rows[1]["state"], rows[1]["ended_at"]) == (
            "Support", "purged", T0 + timedelta(seconds=40))
        assert [(r["state"], r["completion_status"], r["ended_at"]) for r in rows[2:4]] == [
            ("completed", "handled", done_at)] * 2
        assert [(r["attempt_at"], r["attempt_ended_at"], r["serviced_by"], r["serviced_by_name"],
                 r["attempt_status"], r["interaction_state"]) for r in rows[2:]] == [
            (T0, T0 + timedelta(seconds=10), "1001", "Agent 1", "no_answer", "ended"),
            (second_start, done_at, "1002", "Agent 2", "handled", "ended"),
            (expired_start, None, "1003", "Agent 3", None, "offered"),
            (expired_start + LEASE, None, None, None, None, None)]
        assert [r["id"] for r in await report(agent_id="1001")] == [reached.id] * 2  # any attempt's agent
        assert await report(agent_id="1004") == []
        assert [r["id"] for r in await report(queue_id="support")] == [purged.id]
        assert [r["id"] for r in await report(limit=3, rows=3)] == [cancelled.id, purged.id, reached.id]
        assert [r["id"] for r in await report(limit=3)] == [cancelled.id, purged.id, reached.id, reached.id]
        assert [r["id"] for r in await report(start=T0 + timedelta(seconds=35))] == [purged.id] + [reached.id] * 2 \
            + [expired.id] * 2
        assert done == await store.get_callback(reached.id)

    async def test_an_unknown_report_is_refused(self, store: Store) -> None:
        with pytest.raises(KeyError):
            await store.report("weekly", start=T0, end=T0 + LEASE, agent_id=None, queue_id=None, limit=10, rows=10)

    async def test_the_book_figures_count_active_and_due_callbacks(self, store: Store) -> None:
        await store.save_queue(Queue(id="support", name="Support"))
        for agent in ("1001", "1002"):
            await add_agent(store, agent)
        assert await store.book_figures(T0) == {"callbacks": [], "due_now": []}
        done, attempt_id, owner = await live_call(store)
        await end(store, done, attempt_id, owner=owner, now=T0 + LEASE)
        await live_call(store, make_callback(T0 + LEASE, destination="+442079460013"), agent="1002", now=T0 + LEASE)
        waiting = make_callback(T0 + timedelta(hours=1), destination="+442079460014")
        queued = make_callback(T0 + LEASE, destination="+442079460015", queue_id="support")
        for c in (waiting, queued):
            await store.add_callback(c, actor="test")
        await store.claim_due(uuid.uuid4(), now=T0 + LEASE, limit=10, lease=LEASE)
        overdue = make_callback(T0, destination="+442079460016")
        await store.add_callback(overdue, actor="test")
        figures = await store.book_figures(T0 + LEASE)
        assert figures["callbacks"] == [("sales", "in_progress", 1), ("sales", "scheduled", 2),
                                        ("support", "queued", 1)]
        # Due by then and not yet offered: the overdue one and the claimed one of support; not the later one.
        assert figures["due_now"] == [("sales", 1), ("support", 1)]
        assert (await store.book_figures(T0 + timedelta(hours=2)))["due_now"] == [("sales", 2), ("support", 1)]
