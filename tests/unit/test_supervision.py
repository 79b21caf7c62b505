"""Riding a database outage through (cbdialer.supervision): the backoff, the retry of one unit of work after
a probe answers, one log line per outage, and a prompt return on stop, mid-backoff and mid-probe."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from cbdialer.ports import StoreUnavailable
from cbdialer.supervision import STOPPED, Backoff, DatabaseHealth, ride_through

FAST = Backoff(initial=0.001, factor=2.0, maximum=0.004, jitter=0.0)
SLOW = Backoff(initial=3600.0, maximum=3600.0)  # a wait no test could sit out


@dataclass(frozen=True)
class CountingBackoff(Backoff):
    """No waiting at all; remembers for how many failures in a row each wait was asked."""

    asked: list[int] = field(default_factory=list)

    def delay(self, failures: int, rand: Any = None) -> float:
        self.asked.append(failures)
        return 0.0


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def _add(self, level: str, event: str, **kw: Any) -> None:
        self.lines.append((level, event, kw))

    def warning(self, event: str, **kw: Any) -> None:
        self._add("warning", event, **kw)

    def info(self, event: str, **kw: Any) -> None:
        self._add("info", event, **kw)

    def debug(self, event: str, **kw: Any) -> None:
        self._add("debug", event, **kw)

    def events(self, *levels: str) -> list[str]:
        return [event for level, event, _ in self.lines if not levels or level in levels]


class Work:
    """A unit of work that fails with StoreUnavailable `failures` times, then returns `result`."""

    def __init__(self, failures: int, result: object = "done") -> None:
        self.failures = failures
        self.result = result
        self.calls = 0
        self.failed = asyncio.Event()

    async def __call__(self) -> object:
        self.calls += 1
        if self.calls <= self.failures:
            self.failed.set()
            raise StoreUnavailable("PostgreSQL is unavailable: connection refused")
        return self.result


class Probe:
    """The database's answer to a probe: it fails `failures` times, then answers."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise StoreUnavailable("PostgreSQL did not answer within 1 s")


# -- the backoff ----------------------------------------------------------------------------------------


def test_the_backoff_doubles_from_a_fifth_of_a_second_to_five_seconds() -> None:
    backoff = Backoff()
    assert [backoff.delay(n, rand=lambda: 0.0) for n in range(1, 9)] == \
        pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0])


def test_the_jitter_adds_at_most_a_tenth() -> None:
    backoff = Backoff()
    assert backoff.delay(1, rand=lambda: 1.0) == pytest.approx(0.22)
    assert backoff.delay(50, rand=lambda: 0.5) == pytest.approx(5.25)
    assert all(0.2 <= backoff.delay(1) <= 0.22 for _ in range(200))


def test_a_very_long_outage_does_not_overflow_the_backoff() -> None:
    assert Backoff().delay(100_000, rand=lambda: 0.0) == 5.0


# -- ride_through ---------------------------------------------------------------------------------------


async def test_a_unit_that_succeeds_runs_once_and_nothing_is_logged() -> None:
    log, work, probe = Log(), Work(0, result=42), Probe()
    result = await ride_through(work, task="t", stop=asyncio.Event(), health=DatabaseHealth(log=log),
                                probe=probe, backoff=FAST)
    assert (result, work.calls, probe.calls, log.lines) == (42, 1, 0, [])


async def test_a_unit_is_repeated_after_the_probe_answers_each_time_it_fails() -> None:
    log, work, probe = Log(), Work(3), Probe()
    backoff = CountingBackoff()
    result = await ride_through(work, task="scheduler", stop=asyncio.Event(), health=DatabaseHealth(log=log),
                                probe=probe, backoff=backoff)
    assert result == "done" and work.calls == 4
    assert probe.calls == 3  # once before each new try
    assert backoff.asked == [1, 2, 3]  # longer after each failure in a row
    # Each failure after the database answered is an outage of its own (a probe said it was back).
    assert log.events("warning", "info") == ["database_unavailable", "database_back",
                                            "database_unavailable", "database_back",
                                            "database_unavailable", "database_back"]
    level, event, fields = log.lines[0]
    assert fields == {"task": "scheduler", "error": "PostgreSQL is unavailable: connection refused"}


async def test_a_unit_that_had_run_for_the_longest_wait_starts_the_count_over() -> None:
    # maximum=0: every unit has run "long enough" before it failed, so each failure is a first one.
    backoff = CountingBackoff(maximum=0.0)
    assert await ride_through(Work(3), task="t", stop=asyncio.Event(), health=DatabaseHealth(log=Log()),
                              probe=Probe(), backoff=backoff) == "done"
    assert backoff.asked == [1, 1, 1]


async def test_while_the_probe_fails_the_unit_is_not_run_and_the_waits_grow() -> None:
    log, work, probe = Log(), Work(1), Probe(failures=4)
    backoff = CountingBackoff()
    assert await ride_through(work, task="t", stop=asyncio.Event(), health=DatabaseHealth(log=log),
                              probe=probe, backoff=backoff) == "done"
    assert (work.calls, probe.calls) == (2, 5)
    assert backoff.asked == [1, 2, 3, 4, 5]
    # One outage: one line when it began, one when the database answered; the failed probes in between
    # are not logged again.
    assert log.events("warning", "info") == ["database_unavailable", "database_back"]


async def test_tasks_sharing_the_health_log_one_outage_once() -> None:
    log = Log()
    health = DatabaseHealth(log=log)
    gate = asyncio.Event()  # the database: down until set

    async def probe() -> None:
        if not gate.is_set():
            raise StoreUnavailable("down")

    both_failed = asyncio.Event()
    failed: set[str] = set()

    def unit(name: str) -> Any:
        async def work() -> str:
            if not gate.is_set():
                failed.add(name)
                if len(failed) == 2:
                    both_failed.set()
                raise StoreUnavailable("down")
            return name
        return work

    stop = asyncio.Event()
    runs = [asyncio.create_task(ride_through(unit(n), task=n, stop=stop, health=health, probe=probe,
                                             backoff=FAST)) for n in ("a", "b")]
    await asyncio.wait_for(both_failed.wait(), 5)
    gate.set()
    assert await asyncio.wait_for(asyncio.gather(*runs), 5) == ["a", "b"]
    assert log.events("warning", "info") == ["database_unavailable", "database_back"]
    assert health.available


async def test_other_errors_are_not_retried() -> None:
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError, match="a bug"):
        await ride_through(broken, task="t", stop=asyncio.Event(), health=DatabaseHealth(log=Log()),
                           probe=Probe(), backoff=FAST)
    assert calls == 1


async def test_stop_ends_the_backoff_at_once() -> None:
    stop, work = asyncio.Event(), Work(failures=1_000)
    run = asyncio.create_task(ride_through(work, task="t", stop=stop, health=DatabaseHealth(log=Log()),
                                           probe=Probe(), backoff=SLOW))
    await asyncio.wait_for(work.failed.wait(), 5)
    stop.set()
    assert await asyncio.wait_for(run, 2) is STOPPED  # not an hour later
    assert work.calls == 1


async def test_stop_ends_a_probe_that_hangs() -> None:
    stop, work = asyncio.Event(), Work(failures=1)
    probing, cancelled = asyncio.Event(), asyncio.Event()

    async def hanging_probe() -> None:
        probing.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    run = asyncio.create_task(ride_through(work, task="t", stop=stop, health=DatabaseHealth(log=Log()),
                                           probe=hanging_probe, backoff=FAST))
    await asyncio.wait_for(probing.wait(), 5)
    stop.set()
    assert await asyncio.wait_for(run, 2) is STOPPED
    assert cancelled.is_set() and work.calls == 1


async def test_stop_already_set_when_the_unit_fails_returns_without_waiting() -> None:
    stop = asyncio.Event()

    async def failing_on_the_way_out() -> None:
        stop.set()
        raise StoreUnavailable("down")

    probe = Probe()
    assert await asyncio.wait_for(ride_through(failing_on_the_way_out, task="t", stop=stop,
                                               health=DatabaseHealth(log=Log()), probe=probe, backoff=SLOW),
                                  2) is STOPPED
    assert probe.calls == 0


async def test_a_loop_that_returns_on_stop_is_returned_from() -> None:
    stop = asyncio.Event()
    entered = asyncio.Event()

    async def loop() -> None:
        entered.set()
        await stop.wait()

    run = asyncio.create_task(ride_through(loop, task="t", stop=stop, health=DatabaseHealth(log=Log()),
                                           probe=Probe(), backoff=FAST))
    await asyncio.wait_for(entered.wait(), 5)
    stop.set()
    assert await asyncio.wait_for(run, 2) is None


def test_the_health_knows_the_last_state() -> None:
    log, now = Log(), [100.0]
    health = DatabaseHealth(log=log, clock=lambda: now[0])
    assert health.available
    health.lost("scheduler", StoreUnavailable("gone"))
    health.lost("lease-heartbeat", StoreUnavailable("gone"))
    assert not health.available
    now[0] = 103.04
    health.answered("scheduler")
    health.answered("lease-heartbeat")
    assert health.available
    assert [(lvl, ev) for lvl, ev, _ in log.lines] == [
        ("warning", "database_unavailable"), ("debug", "task_waiting_for_database"), ("info", "database_back")]
    assert log.lines[-1][2] == {"task": "scheduler", "down_for": 3.0}
