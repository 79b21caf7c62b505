"""The seeds' reports: Callbacks Scheduled Details (seed 001) and Completed Callback Interaction (seed 002), a
contact with its callbacks, and the figures behind /metrics. Rule: the store returns raw rows, one per attempt
(real or dummy); they are shaped here, field by field in the seeds' order and words (domain/reports.py), and a
period is checked (aware, from before to) before anything is read."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from cbdialer.domain.access import Permission, Principal, require
from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import (
    TEAM_TYPES,
    Callback,
    CallbackType,
    CompletionStatus,
    InteractionState,
    InvalidValue,
    Queue,
    check_aware,
)
from cbdialer.domain.numbers import to_e164
from cbdialer.domain.reports import (
    CAMPAIGN_TYPE,
    COMPLETED_COLUMNS,
    SCHEDULED_COLUMNS,
    SYSTEM_CODES,
    attempt_state,
    callback_status,
    callback_type,
    campaign_strategy,
    words,
)
from cbdialer.ports import ReportStore
from cbdialer.services.errors import NotFound

MAX_REPORT_ROWS = 100_000  # rows: one per attempt, real or dummy
MAX_CONTACT_CALLBACKS = 500


def _campaign(r: dict[str, Any], queues: dict[str, Queue]) -> dict[str, Any]:
    """Seed 001: "the system displays the campaign type and campaign strategy in front of the campaign name"."""
    queue = queues.get(r["queue_id"])
    return {"campaign_type": CAMPAIGN_TYPE,
            "campaign_strategy": campaign_strategy(queue.settings) if queue is not None else None,
            "campaign_name": r["queue_name"]}


def _codes(r: dict[str, Any]) -> tuple[str | None, str | None]:
    """A row's custom completion code (the agent's disposition) and system completion code (a dummy attempt's
    POM code, or what the dialer made of the line)."""
    custom = words(CompletionStatus(r["custom_code"])) if r["custom_code"] else None
    if r["dummy_reason"] is not None:
        return custom, SYSTEM_CODES[Reason(r["dummy_reason"])].value
    return custom, words(CompletionStatus(r["attempt_status"])) if r["attempt_status"] else None


def _has_attempt(r: dict[str, Any]) -> bool:
    return r["attempt_id"] is not None or r["dummy_reason"] is not None


def scheduled_record(r: dict[str, Any], queues: dict[str, Queue]) -> dict[str, Any]:
    """One row of Callbacks Scheduled Details: the callback, and one of its attempts (real or dummy)."""
    kind, state = CallbackType(r["type"]), CallbackState(r["state"])
    custom, system = _codes(r)
    values = {
        **_campaign(r, queues), "job_id": r["job_id"], "creator_agent_id": r["created_by"],
        "callback_id": str(r["id"]), "callback_type": callback_type(kind),
        "created_for": r["agent_id"] if kind.has_target_agent else r["team_id"] if kind in TEAM_TYPES
        else r["queue_name"],
        "contact_id": r["contact_id"], "creation_time": r["created_at"], "scheduled_start_time": r["start_at"],
        "scheduled_end_time": r["end_at"], "callback_status": callback_status(state),
        "serviced_by_agent_id": r["serviced_by"], "serviced_by_agent_name": r["serviced_by_name"],
        "interaction_attempt_time": r["attempt_at"], "custom_completion_code": custom,
        "system_completion_code": system, "dummy_attempt": r["dummy_reason"] is not None,
        "contact": r["destination"], "queue_id": r["queue_id"], "state": state.value,
        "attempt_id": str(r["attempt_id"]) if r["attempt_id"] is not None else None, "origin": r["origin"],
    }
    return {key: values[key] for key, _ in SCHEDULED_COLUMNS}


def attempt_record(r: dict[str, Any]) -> dict[str, Any]:
    """One attempt of Completed Callback Interaction (seed 002: attempt time, agent name, attempt state)."""
    if r["dummy_reason"] is not None:
        state = SYSTEM_CODES[Reason(r["dummy_reason"])].value
    else:
        state = attempt_state(CompletionStatus(r["attempt_status"]) if r["attempt_status"] else None,
                              InteractionState(r["interaction_state"]))
    return {"attempt_time": r["attempt_at"], "agent_name": r["serviced_by_name"], "attempt_state": state,
            "agent_id": r["serviced_by"], "job_id": r["job_id"], "dummy_attempt": r["dummy_reason"] is not None}


def completed_records(rows: list[dict[str, Any]], queues: dict[str, Queue]) -> list[dict[str, Any]]:
    """The callbacks of Completed Callback Interaction, each with its attempts (the rows come grouped by
    callback, its attempts in time order)."""
    records: list[dict[str, Any]] = []
    for r in rows:
        if not records or records[-1]["callback_id"] != str(r["id"]):
            status = CompletionStatus(r["completion_status"]) if r["completion_status"] else None
            values = {**_campaign(r, queues), "callback_id": str(r["id"]), "contact_id": r["contact_id"],
                      "end_interaction_state": callback_status(CallbackState(r["state"])),
                      "entrance_time": r["created_at"], "attempts": [],
                      "recording_transcription": r["remark"], "completion_status": words(status) if status else None,
                      "ended_at": r["ended_at"], "contact": r["destination"], "queue_id": r["queue_id"],
                      "state": r["state"], "last_attempt_time": None, "total_attempts": 0,
                      "origin": r["origin"]}
            records.append(values)
        if _has_attempt(r):
            records[-1]["attempts"].append(attempt_record(r))
    for record in records:
        attempts = record["attempts"]
        record["total_attempts"] = len(attempts)
        record["last_attempt_time"] = attempts[-1]["attempt_time"] if attempts else None
    return [{key: record[key] for key, _ in COMPLETED_COLUMNS} for record in records]


class Reports:
    def __init__(self, store: ReportStore, clock: Callable[[], datetime], *, default_region: str | None = None) -> None:
        self.store = store
        self.clock = clock
        self.default_region = default_region  # how a contact's number in national form is read

    def _period(self, start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
        end = end or self.clock()
        start = start or end - timedelta(days=1)
        check_aware("from", start)
        check_aware("to", end)
        if start >= end:
            raise InvalidValue("from", "must be before to")
        return start, end

    async def _queues(self) -> dict[str, Queue]:
        return {q.id: q for q in await self.store.queues()}

    @staticmethod
    def _limit(limit: int) -> int:
        if not 1 <= limit <= MAX_REPORT_ROWS:
            raise InvalidValue("limit", f"must be from 1 to {MAX_REPORT_ROWS}")
        return limit

    async def scheduled_report(self, who: Principal, *, start: datetime | None = None, end: datetime | None = None,
                               agent: str | None = None, queue: str | None = None,
                               limit: int = MAX_REPORT_ROWS) -> dict[str, Any]:
        """Callbacks Scheduled Details (seed 001): callbacks created in the period, one record per attempt; at
        most `limit` records."""
        require(who, Permission.READ_REPORTS)
        start, end = self._period(start, end)
        limit = self._limit(limit)
        rows = await self.store.report("scheduled", start=start, end=end, agent_id=agent, queue_id=queue,
                                       limit=limit + 1, rows=limit + 1)
        queues = await self._queues()
        records = [scheduled_record(r, queues) for r in rows[:limit]]
        return self._report(start, end, agent, queue, records, truncated=len(rows) > limit)

    async def completed_report(self, who: Principal, *, start: datetime | None = None, end: datetime | None = None,
                               agent: str | None = None, queue: str | None = None,
                               limit: int = MAX_REPORT_ROWS) -> dict[str, Any]:
        """Completed Callback Interaction (seed 002): each callback that ended in the period, with every attempt;
        at most `limit` callbacks, and never one with only some of its attempts."""
        require(who, Permission.READ_REPORTS)
        start, end = self._period(start, end)
        limit = self._limit(limit)
        # One row more than the cap: exactly the cap's rows is a whole report, more means some were left out.
        rows = await self.store.report("completed", start=start, end=end, agent_id=agent, queue_id=queue,
                                       limit=limit + 1, rows=MAX_REPORT_ROWS + 1)
        cut = len(rows) > MAX_REPORT_ROWS
        records = completed_records(rows[:MAX_REPORT_ROWS], await self._queues())
        truncated = len(records) > limit or cut
        if cut and len(records) > 1:
            records.pop()  # its last attempts may lie past the cap
        return self._report(start, end, agent, queue, records[:limit], truncated=truncated)

    def _report(self, start: datetime, end: datetime, agent: str | None, queue: str | None,
                records: list[dict[str, Any]], *, truncated: bool) -> dict[str, Any]:
        return {"time_period": {"from": start, "to": end}, "query_time": self.clock(),
                "filters": {k: v for k, v in (("agent", agent), ("queue", queue)) if v is not None},
                "total_records": len(records), "truncated": truncated, "records": records}

    async def contact(self, who: Principal, number: str) -> tuple[int, str, list[Callback]]:
        """A contact (seed 001's Contact ID) by its number, in any form a person types it: its id, its E.164
        number and its callbacks, newest first."""
        require(who, Permission.READ_REPORTS)
        e164 = to_e164(number, field_name="number", default_region=self.default_region)
        found = await self.store.contact(e164, limit=MAX_CONTACT_CALLBACKS)
        if found is None:
            raise NotFound(f"no contact {e164}")
        return found[0], e164, found[1]

    async def book_figures(self, *, fold: bool = False) -> dict[str, Any]:
        """The book's figures for the operator's metrics (no principal: the daemon's own reading, which folds
        the kept counts; `/healthz` without a daemon only reads)."""
        return await self.store.book_figures(self.clock(), fold=fold)
