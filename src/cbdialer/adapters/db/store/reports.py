"""Report rows, contacts and metrics from PostgreSQL. Rule: raw rows only; the reports service shapes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cbdialer.adapters.db.store.base import StoreBase, callback_from_row
from cbdialer.domain.lifecycle import ACTIVE_STATES, DUE_WAITING_STATES, TERMINAL_STATES
from cbdialer.domain.models import Callback
from cbdialer.domain.reports import DUMMY_REASONS


class PostgresReports(StoreBase):
    async def report(self, name: str, *, start: datetime, end: datetime, agent_id: str | None,
                     queue_id: str | None, limit: int, rows: int) -> list[dict[str, Any]]:
        """Rows of a report (`scheduled` or `completed`), one per attempt (real or dummy), raw: of at most
        `limit` callbacks, and at most `rows` rows."""
        query = {"scheduled": "report_scheduled", "completed": "report_completed"}[name]
        extra = [sorted(TERMINAL_STATES)] if name == "completed" else []
        async with self._pool.acquire() as conn, conn.transaction():
            # Optional filters: planned per call, so that the index of the filter given is used.
            await conn.execute(self._q["plan_each_call"])
            found = await conn.fetch(self._q[query], start, end, agent_id, queue_id, limit, *extra,
                                     sorted(DUMMY_REASONS), rows)
        return [dict(r) for r in found]

    async def contact(self, number: str, *, limit: int) -> tuple[int, list[Callback]] | None:
        """The contact of an E.164 number and its newest `limit` callbacks; None if no callback ever had it."""
        async with self._pool.acquire() as conn:
            contact_id = await conn.fetchval(self._q["contact_get"], number)
            if contact_id is None:
                return None
            rows = await conn.fetch(self._q["contact_callbacks"], number, limit)
        return int(contact_id), [callback_from_row(r) for r in rows]

    async def book_figures(self, now: datetime, *, fold: bool = False) -> dict[str, Any]:
        async with self._pool.acquire() as conn:
            if fold:
                await conn.execute(self._q["callback_counts_fold"])  # keeps the changes to read short
            states = await conn.fetch(self._q["book_states"], sorted(ACTIVE_STATES))
            due = await conn.fetch(self._q["book_due_now"], now, sorted(DUE_WAITING_STATES))
        return {"callbacks": sorted((r["queue_id"], r["state"], r["n"]) for r in states),
                "due_now": sorted((r["queue_id"], r["n"]) for r in due)}
