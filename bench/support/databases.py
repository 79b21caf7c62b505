"""The benchmarks' databases: named per run, created and migrated with the product's own migrations, seeded
through the product's store, loaded with COPY, settled with CHECKPOINT, and dropped at the end (also after a
failure). Bench SQL only (loading, settling, cleaning up)."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from cbdialer.adapters.db import Database

from support.machine import kernel_dirty_mb
from support.output import log, now_utc

# The columns the benchmarks COPY a callback with (the others keep their defaults).
CALLBACK_COLUMNS = ["id", "queue_id", "destination", "type", "state", "reason", "due_at", "start_at", "end_at",
                    "created_at", "updated_at"]
FIVE_HOURS = timedelta(hours=5)
TERMINAL = ("completed", "failed", "expired", "cancelled", "cancelled_by_inbound", "overwritten",
            "contact_excluded", "purged", "queue_terminated")


def database_url(server_url: str, name: str) -> str:
    return urlunsplit(urlsplit(server_url)._replace(path="/" + name))


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def server_version(server_url: str) -> str:
    """"PostgreSQL 15.20", say."""
    admin = await asyncpg.connect(server_url)
    try:
        return " ".join((await admin.fetchval("SELECT version()")).split()[:2])
    finally:
        await admin.close()


async def migrated_database(server_url: str, name: str, *, max_size: int = 2,
                            seed: Callable[[Any], Awaitable[None]] | None = None) -> tuple[str, list[str]]:
    """A new database `name` on the server, migrated, then `seed(store)` (the product's PostgresStore); its URL
    and the migrations applied."""
    url = database_url(server_url, name)
    await Database.create_database_if_missing(url)
    db = await Database.connect(url, max_size=max_size)
    try:
        applied = await db.migrate()
        if seed is not None:
            await seed(db.store())
    finally:
        await db.close()
    return url, applied


async def drop_databases(server_url: str, names: list[str]) -> None:
    try:
        admin = await asyncpg.connect(server_url, timeout=10)
    except Exception as exc:  # noqa: BLE001 - clean-up reports and goes on
        log(f"could not connect to drop {names}: {exc!r}")
        return
    try:
        for name in names:
            try:
                await admin.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
                log(f"dropped database {name}")
            except Exception as exc:  # noqa: BLE001
                log(f"could not drop {name}: {exc!r}")
    finally:
        await admin.close()


def callback_record(callback_id: uuid.UUID, queue_id: str, number: str, due: datetime, now: datetime) -> tuple:
    """A scheduled standard callback, due at `due`, ending 5 hours later (CALLBACK_COLUMNS)."""
    return (callback_id, queue_id, number, "standard", "scheduled", "created", due, due, due + FIVE_HOURS, now, now)


def records_due(numbers: list[str], dues: list[datetime], queue_id: str,
                now: datetime) -> tuple[list[tuple], list[uuid.UUID]]:
    records, ids = [], []
    for number, due in zip(numbers, dues):
        callback_id = uuid.uuid4()
        ids.append(callback_id)
        records.append(callback_record(callback_id, queue_id, number, due, now))
    return records, ids


async def load_future_callbacks(conn: asyncpg.Connection, rows: int, *, queue_id: str, chunk: int,
                                what: str = "callbacks") -> float:
    """`rows` callbacks of `queue_id` due 1 hour to 30 days ahead (+4420794nnnnnnn, the same every run), written
    with COPY `chunk` at a time; the seconds it took."""
    rng = random.Random(20240611)
    now = now_utc()
    first_due = now + timedelta(hours=1)
    t_load = time.perf_counter()
    done = 0
    while done < rows:
        end = min(rows, done + chunk)
        records = [callback_record(uuid.uuid4(), queue_id, f"+4420794{i:07d}",
                                   first_due + timedelta(seconds=rng.random() * 30 * 86400.0), now)
                   for i in range(done, end)]
        await conn.copy_records_to_table("callbacks", records=records, columns=CALLBACK_COLUMNS)
        done = end
        log(f"loaded {done:,} / {rows:,} {what} ({done / (time.perf_counter() - t_load):,.0f} rows/s)")
    return time.perf_counter() - t_load


async def checkpoint(conn: asyncpg.Connection) -> tuple[float, float, float]:
    """CHECKPOINT, so that a bulk load's dirty pages are written now and not by the kernel's writeback in the
    middle of a measurement: (seconds, kernel dirty + writeback MB before, after)."""
    before = kernel_dirty_mb()
    t0 = time.perf_counter()
    await conn.execute("CHECKPOINT")
    return time.perf_counter() - t0, before, kernel_dirty_mb()
