"""Riding a database outage through (docs/design.md section 8: faults are ridden through, not escaped).

Rule: no background task dies of StoreUnavailable. `ride_through` runs one unit of work (an AMI event to
apply, or a task's whole loop); when the store is unavailable it waits with exponential backoff and jitter,
then asks the database (`probe`) until it answers, and only then runs the unit again, so nothing spins while
PostgreSQL is away. The unit is repeated from its start: every state change is a guarded statement, safe
to repeat (see StoreUnavailable). Stop is honoured at once, mid-backoff and mid-probe. Any other error is
not this module's business: it propagates, and the supervisor stops the daemon.

One `DatabaseHealth`, shared by every task, logs `database_unavailable` once per outage (the first task
to meet it) and `database_back` once, when a probe or a retried unit succeeds.
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import structlog

from cbdialer.ports import StoreUnavailable

T = TypeVar("T")


class Stopped(enum.Enum):
    """What `ride_through` returns when `stop` was set before the unit could succeed."""

    STOPPED = "stopped"


STOPPED = Stopped.STOPPED


@dataclass(frozen=True)
class Backoff:
    """Waits between tries: `initial` seconds after the first failure, times `factor` after each further
    one, at most `maximum`, each plus up to `jitter` of itself at random (so that tasks and processes that
    failed together do not come back in lockstep)."""

    initial: float = 0.2
    factor: float = 2.0
    maximum: float = 5.0
    jitter: float = 0.1

    def delay(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        """The wait after `failures` failures in a row (1 for the first)."""
        base = min(self.maximum, self.initial * self.factor ** min(max(failures - 1, 0), 64))
        return base * (1.0 + self.jitter * rand())


class DatabaseHealth:
    """What the daemon's tasks last learnt of the database: down from the first StoreUnavailable that one of
    them meets until a probe or a unit of work succeeds after it."""

    def __init__(self, *, log: Any = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._log = log or structlog.get_logger("cbdialer")
        self._clock = clock
        self._down_since: float | None = None

    @property
    def available(self) -> bool:
        return self._down_since is None

    def lost(self, task: str, error: BaseException) -> None:
        if self._down_since is None:
            self._down_since = self._clock()
            self._log.warning("database_unavailable", task=task, error=str(error) or type(error).__name__)
        else:
            self._log.debug("task_waiting_for_database", task=task, error=str(error) or type(error).__name__)

    def answered(self, task: str) -> None:
        if self._down_since is not None:
            down_for = self._clock() - self._down_since
            self._down_since = None
            self._log.info("database_back", task=task, down_for=round(down_for, 1))


async def _stopped_first(awaitable: Awaitable[T], stop: asyncio.Event) -> T | Literal[Stopped.STOPPED]:
    """Await `awaitable` unless `stop` is set first (then it is cancelled)."""
    work = asyncio.ensure_future(awaitable)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not work.done():
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
    if work.cancelled():
        return STOPPED
    return work.result()  # or its exception


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds`; True if `stop` was set meanwhile (or already)."""
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        return stop.is_set()
    return True


async def ride_through(work: Callable[[], Awaitable[T]], *, task: str, stop: asyncio.Event,
                       health: DatabaseHealth, probe: Callable[[], Awaitable[object]],
                       backoff: Backoff = Backoff()) -> T | Literal[Stopped.STOPPED]:
    """Run `work()` until it returns, riding StoreUnavailable through; STOPPED if `stop` is set first.

    After a failure: wait (backoff), then `probe()` until the database answers (each failure waits longer),
    then run `work()` again. A unit that keeps failing although the probe answers still waits longer each
    time; the count starts over once a unit has run for the longest wait without failing."""
    failures = 0
    while True:
        started = time.monotonic()
        try:
            result = await work()
        except StoreUnavailable as exc:
            if stop.is_set():
                return STOPPED
            if time.monotonic() - started >= backoff.maximum:
                failures = 0  # it had been running fine: a new outage
            failures += 1
            health.lost(task, exc)
        else:
            if failures:
                health.answered(task)
            return result
        while True:  # wait, then ask the database, until it answers
            if await _wait(stop, backoff.delay(failures)):
                return STOPPED
            try:
                if await _stopped_first(probe(), stop) is STOPPED:
                    return STOPPED
            except StoreUnavailable as exc:
                failures += 1
                health.lost(task, exc)
                continue
            health.answered(task)
            break
