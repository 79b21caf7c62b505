"""The reports' conformance suite: the raw rows of the scheduled and completed reports (every column of
`callbacks`, then the report's own), their periods and filters; the daemon's metrics."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import Callback, CompletionStatus, Queue
from tests.support.contracts.common import LEASE, T0, Store, add_agent, end, live_call, make_callback

CALLBACK_COLUMNS = [
    "id", "queue_id", "destination", "type", "state", "reason", "due_at", "start_at", "end_at", "created_at",
    "updated_at", "agent_id", "team_id", "created_by", "customer_timezone", "remark", "attempts_count",
    "network_failures", "strict_retries", "completion_status", "lease_owner", "claimed_at", "version",
    "assigned_agent", "assigned_at",
]


def columns(callback: Callback, **changes: Any) -> dict[str, Any]:
    """The row of `callback` as `SELECT c.*` returns it, with the columns a Callback does not carry."""
    row: dict[str, Any] = {name: getattr(callback, name, None) for name in CALLBACK_COLUMNS}
    for name in ("type", "state", "reason", "completion_status"):
        row[name] = row[name].value if row[name] is not None else None
    row.update(updated_at=callback.created_at, version=0)
    row.update(changes)
    return row


def parsed(attempts: str) -> list[dict[str, Any]]:
    return [{**a, "started_at": datetime.fromisoformat(a["started_at"]),
             "ended_at": datetime.fromisoformat(a["ended_at"]) if a["ended_at"] else None}
            for a in json.loads(attempts)]


async def two_attempts(store: Store, callback: Callback, *, then: CompletionStatus | None
                       ) -> tuple[Callback, datetime, uuid.UUID]:
    """A first attempt by agent 1001 at T0, unanswered; a second by agent 1002 at the recall, ended in `then`
    (or left live). Returns the callback as it is, the second attempt's start and its owner."""
    live, attempt_id, owner = await live_call(store, callback)
    recalled = (await end(store, live, attempt_id, owner=owner, status=CompletionStatus.NO_ANSWER,
                          dial_status="NOANSWER", now=T0 + timedelta(seconds=10))).callback
    second_start = recalled.due_at
    live, attempt_id, owner = await live_call(store, recalled, agent="1002", now=second_start)
    if then is None:
        return live, second_start, owner
    ended = await end(store, live, attempt_id, owner=owner, agent="1002", status=then,
                      now=second_start + timedelta(seconds=20, microseconds=250000))
    return ended.callback, second_start, owner


class ReportContract:
    async def test_the_scheduled_report_has_every_column_and_the_last_attempt(self, store: Store) -> None:
        await store.save_queue(Queue(id="support", name="Support"))
        for agent in ("1001", "1002"):
            await add_agent(store, agent)
        later = T0 + timedelta(hours=1)
        mine = make_callback(created_at=T0 - timedelta(hours=2), created_by="1001")
        theirs = make_callback(later, created_at=T0 - timedelta(hours=1), created_by="1002", queue_id="support",
                               team_id="blue", customer_timezone="Europe/Paris")
        at_the_end = make_callback(later, created_at=T0)
        too_early = make_callback(later, created_at=T0 - timedelta(hours=3))
        for c in (theirs, at_the_end, too_early):
            await store.add_callback(c, actor="test")
        await store.add_callback(mine, actor="test")
        live, second_start, owner = await two_attempts(store, mine, then=None)
        [attempt] = [a for a in await store.attempts(mine.id) if a.ended_at is None]
        await store.record_result(attempt.id, agent_id="1002", heard_at=second_start, dial_status="ANSWER",
                                  hangup_cause=16, amd_status="", wrap_up_until=second_start + LEASE)
        assert await store.set_disposition(mine.id, CompletionStatus.ANSWERING_MACHINE)

        async def report(**filters: Any) -> list[dict[str, Any]]:
            values: dict[str, Any] = {"start": T0 - timedelta(minutes=150), "end": T0, "agent_id": None,
                                      "queue_id": None, "limit": 100}
            return await store.report("scheduled", **{**values, **filters})

        rows = await report()
        assert [list(r) for r in rows] == [CALLBACK_COLUMNS + ["queue_name", "serviced_by", "attempt_at",
                                                               "custom_code"]] * 2
        assert rows[0] == columns(live, updated_at=second_start, version=5, lease_owner=owner,
                                  claimed_at=second_start) | {
            "queue_name": "Sales", "serviced_by": "1002", "attempt_at": second_start,
            "custom_code": "answering_machine"}
        assert (rows[0]["state"], rows[0]["completion_status"], rows[0]["attempts_count"]) == (
            "in_progress", "no_answer", 1)
        assert all(type(r[name]) is str for r in rows for name in ("type", "state", "reason"))
        assert rows[1] == columns(theirs) | {"queue_name": "Support", "serviced_by": None, "attempt_at": None,
                                             "custom_code": None}
        assert [r["id"] for r in await report(agent_id="1002")] == [theirs.id]  # the creator
        assert [r["id"] for r in await report(queue_id="support")] == [theirs.id]
        assert [r["id"] for r in await report(limit=1)] == [mine.id]
        assert await report(agent_id="1003") == []
        assert [r["id"] for r in await report(end=T0 + timedelta(seconds=1))] == [mine.id, theirs.id,
                                                                                  at_the_end.id]

    async def test_the_completed_report_lists_what_ended_in_the_period_with_every_attempt(
            self, store: Store) -> None:
        await store.save_queue(Queue(id="support", name="Support"))
        for agent in ("1001", "1002", "1003"):
            await add_agent(store, agent)
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
        done, second_start, _ = await two_attempts(store, reached, then=CompletionStatus.HANDLED)
        done_at = second_start + timedelta(seconds=20, microseconds=250000)
        expired_start = done_at + LEASE
        expired, _, owner = await live_call(store, make_callback(expired_start, destination="+442079460060"),
                                            agent="1003", now=expired_start)
        await store.transition(expired.id, expected=CallbackState.IN_PROGRESS, to=CallbackState.EXPIRED,
                               reason=Reason.EXPIRED, now=expired_start + LEASE, actor="dialer", owner=owner)

        async def report(**filters: Any) -> list[dict[str, Any]]:
            values: dict[str, Any] = {"start": T0, "end": later, "agent_id": None, "queue_id": None, "limit": 100}
            return await store.report("completed", **{**values, **filters})

        rows = await report()
        assert [r["id"] for r in rows] == [cancelled.id, purged.id, reached.id, expired.id]
        assert [list(r) for r in rows] == [CALLBACK_COLUMNS + ["queue_name", "ended_at", "attempts"]] * 4
        assert rows[0] == columns(await store.get_callback(cancelled.id), updated_at=T0 + timedelta(seconds=30),
                                  version=1) | {"queue_name": "Sales", "ended_at": T0 + timedelta(seconds=30),
                                                "attempts": "[]"}
        assert (rows[1]["queue_name"], rows[1]["state"], rows[1]["ended_at"]) == (
            "Support", "purged", T0 + timedelta(seconds=40))
        assert (rows[2]["state"], rows[2]["completion_status"], rows[2]["ended_at"]) == (
            "completed", "handled", done_at)
        assert rows[2]["attempts"].startswith('[{"started_at" : "')  # json_agg's text, as PostgreSQL writes it
        assert parsed(rows[2]["attempts"]) == [
            {"started_at": T0, "ended_at": T0 + timedelta(seconds=10), "agent": "1001", "state": "no_answer"},
            {"started_at": second_start, "ended_at": done_at, "agent": "1002", "state": "handled"}]
        assert parsed(rows[3]["attempts"]) == [
            {"started_at": expired_start, "ended_at": None, "agent": "1003", "state": "offered"}]
        assert [r["id"] for r in await report(agent_id="1001")] == [reached.id]  # any attempt's agent
        assert await report(agent_id="1004") == []
        assert [r["id"] for r in await report(queue_id="support")] == [purged.id]
        assert [r["id"] for r in await report(limit=2)] == [cancelled.id, purged.id]
        assert [r["id"] for r in await report(start=T0 + timedelta(seconds=35))] == [purged.id, reached.id, expired.id]
        assert done == await store.get_callback(reached.id)

    async def test_an_unknown_report_is_refused(self, store: Store) -> None:
        with pytest.raises(KeyError):
            await store.report("weekly", start=T0, end=T0 + LEASE, agent_id=None, queue_id=None, limit=10)

    async def test_the_metrics_count_active_callbacks_and_attempts(self, store: Store) -> None:
        await store.save_queue(Queue(id="support", name="Support"))
        for agent in ("1001", "1002"):
            await add_agent(store, agent)
        assert await store.metrics() == {"callbacks": [], "attempts": [], "live_attempts": 0}
        done, attempt_id, owner = await live_call(store)
        await end(store, done, attempt_id, owner=owner, now=T0 + LEASE)
        await live_call(store, make_callback(T0 + LEASE, destination="+442079460013"), agent="1002", now=T0 + LEASE)
        waiting = make_callback(T0 + timedelta(hours=1), destination="+442079460014")
        queued = make_callback(T0 + LEASE, destination="+442079460015", queue_id="support")
        for c in (waiting, queued):
            await store.add_callback(c, actor="test")
        await store.claim_due(uuid.uuid4(), now=T0 + LEASE, limit=10, lease=LEASE)
        metrics = await store.metrics()
        assert sorted(metrics["callbacks"]) == [("sales", "in_progress", 1), ("sales", "scheduled", 1),
                                                ("support", "queued", 1)]
        assert sorted(metrics["attempts"]) == [("handled", 1)]
        assert metrics["live_attempts"] == 1
