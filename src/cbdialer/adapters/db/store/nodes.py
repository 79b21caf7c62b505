"""The dialer processes in PostgreSQL (table dialer_nodes). Rule: every time is PostgreSQL's now()."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from uuid import UUID

from cbdialer.adapters.db.store.base import StoreBase


class PostgresNodes(StoreBase):
    async def register_node(self, node_id: UUID, *, hostname: str, pid: int, version: str) -> None:
        await self._execute("node_register", node_id, hostname, pid, version)

    async def node_heartbeat(self, node_id: UUID) -> datetime | None:
        return await self._value("node_heartbeat", node_id)

    async def node_stopped(self, node_id: UUID) -> None:
        await self._execute("node_stopped", node_id)

    async def live_nodes(self, node_ids: Collection[UUID], *, within: timedelta) -> set[UUID]:
        return {row["id"] for row in await self._fetch("nodes_live", list(node_ids), within)}
