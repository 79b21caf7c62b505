"""The callers waiting in each Asterisk queue, as this process hears them (docs/design.md section 14). Rule:
app_queue's QueueCallerJoin and QueueCallerLeave/Abandon keep it current, and after every LinkUp it is read
afresh with QueueStatus; until that re-read has succeeded it does not know (`known` is False), and then no
caller-callback may be released ahead of anyone."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from datetime import datetime, timedelta

import structlog

from cbdialer.domain.place import joined_at_of
from cbdialer.ports.telephony import QueueCallerJoined, QueueCallerLeft, Telephony, TelephonyError

# A caller who left a queue (to the offer of a callback, most often) is remembered this long, and at most this
# many: the IVR asks when they joined, which is the place their callback keeps.
LEFT_KEPT = timedelta(hours=1)
LEFT_KEPT_MAX = 10_000


class QueuePlaces:
    def __init__(self) -> None:
        self._waiting: dict[str, dict[str, datetime]] = {}  # Asterisk queue -> caller Uniqueid -> joined at
        self._left: OrderedDict[str, tuple[datetime, datetime]] = OrderedDict()  # Uniqueid -> (joined, left)
        self.known = False
        # Set at every change: a caller leaving may let a caller-callback through (and tests wait on it).
        self.changed = asyncio.Event()
        self._log = structlog.get_logger("cbdialer.places")

    def heard(self, event: QueueCallerJoined | QueueCallerLeft, now: datetime) -> None:
        queue = event.asterisk_queue.casefold()  # app_queue's names are case-insensitive
        if isinstance(event, QueueCallerJoined):
            self._waiting.setdefault(queue, {}).setdefault(event.uniqueid, now)
        else:
            joined = self._waiting.get(queue, {}).pop(event.uniqueid, None)
            if joined is not None:
                self._remember_left(event.uniqueid, joined, now)
        self.changed.set()

    def _remember_left(self, uniqueid: str, joined: datetime, now: datetime) -> None:
        self._left[uniqueid] = (joined, now)
        self._left.move_to_end(uniqueid)
        while self._left and (len(self._left) > LEFT_KEPT_MAX or next(iter(self._left.values()))[1] < now - LEFT_KEPT):
            self._left.popitem(last=False)

    def joined(self, uniqueid: str) -> datetime | None:
        """When that caller joined its queue, waiting still or left within the hour (None: not heard)."""
        for callers in self._waiting.values():
            if uniqueid in callers:
                return callers[uniqueid]
        kept = self._left.get(uniqueid)
        return kept[0] if kept is not None else None

    def link_down(self) -> None:
        """Joins and leaves are lost while the link is down: not known again until the next read."""
        self.known = False
        self.changed.set()

    async def reread(self, telephony: Telephony, now: datetime) -> None:
        """After a LinkUp: what was heard before may be stale (events were lost while the link was down)."""
        self.known = False
        try:
            callers = await telephony.queue_callers()
        except TelephonyError as exc:
            self._log.warning("queue_callers_not_read", error=str(exc))
            return
        waiting: dict[str, dict[str, datetime]] = {}
        for caller in callers:
            queue = caller.asterisk_queue.casefold()
            earlier = self._waiting.get(queue, {}).get(caller.uniqueid)
            # A caller heard joining keeps that time; one that joined while the link was down gets QueueStatus's.
            waiting.setdefault(queue, {})[caller.uniqueid] = \
                earlier or joined_at_of(now, caller.waited_seconds)
        for queue, callers in self._waiting.items():  # left while the link was down: still remembered
            for uniqueid, joined in callers.items():
                if uniqueid not in waiting.get(queue, {}):
                    self._remember_left(uniqueid, joined, now)
        self._waiting = waiting
        self.known = True
        self.changed.set()
        self._log.info("queue_callers_read", waiting=sum(len(c) for c in waiting.values()))

    def waiting(self, asterisk_queue: str) -> dict[str, datetime]:
        """The callers waiting in that Asterisk queue now: Uniqueid -> joined at."""
        return dict(self._waiting.get(asterisk_queue.casefold(), {}))

    def waiting_since(self, asterisk_queue: str) -> list[datetime]:
        """The join times of the callers waiting in that Asterisk queue now, earliest first."""
        return sorted(self._waiting.get(asterisk_queue.casefold(), {}).values())
