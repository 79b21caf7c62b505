"""Queues in PostgreSQL. Rule: settings are stored whole as the codec writes them, and starting or stopping a
queue moves its callbacks, each with its audit line, in the same transaction."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from cbdialer.adapters.db.store.base import StoreBase, queue_from_row
from cbdialer.domain.codec import settings_to_dict
from cbdialer.domain.lifecycle import ACTIVE_STATES, Reason, sources_of
from cbdialer.domain.models import (
    Queue,
    QueueStatus,
)


class PostgresQueues(StoreBase):
    async def save_queue(self, queue: Queue) -> None:
        await self._execute("queue_upsert", queue.id, queue.name, queue.status.value,
                            json.dumps(settings_to_dict(queue.settings)), sorted(queue.skills))

    async def get_queue(self, queue_id: str) -> Queue | None:
        rows = await self._fetch("queue_get", queue_id)
        return queue_from_row(rows[0]) if rows else None

    async def queues(self) -> list[Queue]:
        return [queue_from_row(r) for r in await self._fetch("queues_list")]

    async def create_queue(self, queue: Queue) -> bool:
        return await self._value("queue_insert", queue.id, queue.name, queue.status.value,
                                 json.dumps(settings_to_dict(queue.settings)), sorted(queue.skills)) is not None

    async def update_queue(self, queue: Queue) -> bool:
        return await self._value("queue_update", queue.id, queue.name, json.dumps(settings_to_dict(queue.settings)),
                                 sorted(queue.skills)) is not None

    async def set_queue_running(self, queue_id: str, running: bool, *, now: datetime, actor: str) -> int | None:
        """Start or stop a queue's callbacks; how many callbacks moved, or None if there is no such queue."""
        async with self._pool.acquire() as conn, conn.transaction():
            status = QueueStatus.ACTIVE if running else QueueStatus.STOPPED
            if await conn.fetchval(self._q["queue_set_status"], queue_id, status.value) is None:
                return None
            name = "queue_callbacks_start" if running else "queue_callbacks_stop"
            return int(await conn.fetchval(self._q[name], queue_id, now, actor))

    async def terminate_queue(self, queue_id: str, *, now: datetime, actor: str) -> int | None:
        async with self._pool.acquire() as conn, conn.transaction():
            if await conn.fetchval(self._q["queue_set_status"], queue_id, QueueStatus.TERMINATED.value) is None:
                return None
            ending = sorted(sources_of(Reason.QUEUE_TERMINATED))
            return int(await conn.fetchval(self._q["queue_callbacks_terminate"], queue_id, now, actor, ending))

    async def queue_metrics(self, queue_id: str, *, since: datetime) -> dict[str, Any]:
        return dict((await self._fetch("queue_metrics", queue_id, since, sorted(ACTIVE_STATES)))[0])
