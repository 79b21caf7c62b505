"""The AMI event consumer's lanes (cbdialer/consumer.py): an attempt's events in the order heard, other
attempts' beside them, at most LANES at once, and a failure is the consumer's."""

from __future__ import annotations

import asyncio

import pytest

from cbdialer.adapters.ami import AttemptReport
from cbdialer.consumer import Lanes, consume
from cbdialer.supervision import DatabaseHealth


class Applier:
    """Applies events named "attempt:n"; an event blocks until it is released, and says when it began."""

    def __init__(self) -> None:
        self.began: list[str] = []
        self.applied: list[str] = []
        self.release: dict[str, asyncio.Event] = {}
        self.changed = asyncio.Condition()

    async def __call__(self, event: object) -> bool:
        name = str(event)
        async with self.changed:
            self.began.append(name)
            self.changed.notify_all()
        await self.release.setdefault(name, asyncio.Event()).wait()
        if name.endswith("boom"):
            raise RuntimeError(name)
        async with self.changed:
            self.applied.append(name)
            self.changed.notify_all()
        return True

    def let(self, *names: str) -> None:
        for name in names:
            self.release.setdefault(name, asyncio.Event()).set()

    async def began_all(self, *names: str) -> None:
        async with asyncio.timeout(2), self.changed:
            await self.changed.wait_for(lambda: all(n in self.began for n in names))


async def test_an_attempts_events_are_applied_in_order_and_others_beside_them() -> None:
    applier = Applier()
    lanes = Lanes(applier, limit=4)
    await lanes.add("a", "a:1")
    await lanes.add("a", "a:2")
    await lanes.add("b", "b:1")
    await applier.began_all("a:1", "b:1")  # b does not wait for a
    assert "a:2" not in applier.began  # a's second waits for its first
    applier.let("a:2", "b:1")  # released early: still after a:1
    async with asyncio.timeout(2), applier.changed:
        await applier.changed.wait_for(lambda: applier.applied == ["b:1"])
    applier.let("a:1")
    await lanes.drain()
    assert applier.applied == ["b:1", "a:1", "a:2"]


async def test_no_more_than_the_limit_run_at_once_and_drain_waits_for_all() -> None:
    applier = Applier()
    lanes = Lanes(applier, limit=2)
    await lanes.add("a", "a:1")
    await lanes.add("b", "b:1")
    third = asyncio.ensure_future(lanes.add("c", "c:1"))  # waits for a free lane: the link's queue holds it
    await applier.began_all("a:1", "b:1")
    assert not third.done()
    applier.let("a:1")
    async with asyncio.timeout(2):
        await third
    drained = asyncio.ensure_future(lanes.drain())
    await applier.began_all("c:1")
    assert not drained.done()
    applier.let("b:1", "c:1")
    async with asyncio.timeout(2):
        await drained
    assert sorted(applier.applied) == ["a:1", "b:1", "c:1"]


async def test_a_failure_in_a_lane_is_the_consumers_and_other_attempts_still_run() -> None:
    applier = Applier()
    lanes = Lanes(applier, limit=4)
    await lanes.add("a", "a:boom")
    await lanes.add("b", "b:1")
    applier.let("a:boom", "b:1")
    with pytest.raises(RuntimeError, match="a:boom"):
        await lanes.drain()
    await lanes.drain()
    assert applier.applied == ["b:1"]
    await lanes.close()


async def test_a_failed_event_stops_its_attempts_later_ones_and_wakes_the_consumer() -> None:
    applier = Applier()
    lanes = Lanes(applier, limit=4)
    await lanes.add("a", "a:boom")
    await lanes.add("a", "a:2")
    applier.let("a:boom", "a:2")
    await asyncio.wait_for(lanes.failed.wait(), 2)  # the consumer is told at once, not at the next event
    with pytest.raises(RuntimeError, match="a:boom"):
        await lanes.drain()
    assert "a:2" not in applier.began  # the attempt missed an event: its later ones are not applied
    await lanes.close()


async def test_the_consumer_fails_when_a_lane_does_though_the_link_is_quiet() -> None:
    """As the inline consumer did: the first failure stops it (its supervisor decides what follows), at once,
    not at the next event (a quiet link would otherwise keep a failed consumer running)."""
    class Link:
        events: asyncio.Queue = asyncio.Queue()

    class FailingDialer:
        def attempt_of(self, event: object) -> str | None:
            return "a"

        async def on_event(self, event: object) -> None:
            raise RuntimeError("a bug in applying it")

    async def probe() -> None:
        return None

    link = Link()
    link.events = asyncio.Queue()
    link.events.put_nowait(AttemptReport(kind="Result", attempt_id="a"))
    with pytest.raises(RuntimeError, match="a bug"):
        await asyncio.wait_for(consume(link, FailingDialer(), asyncio.Event(),  # type: ignore[arg-type]
                                       health=DatabaseHealth(), probe=probe), 2)
