"""Report rows and metrics from PostgreSQL. Rule: raw rows only; the reports service shapes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cbdialer.adapters.db.store.base import StoreBase
from cbdialer.domain.lifecycle import ACTIVE_STATES, TERMINAL_STATES


class PostgresReports(StoreBase):
    async def report(self, name: str, *, start: datetime, end: datetime, agent_id: str | None,
                     queue_id: str | None, limit: int) -> list[dict[str, Any]]:
        """Rows of a report (`scheduled` or `completed`), raw; the service shapes them."""
        args: tuple[Any, ...] = (start, end, agent_id, queue_id, limit)
        if name == "completed":
            rows = await self._fetch("report_completed", *args, sorted(TERMINAL_STATES))
        else:
            rows = await self._fetch({"scheduled": "report_scheduled"}[name], *args)
        return [dict(r) for r in rows]

    async def metrics(self) -> dict[str, Any]:
        async with self._pool.acquire() as conn:
            states = await conn.fetch(self._q["metrics_states"], sorted(ACTIVE_STATES))
            attempts = await conn.fetch(self._q["metrics_attempts"])
            live = await conn.fetchval(self._q["metrics_live"])
        return {"callbacks": [(r["queue_id"], r["state"], r["n"]) for r in states],
                "attempts": [(r["completion_status"], r["n"]) for r in attempts], "live_attempts": live}
