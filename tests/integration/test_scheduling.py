"""Schedulers against one PostgreSQL: never the same callback twice, nothing lost when one dies holding
leases, and LISTEN/NOTIFY wake-ups."""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import asyncpg

from cbdialer.adapters.db import Database
from cbdialer.domain.lifecycle import CallbackState
from cbdialer.domain.models import Callback, CallbackType, CallingWindow, Queue, QueueSettings, Schedule
from cbdialer.domain.routing import AgentView
from cbdialer.scheduler import Scheduler
from tests.support.recording_dialer import Agents, RecordingDialer

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
OPEN_ALL_HOURS = Queue(id="sales", name="Sales", settings=QueueSettings(
    schedule=Schedule(), calling_window=CallingWindow(time(0, 0), time.max)))
AGENT = AgentView(id="1001", queues=frozenset({"sales"}))


def records(count: int, due: datetime) -> list[tuple[object, ...]]:
    return [(uuid.uuid4(), "sales", f"+4420794{i % 100000:05d}", "standard", "scheduled", "created", due, due,
             due + timedelta(hours=5), NOW - timedelta(hours=1)) for i in range(count)]


async def load(url: str, count: int, due: datetime) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.copy_records_to_table(
            "callbacks", records=records(count, due),
            columns=["id", "queue_id", "destination", "type", "state", "reason", "due_at", "start_at", "end_at",
                     "created_at"])
    finally:
        await conn.close()


async def test_concurrent_schedulers_never_claim_the_same_callback(database_url: str) -> None:
    dbs = [await Database.connect(database_url, max_size=2) for _ in range(4)]
    try:
        await dbs[0].store().save_queue(OPEN_ALL_HOURS)
        await load(database_url, 3000, NOW - timedelta(seconds=5))
        dialers = [RecordingDialer() for _ in dbs]
        schedulers = [Scheduler(db.store(), dialer, Agents(), owner=uuid.uuid4(), clock=lambda: NOW, batch=50)
                      for db, dialer in zip(dbs, dialers, strict=True)]

        async def drain(scheduler: Scheduler) -> None:
            while await scheduler.tick():
                pass

        await asyncio.gather(*(drain(s) for s in schedulers))
        presented = Counter(cid for dialer in dialers for cid in dialer.presented)
        assert len(presented) == 3000 and set(presented.values()) == {1}
        assert all(dialer.presented for dialer in dialers)  # they really ran side by side
    finally:
        for db in dbs:
            await db.close()


async def test_a_dead_schedulers_leases_are_taken_over_after_they_expire(database_url: str) -> None:
    lease = timedelta(seconds=30)
    dead_db, live_db = await Database.connect(database_url), await Database.connect(database_url)
    try:
        await dead_db.store().save_queue(OPEN_ALL_HOURS)
        await load(database_url, 500, NOW)
        doomed = Scheduler(dead_db.store(), RecordingDialer(), Agents(), owner=uuid.uuid4(), clock=lambda: NOW,
                           batch=500, lease=lease)
        assert await doomed.tick() == 500  # claimed and handed to its dialer, which then dies with it
        await dead_db.close()  # no release, no heartbeat: as after kill -9

        survivor_dialer = RecordingDialer()
        clock = {"now": NOW + lease - timedelta(seconds=1)}
        survivor = Scheduler(live_db.store(), survivor_dialer, Agents(), owner=uuid.uuid4(),
                             clock=lambda: clock["now"], batch=500, lease=lease)
        assert await survivor.tick() == 0  # still leased
        clock["now"] = NOW + lease
        assert await survivor.tick() == 500
        assert len(set(survivor_dialer.presented)) == 500
        conn = await asyncpg.connect(database_url)
        try:
            states = await conn.fetch("SELECT state, count(*) FROM callbacks GROUP BY state")
        finally:
            await conn.close()
        assert {r["state"]: r["count"] for r in states} == {CallbackState.QUEUED.value: 500}
    finally:
        await live_db.close()


async def test_a_scheduler_killed_with_sigkill_loses_nothing(database_url: str) -> None:
    count, lease = 200, 2.0
    db = await Database.connect(database_url)
    try:
        await db.store().save_queue(OPEN_ALL_HOURS)
        await load(database_url, count, datetime.now(UTC) - timedelta(seconds=1))
        doomed = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__).parents[1] / "support" / "doomed_scheduler.py"), database_url, str(count), str(lease),
            stdout=asyncio.subprocess.PIPE)
        try:
            assert doomed.stdout is not None
            line = await asyncio.wait_for(doomed.stdout.readline(), 30)
            assert line.decode().strip() == f"CLAIMED {count}"
        finally:
            doomed.send_signal(signal.SIGKILL)
            await doomed.wait()

        survivor_dialer = RecordingDialer()
        survivor = Scheduler(db.store(), survivor_dialer, Agents(), owner=uuid.uuid4(),
                             clock=lambda: datetime.now(UTC), batch=count, poll_interval=0.2,
                             lease=timedelta(seconds=lease))
        stop = asyncio.Event()
        task = asyncio.create_task(survivor.run(stop))
        try:
            await survivor_dialer.wait_for(count, timeout=lease * 5)
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)
        assert len(set(survivor_dialer.presented)) == count
    finally:
        await db.close()


async def test_notify_wakes_the_listener_for_what_is_due_soon_only(db: Database) -> None:
    """A callback due within seconds wakes the schedulers; one due tomorrow does not (the poll finds it, and
    every NOTIFY serialises commits)."""
    wake, stop = asyncio.Event(), asyncio.Event()
    listener = asyncio.create_task(db.listen_for_due(wake, stop))
    store = db.store()
    await store.save_queue(OPEN_ALL_HOURS)

    async def add(due: datetime) -> None:
        await store.add_callback(Callback(
            id=uuid.uuid4(), queue_id="sales", destination="+442079460012", type=CallbackType.STANDARD,
            state=CallbackState.SCHEDULED, due_at=due, start_at=due, end_at=due + timedelta(hours=1),
            created_at=due - timedelta(minutes=1)), actor="test")
    try:
        await asyncio.wait_for(wake.wait(), 5)  # set once on connect
        wake.clear()
        await add(datetime.now(UTC) + timedelta(days=1))
        await add(datetime.now(UTC) + timedelta(seconds=1))  # NOTIFYs arrive in commit order
        await asyncio.wait_for(wake.wait(), 5)
        wake.clear()
        conn = await asyncpg.connect(db._url)  # noqa: SLF001 - a listener of the test's own, to count
        heard: list[str] = []
        arrived = asyncio.Event()

        def on_notify(*args: object) -> None:
            heard.append(str(args[-1]))
            arrived.set()
        await conn.add_listener("cbdialer_due", on_notify)
        await add(datetime.now(UTC) + timedelta(days=1))
        await add(datetime.now(UTC))
        await asyncio.wait_for(arrived.wait(), 5)  # delivered in commit order: tomorrow's would come first
        await conn.close()
        assert len(heard) == 1 and abs(float(heard[0]) - datetime.now(UTC).timestamp()) < 60
    finally:
        stop.set()
        await asyncio.wait_for(listener, 5)


async def test_a_claim_does_not_notify(db: Database, database_url: str) -> None:
    """Claims write due_at (the lease) for leased rows only: no wake-up storm from the claimers themselves."""
    store = db.store()
    await store.save_queue(OPEN_ALL_HOURS)
    await load(database_url, 10, NOW)
    conn = await asyncpg.connect(database_url)
    heard: list[str] = []
    try:
        await conn.add_listener("cbdialer_due", lambda *args: heard.append(args[3]))
        await store.claim_due(uuid.uuid4(), now=NOW, limit=10, lease=timedelta(seconds=30))
        await conn.execute("SELECT 1")  # a round trip: any notification sent before it has arrived
    finally:
        await conn.close()
    assert heard == []
