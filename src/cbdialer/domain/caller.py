"""Callbacks that callers ask for (docs/design.md section 14): their limits. Rule: one pending caller-callback per
number and queue: a second request updates the first (its id and its place, `joined_at`, stay; the new remark,
slot, start and end are taken, and its recording if it made one), and a new one is refused past the queue's
`max_caller_callbacks`. The stores apply these under a lock of the queue's caller callbacks, in the create's
transaction."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from cbdialer.domain.book import OVERWRITTEN_STATES
from cbdialer.domain.models import Callback, CallbackOrigin

# Pending: not yet in a call and not ended (the states a newer callback would overwrite).
PENDING_STATES = OVERWRITTEN_STATES


def first_request(new: Callback, active: Iterable[Callback]) -> Callback | None:
    """The pending caller-callback of the same number and queue that a new caller's request updates."""
    if new.origin is not CallbackOrigin.CALLER:
        return None
    earlier = [c for c in active if c.id != new.id and c.origin is CallbackOrigin.CALLER and c.queue_id == new.queue_id
               and c.destination == new.destination and c.state in PENDING_STATES]
    return min(earlier, key=lambda c: (c.created_at, c.id), default=None)


def updated_request(first: Callback, second: Callback) -> Callback:
    """The first request as the second updates it."""
    return dataclasses.replace(first, remark=second.remark, slot=second.slot, start_at=second.start_at,
                               due_at=second.due_at, end_at=second.end_at,
                               customer_timezone=second.customer_timezone,
                               recording=second.recording or first.recording)


def limit_message(limit: int) -> str:
    return (f"the queue has {limit} pending caller callbacks, its max_caller_callbacks: "
            "no more are taken until some are called")
