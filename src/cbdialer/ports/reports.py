"""The reports' port. Rule: the store returns raw rows; the reports service shapes them in the seeds' words."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol


class ReportStore(Protocol):
    async def report(self, name: str, *, start: datetime, end: datetime, agent_id: str | None,
                     queue_id: str | None, limit: int) -> list[dict[str, Any]]:
        """Rows of the `scheduled` or `completed` report."""
        ...

    async def metrics(self) -> dict[str, Any]: ...
