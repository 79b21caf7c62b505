"""The port of caller-callbacks' places (docs/design.md section 14). Rule: a caller-callback that keeps a place is
one a caller asked for, booked into no slot, never yet called (attempts_count 0) and pending (not in a call, not
ended); their order is (joined_at, id), and the store answers the front of that order per queue."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from cbdialer.domain.lifecycle import Reason
from cbdialer.domain.models import Callback


class PlaceStore(Protocol):
    async def caller_front(self, queue_id: str, *, now: datetime) -> Callback | None:
        """The queue's caller-callback that keeps the earliest place and is not held on its own at `now` (for one
        of domain/place.py's HELD_ON_ITS_OWN reasons, and due later), or None if none."""
        ...

    async def due_now(self, callback_id: UUID, *, reason: Reason, now: datetime, at: datetime | None = None) -> bool:
        """Make a queued callback that waits for `reason`, unclaimed and due later, due at `now` (its wait is
        over: the caller's place came, or an agent freed up), or at `at` if given (the end of that agent's
        wrap-up); False if it is not so (any more). Due now, it takes back its place in due order: its due
        time becomes when its turn fell due (`due_since`), if that was earlier."""
        ...
