"""Caller-callbacks' places in memory. Rule: as callbacks_caller_front and callback_due_now do it."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from cbdialer.adapters.memory.state import MemoryBase
from cbdialer.domain.caller import PENDING_STATES
from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import Callback, CallbackOrigin
from cbdialer.domain.place import HELD_ON_ITS_OWN


class PlacesMixin(MemoryBase):
    async def caller_front(self, queue_id: str, *, now: datetime) -> Callback | None:
        keeping = [c for c in self._s.callbacks.values()
                   if c.queue_id == queue_id and c.origin is CallbackOrigin.CALLER and c.slot is None
                   and c.attempts_count == 0 and c.state in PENDING_STATES and c.joined_at is not None
                   and not (c.reason in HELD_ON_ITS_OWN and c.due_at > now)]
        front = min(keeping, key=lambda c: (c.joined_at, c.id), default=None)
        return front.callback() if front is not None else None

    async def due_now(self, callback_id: UUID, *, reason: Reason, now: datetime, at: datetime | None = None) -> bool:
        row = self._s.callbacks.get(callback_id)
        due = at or now
        if (row is None or row.state is not CallbackState.QUEUED or row.reason is not reason
                or row.lease_owner is not None or row.due_at <= due):
            return False
        row.due_at = at or min(now, row.due_since or now) - timedelta(milliseconds=1)  # see callback_due_now
        row.touch(now)
        return True
