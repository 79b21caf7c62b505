"""The consumer of AMI events. Rule: every event heard is applied, in order: an attempt's events in the order
they were heard, each once the one before it is done; the dialer's ORDERED_EVENTS once every event heard
before them is done. Only the attempts' events run beside each other (at most LANES at once), since each waits
for PostgreSQL; the rest (a device's state, which only changes what routing sees, and the events the dialer
does not act on) are applied at once.

An event whose application meets an unavailable database is applied again, once the database answers, before
the next event of its attempt (or, for any other event, before the next event at all), so that nothing heard
is lost; what arrives meanwhile waits in the link's queue, as much as the calls produce.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable

import structlog

from cbdialer.adapters.ami import AmiLink, AttemptReport, InboundCall, LinkDown, LinkUp
from cbdialer.dialer import ORDERED_EVENTS, Dialer
from cbdialer.supervision import STOPPED, Backoff, DatabaseHealth, ride_through

log = structlog.get_logger("cbdialer")

# Attempts whose events are applied at the same time, at most: a few more than the statements the dialer's pool
# leaves free for them, so that an attempt waiting for the database does not hold the others up.
LANES = 8
LANE_FAILED = object()  # put on the link's queue when a lane fails


class Lanes:
    """Attempt events running beside each other, each after the one heard before it for its attempt."""

    def __init__(self, apply: Callable[[object], Awaitable[bool]], limit: int = LANES,
                 on_failure: Callable[[], None] = lambda: None) -> None:
        self._apply = apply  # applies one event; False if the daemon stopped first
        self._on_failure = on_failure  # wakes the consumer, which raises the failure (`check`)
        self._free = asyncio.Semaphore(limit)
        self._last: dict[str, asyncio.Task[None]] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._failed: list[asyncio.Task[None]] = []  # done with an exception, not yet raised
        self.failed = asyncio.Event()  # set once one has: the consumer fails then, not at its next event
        self.stopped = False

    async def add(self, attempt: str, event: object) -> None:
        """Apply `event` of `attempt` after its attempt's earlier events; waits while LANES are busy."""
        await self._free.acquire()  # before the task exists: the link's queue holds what waits, not tasks
        before = self._last.get(attempt)
        task = asyncio.create_task(self._after(before, event), name=f"ami-event-{attempt}")
        self._last[attempt] = task
        self._running.add(task)
        task.add_done_callback(functools.partial(self._done, attempt))

    async def _after(self, before: asyncio.Task[None] | None, event: object) -> None:
        try:
            if before is not None:
                await asyncio.wait([before])  # its outcome is the consumer's to see (`check`); here, its turn
                if not before.cancelled() and before.exception() is not None:
                    return  # the attempt missed an event: the consumer fails, and none of its later ones runs
            if not await self._apply(event):
                self.stopped = True
        finally:
            self._free.release()

    def _done(self, attempt: str, task: asyncio.Task[None]) -> None:
        if self._last.get(attempt) is task:
            del self._last[attempt]
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._failed.append(task)
            self.failed.set()
            self._on_failure()

    def check(self) -> None:
        """Raise what an attempt event's application raised (the consumer fails, as it would have inline)."""
        if self._failed:
            self._failed.pop(0).result()

    async def drain(self) -> None:
        """Wait until every attempt event heard so far is applied; raise what one raised."""
        while self._running:
            await asyncio.wait(list(self._running))
        self.check()

    async def close(self) -> None:
        running = list(self._running)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        self._running.clear()
        self._failed.clear()


async def consume(link: AmiLink, dialer: Dialer, stop: asyncio.Event, *, health: DatabaseHealth,
                  probe: Callable[[], Awaitable[object]], backoff: Backoff = Backoff()) -> None:
    """The consumer of the link's events (see the module's rule)."""

    async def apply(event: object) -> bool:
        return await ride_through(functools.partial(dialer.on_event, event), task="ami-events", stop=stop,
                                  health=health, probe=probe, backoff=backoff) is not STOPPED

    # A lane that fails wakes the consumer with a marker on the link's queue, so that it fails at once, not at
    # the next event (a quiet link would otherwise keep a failed consumer running).
    lanes = Lanes(apply, on_failure=lambda: link.events.put_nowait(LANE_FAILED))
    try:
        while not stop.is_set() and not lanes.stopped:
            event = await link.events.get()
            lanes.check()
            if event is LANE_FAILED:
                continue  # (its failure was raised already, or by an earlier marker's turn)
            match event:
                case LinkDown(reason=reason):
                    log.warning("ami_link_lost", reason=reason)
                case AttemptReport():
                    log.debug("attempt_report", kind=event.kind, attempt_id=event.attempt_id,
                              dial_status=event.dial_status, hangup_cause=event.hangup_cause,
                              amd_status=event.amd_status)
                case InboundCall(caller_number=number, withheld=withheld):
                    log.info("inbound_call", caller_number=number if not withheld else "withheld")
                case _:
                    pass
            attempt = dialer.attempt_of(event)
            if attempt is not None:
                await lanes.add(attempt, event)
                continue
            if isinstance(event, ORDERED_EVENTS):
                await lanes.drain()
            if not await apply(event):
                return
            if isinstance(event, LinkUp):
                states = dialer.board.device_states
                log.info("agents_presence", devices=len(states),
                         available=sum(1 for s in states.values() if s != "UNAVAILABLE"))
        await lanes.drain()
    finally:
        await lanes.close()

