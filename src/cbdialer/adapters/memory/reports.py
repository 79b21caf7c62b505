"""Reports, contacts and metrics in memory. Rule: the rows are the report queries' raw rows, same keys in the
same order, same types, for the service."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from cbdialer.adapters.memory.state import ACTIVE, CallbackRow, MemoryBase
from cbdialer.domain.lifecycle import DUE_WAITING_STATES, TERMINAL_STATES, CallbackState
from cbdialer.domain.models import Callback
from cbdialer.domain.reports import DUMMY_REASONS


class ReportsMixin(MemoryBase):
    async def report(self, name: str, *, start: datetime, end: datetime, agent_id: str | None,
                     queue_id: str | None, limit: int, rows: int) -> list[dict[str, Any]]:
        """Rows of a report (`scheduled` or `completed`), one per attempt (real or dummy), raw."""
        pick = {"scheduled": self._scheduled, "completed": self._completed}[name]
        contacts = self._contact_ids()
        found = [row for extra, c in pick(start, end, agent_id, queue_id)[:max(limit, 0)]
                 for row in self._timeline(c, extra, contacts)]
        return found[:max(rows, 0)]

    def _scheduled(self, start: datetime, end: datetime, agent_id: str | None,
                   queue_id: str | None) -> list[tuple[dict[str, Any], CallbackRow]]:
        """report_scheduled's `picked`: created in [start, end), by creator and queue."""
        found = [c for c in self._s.callbacks.values()
                 if start <= c.created_at < end and (agent_id is None or c.created_by == agent_id)
                 and (queue_id is None or c.queue_id == queue_id)]
        return [({}, c) for c in sorted(found, key=lambda c: (c.created_at, c.id))]

    def _completed(self, start: datetime, end: datetime, agent_id: str | None,
                   queue_id: str | None) -> list[tuple[dict[str, Any], CallbackRow]]:
        """report_completed's `picked`: the audit line of an end state in [start, end), by agent and queue."""
        found = []
        for c in self._s.callbacks.values():
            agents = {a.agent_id for a in self._s.attempts.values() if a.callback_id == c.id}
            for e in self._s.events.get(c.id, []):
                if (e.to_state in TERMINAL_STATES and start <= e.at < end
                        and (agent_id is None or agent_id in agents) and (queue_id is None or c.queue_id == queue_id)):
                    found.append((e.at, c))
        return [({"ended_at": at}, c) for at, c in sorted(found, key=lambda f: (f[0], f[1].id))]

    def _contact_ids(self) -> dict[str, int]:
        """The contacts table: one id per number, in the order callbacks were first written with it, kept for
        good (a number edited away stays a contact, as in PostgreSQL)."""
        ids = self._s.contacts
        for c in self._s.callbacks.values():
            ids.setdefault(c.destination, len(ids) + 1)
        return ids

    def _job(self, queue_id: str, at: datetime) -> int | None:
        """The queue's run that started last at or before `at`, if it was still open then."""
        runs = [r for r in self._s.queues[queue_id].runs if r.started_at <= at]
        last = max(runs, key=lambda r: (r.started_at, r.id), default=None)
        return last.id if last is not None and (last.stopped_at is None or last.stopped_at > at) else None

    def _timeline(self, c: CallbackRow, extra: dict[str, Any], contacts: dict[str, int]) -> Iterable[dict[str, Any]]:
        """The callback's rows: its attempts and its dummy attempts (audit lines of DUMMY_REASONS), in time
        order (at a tie, real attempts first, then by attempt id or audit order); one empty row if none."""
        entries: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        for a in self._s.attempts.values():
            if a.callback_id == c.id:
                agent = self._s.agents.get(a.agent_id or "")
                entries.append(((a.started_at, 0, 0, a.id), {
                    "attempt_id": a.id, "attempt_at": a.started_at, "attempt_ended_at": a.ended_at,
                    "serviced_by": a.agent_id, "serviced_by_name": agent.name if agent is not None else None,
                    "custom_code": a.disposition.value if a.disposition else None,
                    "attempt_status": a.completion_status.value if a.completion_status else None,
                    "interaction_state": a.interaction_state.value, "dummy_reason": None}))
        for index, e in enumerate(self._s.events.get(c.id, [])):
            if e.reason in DUMMY_REASONS:
                entries.append(((e.at, 1, index), {
                    "attempt_id": None, "attempt_at": e.at, "attempt_ended_at": None, "serviced_by": None,
                    "serviced_by_name": None, "custom_code": None, "attempt_status": None,
                    "interaction_state": None, "dummy_reason": e.reason.value}))
        entries.sort(key=lambda entry: entry[0])
        empty = dict.fromkeys(("attempt_id", "attempt_at", "attempt_ended_at", "serviced_by", "serviced_by_name",
                               "custom_code", "attempt_status", "interaction_state", "dummy_reason"))
        head = {**c.columns(), **extra, "queue_name": self._s.queues[c.queue_id].queue.name,
                "contact_id": contacts[c.destination]}
        for _, entry in entries or [((), empty)]:
            yield {**head, **entry, "job_id": self._job(c.queue_id, entry["attempt_at"] or c.created_at)}

    async def contact(self, number: str, *, limit: int) -> tuple[int, list[Callback]] | None:
        """The contact of an E.164 number and its newest `limit` callbacks; None if no callback has it."""
        contact_id = self._contact_ids().get(number)
        if contact_id is None:
            return None
        mine = sorted((c for c in self._s.callbacks.values() if c.destination == number),
                      key=lambda c: (c.created_at, c.id), reverse=True)
        return contact_id, [c.callback() for c in mine[:max(limit, 0)]]

    async def book_figures(self, now: datetime, *, fold: bool = False) -> dict[str, Any]:
        """Active callbacks by queue and state, and those due by `now` not yet offered, by queue (sorted)."""
        states = Counter((c.queue_id, c.state.value) for c in self._s.callbacks.values() if c.state in ACTIVE)
        due = Counter(c.queue_id for c in self._s.callbacks.values()
                      if c.state in DUE_WAITING_STATES and (c.due_at <= now or c.state is CallbackState.QUEUED))
        return {"callbacks": [(q, state, n) for (q, state), n in sorted(states.items())],
                "due_now": sorted(due.items())}
