"""The dialer processes in memory. Rule: as the node_* queries do it, the store's clock standing in for now()."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from uuid import UUID

from cbdialer.adapters.memory.state import MemoryBase, NodeRow


class NodesMixin(MemoryBase):
    async def register_node(self, node_id: UUID, *, hostname: str, pid: int, version: str) -> None:
        self._s.nodes[node_id] = NodeRow(heartbeat_at=self._clock())

    async def node_heartbeat(self, node_id: UUID) -> datetime | None:
        row = self._s.nodes.get(node_id)
        if row is None or row.stopped_at is not None:
            return None
        row.heartbeat_at = self._clock()
        return row.heartbeat_at

    async def node_stopped(self, node_id: UUID) -> None:
        row = self._s.nodes.get(node_id)
        if row is not None and row.stopped_at is None:
            row.stopped_at = self._clock()

    async def live_nodes(self, node_ids: Collection[UUID], *, within: timedelta) -> set[UUID]:
        now = self._clock()
        return {n for n in node_ids if (row := self._s.nodes.get(n)) is not None and row.stopped_at is None
                and row.heartbeat_at > now - within}
