"""The kept counts of callbacks by queue and state (migration 0018): always what counting the rows gives, through
every kind of write, a rollback, a fold and the migration itself, and no writer ever waits on another for them."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg

from cbdialer.adapters.db import Database, load_migrations
from cbdialer.domain.lifecycle import ACTIVE_STATES, CallbackState, Reason
from cbdialer.domain.models import CompletionStatus, Queue
from tests.support.contracts.common import LEASE, QUEUE, T0, add_agent, end, live_call, make_callback

COUNTED = "SELECT queue_id, state, count(*) AS n FROM callbacks GROUP BY 1, 2 ORDER BY 1, 2"
KEPT = """SELECT queue_id, state, sum(n)::bigint AS n FROM (
    SELECT queue_id, state, n FROM callback_counts UNION ALL
    SELECT queue_id, state, delta FROM callback_count_changes) AS k
GROUP BY 1, 2 HAVING sum(n) <> 0 ORDER BY 1, 2"""


async def same(conn: asyncpg.Connection) -> list[tuple[str, str, int]]:
    counted = [tuple(r) for r in await conn.fetch(COUNTED)]
    assert [tuple(r) for r in await conn.fetch(KEPT)] == counted
    return counted


async def test_the_kept_counts_follow_every_write(db: Database, database_url: str) -> None:
    store = db.store()
    await store.save_queue(QUEUE)
    await store.save_queue(Queue(id="support", name="Support"))
    for agent in ("1001", "1002"):
        await add_agent(store, agent)
    conn = await asyncpg.connect(database_url)
    try:
        created = [make_callback(T0 + timedelta(minutes=n), destination=f"+44207946001{n}") for n in range(5)]
        for callback in created:
            await store.add_callback(callback, actor="test")
        await store.add_callback(make_callback(T0, queue_id="support", destination="+442079460020"), actor="test")
        assert await same(conn) == [("sales", "scheduled", 5), ("support", "scheduled", 1)]
        handled, attempt, owner = await live_call(store, created[0], now=T0)  # claims what is due: one
        assert ("sales", "in_progress", 1) in await same(conn)
        await end(store, handled, attempt, owner=owner, now=T0 + timedelta(seconds=30))
        await store.transition(created[1].id, expected=CallbackState.SCHEDULED, to=CallbackState.PURGED,
                               reason=Reason.PURGED, now=T0, actor="test")
        claimed = await store.claim_due(uuid.uuid4(), now=T0 + timedelta(hours=1), limit=10, lease=LEASE)
        assert len(claimed) == 4  # the other three of sales, and support's
        await store.set_queue_running("sales", False, now=T0 + timedelta(hours=1), actor="test")
        await same(conn)
        # A write rolled back takes its changes with it.
        await conn.execute("BEGIN")
        await conn.execute("UPDATE callbacks SET state = 'cancelled' WHERE queue_id = 'support'")
        assert ("support", "cancelled", 1) in await same(conn)  # its own changes, inside it
        await conn.execute("ROLLBACK")
        await conn.execute("BEGIN")
        await conn.execute("DELETE FROM callbacks WHERE queue_id = 'support'")
        await conn.execute("ROLLBACK")
        before = await same(conn)
        assert ("support", "queued", 1) in before
        # A plain read writes nothing (it is /healthz's, without a daemon); a fold (the daemon's book-figures
        # task) changes nothing a reader sees, and leaves no change to read.
        changes = await conn.fetchval("SELECT count(*) FROM callback_count_changes")
        assert changes > 0 and await store.book_figures(T0) == await store.book_figures(T0)
        assert await conn.fetchval("SELECT count(*) FROM callback_count_changes") == changes
        figures = await store.book_figures(T0, fold=True)
        assert await conn.fetchval("SELECT count(*) FROM callback_count_changes") == 0
        assert await same(conn) == before
        active = [(q, s, n) for q, s, n in before if CallbackState(s) in ACTIVE_STATES]
        assert figures["callbacks"] == active
        await conn.execute("DELETE FROM callbacks WHERE queue_id = 'support'")
        await conn.execute("TRUNCATE callbacks CASCADE")
        assert await same(conn) == []
        assert await conn.fetchval("SELECT count(*) FROM callback_counts") == 0
    finally:
        await conn.close()


async def test_writers_of_one_queue_never_wait_on_each_other_for_the_counts(db: Database, database_url: str) -> None:
    store = db.store()
    await store.save_queue(QUEUE)
    first, second = make_callback(destination="+442079460031"), make_callback(destination="+442079460032")
    for callback in (first, second):
        await store.add_callback(callback, actor="test")
    one, other = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
    try:
        await one.execute("BEGIN")
        await one.execute("UPDATE callbacks SET state = 'cancelled' WHERE id = $1", first.id)
        await other.execute("SET lock_timeout = '2s'")  # a wait on `one` would fail here
        async with other.transaction():
            await other.execute("UPDATE callbacks SET state = 'cancelled' WHERE id = $1", second.id)
        await other.execute(store._q["callback_counts_fold"])  # noqa: SLF001 - a fold meanwhile does not wait either
        async with other.transaction():
            await other.execute("UPDATE callbacks SET state = 'purged' WHERE id = $1", second.id)
        await one.execute("COMMIT")
        assert await same(one) == [("sales", "cancelled", 1), ("sales", "purged", 1)]
    finally:
        await one.close()
        await other.close()


async def test_the_migration_counts_the_book_it_finds(empty_database_url: str) -> None:
    db = await Database.connect(empty_database_url)
    try:
        await db.migrate([m for m in load_migrations() if m.version < 18])
        store = db.store()
        await store.save_queue(QUEUE)
        await add_agent(store, "1001")
        for n in range(3):
            await store.add_callback(make_callback(T0, destination=f"+44207946004{n}"), actor="test")
        callback, attempt, owner = await live_call(store, now=T0)
        await end(store, callback, attempt, owner=owner, status=CompletionStatus.HANDLED, now=T0 + LEASE)
        await db.migrate()
        conn = await asyncpg.connect(empty_database_url)
        try:
            assert await same(conn) == [("sales", "completed", 1), ("sales", "queued", 3)]
            assert await conn.fetchval("SELECT count(*) FROM callback_count_changes") == 0
        finally:
            await conn.close()
    finally:
        await db.close()
