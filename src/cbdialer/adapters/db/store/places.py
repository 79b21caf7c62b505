"""Caller-callbacks' places in PostgreSQL. Rule: the front is one index lookup (callbacks_caller_place), and a
wait is ended only by a guarded update, so that a callback claimed or changed meanwhile is left alone."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from cbdialer.adapters.db.store.base import StoreBase, callback_from_row
from cbdialer.domain.lifecycle import Reason
from cbdialer.domain.models import Callback
from cbdialer.domain.place import HELD_ON_ITS_OWN


class PostgresPlaces(StoreBase):
    async def caller_front(self, queue_id: str, *, now: datetime) -> Callback | None:
        rows = await self._fetch("callbacks_caller_front", queue_id, sorted(r.value for r in HELD_ON_ITS_OWN), now)
        return callback_from_row(rows[0]) if rows else None

    async def due_now(self, callback_id: UUID, *, reason: Reason, now: datetime, at: datetime | None = None) -> bool:
        return await self._value("callback_due_now", callback_id, reason.value, now, at) is not None
