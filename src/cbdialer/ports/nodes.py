"""The port of the dialer processes that share one database (docs/design.md section 8). Rule: a process is alive
while it is not stopped and its last heartbeat is recent; the store's clock (PostgreSQL's now()) is the judge,
so that the processes' own clocks never have to agree."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID


class NodeStore(Protocol):
    async def register_node(self, node_id: UUID, *, hostname: str, pid: int, version: str) -> None:
        """A process starts: alive from now."""
        ...

    async def node_heartbeat(self, node_id: UUID) -> datetime | None:
        """Still alive: when, or None if the process was marked stopped (or never registered)."""
        ...

    async def node_stopped(self, node_id: UUID) -> None:
        ...

    async def live_nodes(self, node_ids: Collection[UUID], *, within: timedelta) -> set[UUID]:
        """Those of `node_ids` not stopped whose last heartbeat is at most `within` old."""
        ...
