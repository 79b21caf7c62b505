"""The dialer's background work: the no-answer watchdog and the writer of interaction states. Rule: the
watchdog decides nothing while Asterisk or PostgreSQL is away, and the writer never makes the event consumer
wait."""

from __future__ import annotations

import asyncio
import contextlib

from cbdialer.domain.attempt import (
    DeadlinePassed,
    closing,
)


class Background:
    """The watchdog and the state writer, for the Dialer."""

    async def write_states(self, stop: asyncio.Event) -> None:
        """Store the interaction states the event consumer heard, many per statement, so that the consumer
        never waits for these writes (they inform watchers; no decision waits on them, and a takeover asks
        Asterisk rather than trust them). Order does not matter: the statement only moves a state forward,
        and not after the attempt ended."""
        while True:
            if not self._unwritten_states:
                if stop.is_set():
                    return
                waiters = [asyncio.ensure_future(self._states_to_write.wait()), asyncio.ensure_future(stop.wait())]
                try:
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waiters:
                        waiter.cancel()
            self._states_to_write.clear()
            batch, self._unwritten_states = self._unwritten_states, {}
            if batch:
                try:
                    await self.store.set_attempt_states(batch)
                except BaseException:
                    # Kept for the next try (PostgreSQL away): newer states heard meanwhile win.
                    self._unwritten_states = {**batch, **self._unwritten_states}
                    raise

    async def watchdog(self, stop: asyncio.Event, interval: float = 0.5) -> None:
        while not stop.is_set():
            await self.check_deadlines()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await stop.wait()

    async def check_deadlines(self) -> None:
        """One round of the watchdog: deadlines passed, and windows or schedules closed before the dial. Not
        while Asterisk or PostgreSQL is away: what happened on the line meanwhile may be waiting to be heard
        or applied (the reconcile, or the event consumer once the database is back, decides then)."""
        if not self.ready.is_set() or not self.telephony.connected or not self.database_up():
            return
        now = self.clock()
        for live in list(self.live.values()):
            if live.pending is not None:
                await self._apply(live, live.pending)
                live.pending = None
            elif now >= live.call.deadline:
                await self._apply(live, DeadlinePassed())
            elif (closed := closing(live.call, contact_zone=live.contact_zone, now=now)) is not None:
                await self._apply(live, closed)
