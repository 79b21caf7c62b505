"""A caller's place in an Asterisk queue, kept by a caller-callback (docs/design.md section 14; VICIdial's
in-group callback rule). Rule: the place is the caller's original join time; a caller-callback is released
only when no caller who joined that queue earlier is still waiting and no earlier caller-callback of the queue
is still pending. Pure: it takes the facts and returns the answer."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from cbdialer.domain.lifecycle import Reason
from cbdialer.domain.models import Callback, CallbackOrigin, QueueSettings, check_aware

# A caller-callback held back for a reason of its own (its customer's calling window, the do-not-call list, a
# person moving it) keeps its place but holds nobody behind it: it is not "pending ahead" while so held (due later).
HELD_ON_ITS_OWN = frozenset({Reason.RESTRICTED_TIME, Reason.RESTRICTED_DNC, Reason.RESCHEDULED})


def place_reached(joined_at: datetime, *, waiting_since: Iterable[datetime],
                  earlier_pending: Iterable[datetime]) -> bool:
    """Whether a caller-callback whose caller joined at `joined_at` has reached the front: `waiting_since` are
    the join times of the callers still waiting in that Asterisk queue, `earlier_pending` those of the queue's
    other pending caller-callbacks. A caller who joined at the same instant is not ahead (ties go to the
    callback, which has waited since)."""
    check_aware("joined_at", joined_at)
    return (all(since >= joined_at for since in waiting_since)
            and all(other >= joined_at for other in earlier_pending))


def joined_at_of(now: datetime, waited_seconds: int) -> datetime:
    """When a waiting caller joined, from QueueStatus's Wait (whole seconds) read at `now`: at most a second
    early, which keeps a re-read caller ahead of a callback who joined in that same second, never behind it."""
    check_aware("now", now)
    return now - timedelta(seconds=max(0, waited_seconds) + 1)


def keeps_place(callback: Callback, settings: QueueSettings) -> bool:
    """Whether a callback keeps its caller's place: a caller's, booked into no slot, never yet called, of a queue
    that names its Asterisk queue. (Once called, it has had its turn; a slotted one is due at its slot.)"""
    return (callback.origin is CallbackOrigin.CALLER and callback.slot is None and callback.joined_at is not None
            and callback.attempts_count == 0 and settings.asterisk_queue is not None)
