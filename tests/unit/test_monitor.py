"""The queue monitor (services/monitor.py) and what tells the pages it moved (adapters/http/changes.py): one read
per version of the book for every viewer, none older than MAX_AGE, and a move at each turn of the clock."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cbdialer.adapters.http.changes import Changes
from cbdialer.adapters.memory import MemoryStore
from cbdialer.domain.access import AccessDenied, Principal, Role
from cbdialer.domain.models import CallbackType
from cbdialer.ports.errors import StoreUnavailable
from cbdialer.services import Admin
from cbdialer.services.monitor import MAX_AGE

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # a Tuesday, 10:00 in London: the default schedule is open
STAFF = Principal(token_id=uuid.uuid4(), role=Role.SUPERVISOR)
OFFICE = {"timezone": "Europe/London", "weekly": [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(5)]}
AGENT = Principal(token_id=uuid.uuid4(), role=Role.AGENT, agent_id="1001", queues=frozenset({"sales"}))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class CountingStore(MemoryStore):
    """The memory store, counting the monitor's reads; a read can be held until released, or fail."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.reads = 0
        self.began = asyncio.Event()  # a read has begun
        self.hold: asyncio.Event | None = None
        self.fail = False

    async def queues_metrics(self, shifts: Any) -> dict[str, dict[str, Any]]:
        self.reads += 1
        self.began.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.fail:
            raise StoreUnavailable("the database is away")
        return await super().queues_metrics(shifts)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
async def store(clock: Clock) -> CountingStore:
    return CountingStore(clock)


@pytest.fixture
async def admin(store: CountingStore, clock: Clock) -> Admin:
    service = Admin(store, clock)
    for queue in ("sales", "support"):
        await service.queues.create_queue(STAFF, id=queue, name=None, settings={"schedule": OFFICE},
                                          skills=frozenset())
    return service


async def test_every_queue_has_a_row_in_the_queues_order(admin: Admin) -> None:
    await admin.callbacks.create_callback(STAFF, queue="support", destination="+442079460012",
                                          type=CallbackType.STANDARD, start_in=600)
    rows = await admin.monitor.rows(STAFF)
    assert [(r["queue"], r["status"], r["to_be_processed"]) for r in rows] == [
        ("sales", "active", 0), ("support", "active", 1)]
    assert rows[1] == await admin.monitor.row(STAFF, "support")


async def test_an_agent_has_no_monitor_but_may_read_a_queues_metrics(admin: Admin) -> None:
    """The monitor and its charts are the supervisor's; one queue's metrics are the API's minimum contract
    (docs/design.md section 13), open to whoever may read the queue."""
    with pytest.raises(AccessDenied):
        await admin.monitor.rows(AGENT)
    assert (await admin.monitor.row(AGENT, "sales"))["queue"] == "sales"
    with pytest.raises(AccessDenied):
        await admin.monitor.due_per_hour(AGENT, "sales")


async def test_viewers_of_one_version_share_one_read(admin: Admin, store: CountingStore) -> None:
    store.hold = asyncio.Event()
    viewers = [asyncio.create_task(admin.monitor.rows(STAFF, version=7)) for _ in range(5)]
    await asyncio.wait_for(store.began.wait(), 5)  # the first viewer's read has begun (and is held)
    viewers[0].cancel()  # one viewer leaves: the read the others wait for goes on
    store.hold.set()
    answers = await asyncio.gather(*viewers[1:])
    assert store.reads == 1 and all(a == answers[0] for a in answers)
    await admin.monitor.rows(STAFF, version=7)
    assert store.reads == 1
    await admin.monitor.rows(STAFF)  # no version: a read of its own
    assert store.reads == 2


async def test_a_new_version_or_an_old_read_is_read_again(admin: Admin, store: CountingStore, clock: Clock) -> None:
    before = await admin.monitor.rows(STAFF, version=1)
    await admin.callbacks.create_callback(STAFF, queue="sales", destination="+442079460012",
                                          type=CallbackType.STANDARD, start_in=600)
    assert await admin.monitor.rows(STAFF, version=1) == before  # the book moved, but nobody said so yet
    after = await admin.monitor.rows(STAFF, version=2)
    assert (before[0]["to_be_processed"], after[0]["to_be_processed"], store.reads) == (0, 1, 2)
    clock.now += MAX_AGE
    await admin.monitor.rows(STAFF, version=2)
    assert store.reads == 3


async def test_a_failed_read_is_not_kept(admin: Admin, store: CountingStore) -> None:
    store.fail = True
    with pytest.raises(StoreUnavailable):
        await admin.monitor.rows(STAFF, version=3)
    store.fail = False
    assert len(await admin.monitor.rows(STAFF, version=3)) == 2
    assert store.reads == 2


async def test_the_next_change_is_the_first_turn_of_any_queue(admin: Admin, clock: Clock) -> None:
    # Monday to Friday 09:00-17:00 in London (GMT in November).
    assert await admin.monitor.next_change(NOW) == datetime(2026, 11, 24, 17, 0, tzinfo=UTC)  # closing
    evening = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
    assert await admin.monitor.next_change(evening) == datetime(2026, 11, 25, 0, 0, tzinfo=UTC)  # a new shift
    await admin.queues.update_queue(STAFF, "support", settings={"schedule": {
        "timezone": "Asia/Kolkata", "weekly": [{"weekday": 2, "start": "00:00", "end": "04:00"}]}})
    # Wednesday 00:00 in Kolkata is Tuesday 18:30 UTC: support's shift and its opening, both before London's.
    assert await admin.monitor.next_change(evening) == datetime(2026, 11, 24, 18, 30, tzinfo=UTC)
    for queue in ("sales", "support"):
        await admin.queues.run_queue(STAFF, queue, False)
    # Stopped queues neither open nor close; their shifts still begin at midnight.
    assert await admin.monitor.next_change(NOW) == datetime(2026, 11, 24, 18, 30, tzinfo=UTC)


async def test_the_pages_version_moves_at_a_turn_with_no_write() -> None:
    changes = Changes()
    looked: list[datetime] = []

    async def turn(now: datetime) -> datetime | None:
        looked.append(now)
        return now + timedelta(milliseconds=50) if len(looked) <= 2 else None

    feeding = asyncio.create_task(changes.feed(asyncio.Event(), turn))
    try:
        assert await changes.next(0, timeout=5) == 1  # the first turn, with nothing notified
        assert await changes.next(1, timeout=5) == 2
        assert await changes.next(2, timeout=1.5) == 2  # no more turns: it stays
        assert len(looked) == 3
    finally:
        feeding.cancel()


async def test_a_turn_that_cannot_be_read_does_not_stop_the_notifications() -> None:
    changes = Changes()

    async def turn(now: datetime) -> datetime | None:
        raise StoreUnavailable("the database is away")

    changed = asyncio.Event()
    feeding = asyncio.create_task(changes.feed(changed, turn))
    try:
        changed.set()
        assert await changes.next(0, timeout=5) == 1
    finally:
        feeding.cancel()


async def test_a_slow_look_for_the_next_turn_does_not_hold_a_notification_up() -> None:
    """The turns are looked for in a task of their own: a look that waits for a busy pool (here, forever)
    delays no page; a write makes it look again."""
    changes = Changes()
    looks = asyncio.Semaphore(0)
    release = asyncio.Event()

    async def turn(now: datetime) -> datetime | None:
        looks.release()
        await release.wait()
        return None

    changed = asyncio.Event()
    feeding = asyncio.create_task(changes.feed(changed, turn))
    try:
        await asyncio.wait_for(looks.acquire(), 5)  # the first look has begun, and hangs
        changed.set()
        assert await changes.next(0, timeout=1) == 1  # told at once, the look still hanging
        release.set()
        await asyncio.wait_for(looks.acquire(), 5)  # the write made it look again
    finally:
        feeding.cancel()
