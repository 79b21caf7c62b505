"""Reports in memory. Rule: the rows are the report queries' raw rows, same keys, same types, for the service."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from cbdialer.adapters.memory.state import ACTIVE, AttemptRow, CallbackRow, MemoryBase
from cbdialer.domain.lifecycle import TERMINAL_STATES


def _json_time(value: datetime | None) -> str:
    """A timestamptz inside json_build_object, as PostgreSQL writes it in a UTC session (asyncpg's default on
    a server in UTC): ISO 8601, fractional seconds without trailing zeros."""
    if value is None:
        return "null"
    utc = value.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return f'"{text}+00:00"'


def _json_text(value: str | None) -> str:
    return "null" if value is None else json.dumps(value, ensure_ascii=False)


def _attempts_json(attempts: list[AttemptRow]) -> str:
    """report_completed's json_agg(json_build_object(...) ORDER BY started_at)::text, byte for byte."""
    objects = [
        f'{{"started_at" : {_json_time(a.started_at)}, "ended_at" : {_json_time(a.ended_at)}, '
        f'"agent" : {_json_text(a.agent_id)}, '
        f'"state" : {_json_text((a.completion_status or a.interaction_state).value)}}}'
        for a in attempts]
    return "[" + ", ".join(objects) + "]"


class ReportsMixin(MemoryBase):
    async def report(self, name: str, *, start: datetime, end: datetime, agent_id: str | None,
                     queue_id: str | None, limit: int) -> list[dict[str, Any]]:
        """Rows of a report (`scheduled` or `completed`), raw; the service shapes them."""
        build = {"scheduled": self._report_scheduled, "completed": self._report_completed}[name]
        return build(start, end, agent_id, queue_id)[:max(limit, 0)]

    def _report_scheduled(self, start: datetime, end: datetime, agent_id: str | None,
                          queue_id: str | None) -> list[dict[str, Any]]:
        """report_scheduled: created in [start, end), by creator and queue, with the last attempt."""
        rows = []
        for c in sorted(self._s.callbacks.values(), key=lambda c: (c.created_at, c.id)):
            if not (start <= c.created_at < end and (agent_id is None or c.created_by == agent_id)
                    and (queue_id is None or c.queue_id == queue_id)):
                continue
            last = self._last_attempt(c.id)
            rows.append({**c.columns(), "queue_name": self._s.queues[c.queue_id].queue.name,
                         "serviced_by": last.agent_id if last else None,
                         "attempt_at": last.started_at if last else None,
                         "custom_code": last.disposition.value if last and last.disposition else None})
        return rows

    def _report_completed(self, start: datetime, end: datetime, agent_id: str | None,
                          queue_id: str | None) -> list[dict[str, Any]]:
        """report_completed: ended (its last audit line) in [start, end), with every attempt."""
        found: list[tuple[datetime, CallbackRow, list[AttemptRow]]] = []
        for c in self._s.callbacks.values():
            ended_at = self._s.events[c.id][-1].at
            attempts = sorted((a for a in self._s.attempts.values() if a.callback_id == c.id),
                              key=lambda a: a.started_at)
            if (c.state in TERMINAL_STATES and start <= ended_at < end
                    and (agent_id is None or any(a.agent_id == agent_id for a in attempts))
                    and (queue_id is None or c.queue_id == queue_id)):
                found.append((ended_at, c, attempts))
        found.sort(key=lambda f: (f[0], f[1].id))
        return [{**c.columns(), "queue_name": self._s.queues[c.queue_id].queue.name, "ended_at": ended_at,
                 "attempts": _attempts_json(attempts)} for ended_at, c, attempts in found]

    async def metrics(self) -> dict[str, Any]:
        """Active callbacks by queue and state, ended attempts by status, live attempts (in a fixed order;
        PostgreSQL's GROUP BY promises none)."""
        states = Counter((c.queue_id, c.state.value) for c in self._s.callbacks.values() if c.state in ACTIVE)
        ended = Counter(a.completion_status.value if a.completion_status else None
                        for a in self._s.attempts.values() if a.ended_at is not None)
        return {"callbacks": [(q, state, n) for (q, state), n in sorted(states.items())],
                "attempts": sorted(ended.items(), key=lambda item: (item[0] is None, item[0] or "")),
                "live_attempts": sum(1 for a in self._s.attempts.values() if a.ended_at is None)}
