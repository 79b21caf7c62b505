"""Queues in PostgreSQL. Rule: settings are stored whole as the codec writes them, and starting or stopping a
queue moves its callbacks (each with its audit line) and opens or closes its run, in the same transaction as
its status, under the queue row's lock."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cbdialer.adapters.db.store.base import StoreBase, queue_from_row
from cbdialer.domain.codec import settings_to_dict
from cbdialer.domain.lifecycle import ACTIVE_STATES, WAITING_STATES, Reason, sources_of
from cbdialer.domain.models import RUNNING_STATUSES, Queue, QueueStatus


class PostgresQueues(StoreBase):
    async def _sync_run(self, conn: Any, queue_id: str, before: str | None, after: QueueStatus,
                        now: datetime | None) -> None:
        """The queue's run follows its status: a start (from stopped, or a new queue) opens one, after closing
        any run a stopped queue was left with; a stop closes it; a running queue keeps the run it has."""
        if after in RUNNING_STATUSES:
            if before is not None and QueueStatus(before) not in RUNNING_STATUSES:
                await conn.execute(self._q["queue_run_close"], queue_id, now)
            await conn.execute(self._q["queue_run_open"], queue_id, now)
        else:
            await conn.execute(self._q["queue_run_close"], queue_id, now)

    async def save_queue(self, queue: Queue, *, now: datetime | None = None) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            before = await conn.fetchval(self._q["queue_lock"], queue.id)
            await conn.execute(self._q["queue_upsert"], queue.id, queue.name, queue.status.value,
                               json.dumps(settings_to_dict(queue.settings)), sorted(queue.skills))
            await self._sync_run(conn, queue.id, before, queue.status, now)

    async def get_queue(self, queue_id: str) -> Queue | None:
        rows = await self._fetch("queue_get", queue_id)
        return queue_from_row(rows[0]) if rows else None

    async def queues(self) -> list[Queue]:
        return [queue_from_row(r) for r in await self._fetch("queues_list")]

    async def create_queue(self, queue: Queue, *, now: datetime | None = None) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            if await conn.fetchval(self._q["queue_insert"], queue.id, queue.name, queue.status.value,
                                   json.dumps(settings_to_dict(queue.settings)), sorted(queue.skills)) is None:
                return False
            await self._sync_run(conn, queue.id, None, queue.status, now)
            return True

    async def update_queue(self, queue: Queue) -> bool:
        return await self._value("queue_update", queue.id, queue.name, json.dumps(settings_to_dict(queue.settings)),
                                 sorted(queue.skills)) is not None

    async def set_queue_running(self, queue_id: str, running: bool, *, now: datetime, actor: str) -> int | None:
        """Start or stop a queue's callbacks; how many callbacks moved, or None if there is no such queue."""
        async with self._pool.acquire() as conn, conn.transaction():
            before = await conn.fetchval(self._q["queue_lock"], queue_id)
            status = QueueStatus.ACTIVE if running else QueueStatus.STOPPED
            if await conn.fetchval(self._q["queue_set_status"], queue_id, status.value) is None:
                return None
            await self._sync_run(conn, queue_id, before, status, now)
            name = "queue_callbacks_start" if running else "queue_callbacks_stop"
            return int(await conn.fetchval(self._q[name], queue_id, now, actor))

    async def terminate_queue(self, queue_id: str, *, now: datetime, actor: str) -> int | None:
        async with self._pool.acquire() as conn, conn.transaction():
            if await conn.fetchval(self._q["queue_set_status"], queue_id, QueueStatus.TERMINATED.value) is None:
                return None
            await conn.execute(self._q["queue_run_close"], queue_id, now)
            ending = sorted(sources_of(Reason.QUEUE_TERMINATED))
            return int(await conn.fetchval(self._q["queue_callbacks_terminate"], queue_id, now, actor, ending))

    async def due_per_hour(self, queue_id: str, *, since: datetime, until: datetime) -> dict[datetime, int]:
        rows = await self._fetch("queue_due_per_hour", queue_id, since, until, sorted(WAITING_STATES))
        return {row["hour"]: row["due"] for row in rows}

    async def queues_metrics(self, shifts: Mapping[str, datetime]) -> dict[str, dict[str, Any]]:
        ids = list(shifts)
        rows = await self._fetch("queues_metrics", ids, [shifts[i] for i in ids], sorted(ACTIVE_STATES))
        found = {}
        for row in rows:
            metrics = dict(row)
            metrics["outcomes"] = dict(sorted(json.loads(metrics["outcomes"]).items()))
            found[metrics.pop("queue_id")] = metrics
        return found
