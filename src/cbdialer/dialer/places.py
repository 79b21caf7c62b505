"""The callers waiting in each Asterisk queue, as this process hears them (docs/design.md section 14). Rule:
app_queue's QueueCallerJoin and QueueCallerLeave/Abandon keep it current, and after every LinkUp it is read
afresh with QueueStatus; until that re-read has succeeded it does not know (`known` is False), and then no
caller-callback may be released ahead of anyone."""

from __future__ import annotations

import asyncio
from datetime import datetime

import structlog

from cbdialer.domain.place import joined_at_of
from cbdialer.ports.telephony import QueueCallerJoined, QueueCallerLeft, Telephony, TelephonyError


class QueuePlaces:
    def __init__(self) -> None:
        self._waiting: dict[str, dict[str, datetime]] = {}  # Asterisk queue -> caller Uniqueid -> joined at
        self.known = False
        # Set at every change: a caller leaving may let a caller-callback through (and tests wait on it).
        self.changed = asyncio.Event()
        self._log = structlog.get_logger("cbdialer.places")

    def heard(self, event: QueueCallerJoined | QueueCallerLeft, now: datetime) -> None:
        queue = event.asterisk_queue.casefold()  # app_queue's names are case-insensitive
        if isinstance(event, QueueCallerJoined):
            self._waiting.setdefault(queue, {}).setdefault(event.uniqueid, now)
        else:
            self._waiting.get(queue, {}).pop(event.uniqueid, None)
        self.changed.set()

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
