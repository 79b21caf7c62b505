"""What the pages are told (docs/design.md section 15): a version of the book that moves on when it changes.
Rule: the version moves on PostgreSQL's notifications, coalesced to one move per COALESCE seconds, and at the
instants when what the pages show changes by the clock alone; one feed per process, however many viewers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog
from aiohttp import web

from cbdialer.ports.errors import StoreUnavailable

COALESCE = 0.5  # at most one "changed" per this many seconds: a burst of writes is one refresh
TURN_RETRY = 60.0  # seconds before the next turn is looked for again, after a failed look
TURN_TIMEOUT = 5.0  # seconds a look for the next turn may take
TURN_SLACK = 0.05  # seconds past a turn: the pages then read what is true after it
TURN_REFRESH = 1.0  # at most one look for the next turn per this many seconds after writes
# When what the pages show next changes by the clock alone, given the time now (None: never).
Turn = Callable[[datetime], Awaitable[datetime | None]]
_log = structlog.get_logger("cbdialer.pages")


class Changes:
    """The book's version as the pages know it."""

    def __init__(self, *, live: bool = True) -> None:
        self.live = live  # fed by the database's notifications (False: nothing tells it of writes)
        self.version = 0
        self._moved = asyncio.Condition()
        self.closing = asyncio.Event()

    async def feed(self, changed: asyncio.Event, turn: Turn | None = None) -> None:
        """Turn the database's notifications (`changed` set) into versions, and so the instants `turn` names
        (a queue opens or closes, a shift begins), until cancelled. The turns are looked for in a task of their
        own: a slow look (a busy pool) never holds a notification up."""
        turned, written = asyncio.Event(), asyncio.Event()
        finder = asyncio.create_task(self._turns(turn, turned, written), name="page-turns") if turn else None
        try:
            while True:
                waiters = [asyncio.ensure_future(changed.wait()), asyncio.ensure_future(turned.wait())]
                try:
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waiters:
                        waiter.cancel()
                if changed.is_set():
                    written.set()  # a write may have moved a turn (a queue's schedule): look again
                changed.clear()
                turned.clear()
                async with self._moved:
                    self.version += 1
                    self._moved.notify_all()
                await asyncio.sleep(COALESCE)  # the coalescing window itself, not a wait for anything
        finally:
            if finder is not None:
                finder.cancel()
                await asyncio.gather(finder, return_exceptions=True)

    async def _turns(self, turn: Turn, turned: asyncio.Event, written: asyncio.Event) -> None:
        """Set `turned` at each turn; look for the next again after it, or after a write (at most once per
        TURN_REFRESH seconds however busy the book, and never missing a turn that came meanwhile)."""
        loop = asyncio.get_running_loop()
        while True:
            written.clear()  # before the look: a write while it runs makes it look again
            until = await self._until(turn)
            at = None if until is None else loop.time() + until
            try:
                async with asyncio.timeout(until):
                    await written.wait()
            except TimeoutError:
                turned.set()
                continue
            await asyncio.sleep(TURN_REFRESH)  # a rate, not a wait for anything
            if at is not None and loop.time() >= at:
                turned.set()  # it came while the look waited its turn

    @staticmethod
    async def _until(turn: Turn | None) -> float | None:
        """Seconds until the next turn (None: none to wait for)."""
        if turn is None:
            return None
        now = datetime.now(UTC)
        try:
            async with asyncio.timeout(TURN_TIMEOUT):  # a database that hangs must not hold up the notifications
                at = await turn(now)
        except (StoreUnavailable, TimeoutError):  # the notifications come back with the database; look later
            return TURN_RETRY
        except Exception:  # never the end of the pages' updates: they still follow the notifications
            _log.exception("page_turn_failed")
            return TURN_RETRY
        return None if at is None else max(0.0, (at - now).total_seconds()) + TURN_SLACK

    async def next(self, seen: int, timeout: float) -> int:
        """The version once past `seen`, or `seen` after `timeout` (time for a keepalive) or at closing."""
        async with self._moved:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._moved.wait_for(lambda: self.version > seen or self.closing.is_set())
            return self.version

    async def close(self) -> None:
        self.closing.set()
        async with self._moved:
            self._moved.notify_all()

    def shared_version(self) -> int | None:
        """The version a read may be shared under (None when nothing tells of writes: read afresh)."""
        return self.version if self.live else None


CHANGES_KEY: web.AppKey[Changes] = web.AppKey("changes", Changes)
