"""The reports' port. Rule: the store returns raw rows; the reports service shapes them in the seeds' words
(reading the queues too, for each one's campaign type and strategy)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from cbdialer.domain.models import Callback
from cbdialer.ports.queues import QueueDirectory


class ReportStore(QueueDirectory, Protocol):
    async def report(self, name: str, *, start: datetime, end: datetime, agent_id: str | None,
                     queue_id: str | None, limit: int, rows: int) -> list[dict[str, Any]]:
        """Rows of the `scheduled` or `completed` report: one per attempt, real or dummy, of at most `limit`
        callbacks (the first by the report's order), and at most `rows` rows."""
        ...

    async def contact(self, number: str, *, limit: int) -> tuple[int, list[Callback]] | None:
        """A contact's id and its newest callbacks; None if no callback was ever written for the number."""
        ...

    async def book_figures(self, now: datetime, *, fold: bool = False) -> dict[str, Any]:
        """The operator's figures of the book: {"callbacks": [(queue, state, n)] of the active ones, "due_now":
        [(queue, n)] due by `now` and not yet offered}, sorted; never a scan of the history. With `fold` (the
        daemon's book-figures task only: a write), the kept counts' changes are folded into them first."""
