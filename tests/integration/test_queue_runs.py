"""A queue's runs (the reports' Job ID) in PostgreSQL, under faults: two processes starting a queue at once open
one run; the database itself refuses a second open run; a run left open behind a stopped queue (a crash, an
older version, a hand edit) neither breaks the report nor survives the next start."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from cbdialer.adapters.db import Database
from cbdialer.domain.models import Queue, QueueStatus
from tests.support.contracts.common import make_callback

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


async def open_runs(url: str, queue_id: str = "sales") -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch("SELECT id, started_at, stopped_at FROM queue_runs WHERE queue_id = $1"
                                " AND stopped_at IS NULL", queue_id)
    finally:
        await conn.close()


async def test_two_processes_starting_a_queue_at_once_open_one_run(database_url: str) -> None:
    dbs = [await Database.connect(database_url, max_size=2) for _ in range(2)]
    try:
        await dbs[0].store().save_queue(Queue(id="sales", name="Sales", status=QueueStatus.STOPPED), now=T0)
        assert await open_runs(database_url) == []
        for round_ in range(5):
            at = T0 + timedelta(minutes=round_)
            await asyncio.gather(*(db.store().set_queue_running("sales", True, now=at, actor=f"p{i}")
                                   for i, db in enumerate(dbs)))
            [run] = await open_runs(database_url)
            assert run["started_at"] == at
            await asyncio.gather(*(db.store().set_queue_running("sales", False, now=at + timedelta(seconds=30),
                                                                actor=f"p{i}") for i, db in enumerate(dbs)))
            assert await open_runs(database_url) == []
    finally:
        for db in dbs:
            await db.close()


async def test_the_database_refuses_a_second_open_run(db: Database, database_url: str) -> None:
    await db.store().save_queue(Queue(id="sales", name="Sales"), now=T0)
    conn = await asyncpg.connect(database_url)
    try:
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute("INSERT INTO queue_runs (queue_id, started_at) VALUES ('sales', $1)", T0)
    finally:
        await conn.close()


async def test_a_run_left_open_behind_a_stopped_queue_breaks_nothing(db: Database, database_url: str) -> None:
    store = db.store()
    await store.save_queue(Queue(id="sales", name="Sales"), now=T0)
    conn = await asyncpg.connect(database_url)
    try:  # stopped without its run closed: what a half-done stop of another version could leave
        await conn.execute("UPDATE queues SET status = 'stopped' WHERE id = 'sales'")
    finally:
        await conn.close()
    callback = make_callback(T0 + timedelta(hours=1), created_at=T0 + timedelta(minutes=5))
    await store.add_callback(callback, actor="test")
    [row] = await store.report("scheduled", start=T0, end=T0 + timedelta(hours=1), agent_id=None, queue_id=None,
                               limit=10, rows=10)
    [stale] = await open_runs(database_url)
    assert row["job_id"] == stale["id"]  # one row, one job
    restart = T0 + timedelta(minutes=10)
    await store.set_queue_running("sales", True, now=restart, actor="test")
    [fresh] = await open_runs(database_url)
    assert fresh["id"] != stale["id"] and fresh["started_at"] == restart
