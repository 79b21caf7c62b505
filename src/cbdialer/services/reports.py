"""The seeds' reports: Callbacks Scheduled Details (seed 001) and Completed Callback Interaction (seed 002),
and the figures behind /metrics. Rule: the store returns raw rows; they are shaped here, in the seeds' words,
and a period is checked (aware, from before to) before anything is read."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from cbdialer.domain.access import Permission, Principal, require
from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import TEAM_TYPES, CallbackType, InvalidValue, check_aware
from cbdialer.ports import ReportStore

MAX_REPORT_ROWS = 100_000
# Words of seed 001 for a callback's status.
CALLBACK_STATUS = {
    CallbackState.SCHEDULED: "Active", CallbackState.QUEUED: "Active", CallbackState.IN_PROGRESS: "Active",
    CallbackState.WAITING_FOR_QUEUE: "Active", CallbackState.COMPLETED: "Completed", CallbackState.FAILED: "Failed",
    CallbackState.EXPIRED: "Expired", CallbackState.CANCELLED: "Cancelled",
    CallbackState.CANCELLED_BY_INBOUND: "Cancelled By Inbound", CallbackState.OVERWRITTEN: "Overwritten",
    CallbackState.CONTACT_EXCLUDED: "Contact Excluded", CallbackState.PURGED: "Purged",
    CallbackState.QUEUE_TERMINATED: "Campaign Terminated",
}
# Reasons that are POM system completion codes when nothing was dialled.
SYSTEM_CODES = frozenset({Reason.RESTRICTED_DNC, Reason.RESTRICTED_TIME, Reason.POSTPONED, Reason.EXPIRED,
                          Reason.CONTACT_EXCLUDED, Reason.AGENT_UNAVAILABLE, Reason.OFF_SCHEDULE})


class Reports:
    def __init__(self, store: ReportStore, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    def _period(self, start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
        end = end or self.clock()
        start = start or end - timedelta(days=1)
        check_aware("from", start)
        check_aware("to", end)
        if start >= end:
            raise InvalidValue("from", "must be before to")
        return start, end

    async def scheduled_report(self, who: Principal, *, start: datetime | None = None, end: datetime | None = None,
                               agent: str | None = None, queue: str | None = None) -> dict[str, Any]:
        """Callbacks Scheduled Details (seed 001)."""
        require(who, Permission.READ_REPORTS)
        start, end = self._period(start, end)
        rows = await self.store.report("scheduled", start=start, end=end, agent_id=agent, queue_id=queue,
                                       limit=MAX_REPORT_ROWS)
        records = []
        for r in rows:
            state, kind = CallbackState(r["state"]), CallbackType(r["type"])
            records.append({
                "queue": r["queue_name"], "queue_id": r["queue_id"], "creator_agent_id": r["created_by"],
                "callback_id": str(r["id"]), "callback_type": kind.value,
                "created_for": r["agent_id"] if kind.has_target_agent else r["team_id"] if kind in TEAM_TYPES
                else r["queue_name"],
                "contact": r["destination"], "creation_time": r["created_at"], "scheduled_start_time": r["start_at"],
                "scheduled_end_time": r["end_at"], "callback_status": CALLBACK_STATUS[state], "state": state.value,
                "serviced_by_agent_id": r["serviced_by"], "interaction_attempt_time": r["attempt_at"],
                "custom_completion_code": r["custom_code"],
                "system_completion_code": r["completion_status"]
                or (r["reason"] if Reason(r["reason"]) in SYSTEM_CODES else None),
            })
        return self._report(start, end, agent, queue, records)

    async def completed_report(self, who: Principal, *, start: datetime | None = None, end: datetime | None = None,
                               agent: str | None = None, queue: str | None = None) -> dict[str, Any]:
        """Completed Callback Interaction (seed 002): each callback that ended, with every attempt."""
        require(who, Permission.READ_REPORTS)
        start, end = self._period(start, end)
        rows = await self.store.report("completed", start=start, end=end, agent_id=agent, queue_id=queue,
                                       limit=MAX_REPORT_ROWS)
        records = []
        for r in rows:
            attempts = json.loads(r["attempts"])  # one JSON text per callback, from the report's query
            records.append({
                "callback_id": str(r["id"]), "queue": r["queue_name"], "queue_id": r["queue_id"],
                "contact": r["destination"], "end_state": r["state"], "completion_status": r["completion_status"],
                "entrance_time": r["created_at"], "ended_at": r["ended_at"],
                "last_attempt_time": attempts[-1]["started_at"] if attempts else None,
                "attempts_count": len(attempts),
                "attempts": [{"time": a["started_at"], "agent": a["agent"], "state": a["state"]} for a in attempts],
            })
        return self._report(start, end, agent, queue, records)

    def _report(self, start: datetime, end: datetime, agent: str | None, queue: str | None,
                records: list[dict[str, Any]]) -> dict[str, Any]:
        return {"time_period": {"from": start, "to": end}, "query_time": self.clock(),
                "filters": {k: v for k, v in (("agent", agent), ("queue", queue)) if v is not None},
                "total_records": len(records), "records": records}

    async def metrics(self) -> dict[str, Any]:
        """The figures of /metrics (no principal: /metrics is public)."""
        return await self.store.metrics()
