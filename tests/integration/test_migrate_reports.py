"""Migration 0011 (the reports) over a book that has data: every queue gets its run (open if it runs), every
number a contact, every agent a name (its id); and a callback written afterwards, or given a new number, has its
contact."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from cbdialer.adapters.db import Database, load_migrations
from tests.support.contracts.common import make_callback

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


async def test_0011_names_agents_opens_runs_and_makes_contacts(empty_database_url: str) -> None:
    db = await Database.connect(empty_database_url, max_size=2)
    conn = await asyncpg.connect(empty_database_url)
    try:
        await db.migrate([m for m in load_migrations() if m.version < 11])
        await conn.execute("INSERT INTO queues (id, name, status, created_at) VALUES ('sales', 'Sales', 'active', $1),"
                           " ('night', 'Night', 'stopped', $1)", T0)
        await conn.execute("INSERT INTO agents (id, dial_string) VALUES ('1001', 'PJSIP/agent-1001')")
        for number, queue in (("+442079460012", "sales"), ("+442079460012", "night"), ("+442079460024", "sales")):
            await conn.execute(
                "INSERT INTO callbacks (id, queue_id, destination, type, state, reason, due_at, start_at, end_at)"
                " VALUES ($1, $2, $3, 'standard', 'scheduled', 'created', $4, $4, $5)",
                uuid.uuid4(), queue, number, T0, T0 + timedelta(hours=5))
        await db.migrate()
        assert await conn.fetchval("SELECT name FROM agents WHERE id = '1001'") == "1001"
        runs = {r["queue_id"]: r for r in await conn.fetch("SELECT * FROM queue_runs")}
        assert runs["sales"]["started_at"] == T0 and runs["sales"]["stopped_at"] is None
        assert runs["night"]["stopped_at"] is not None
        assert [r["number"] for r in await conn.fetch("SELECT number FROM contacts ORDER BY id")] == [
            "+442079460012", "+442079460024"]
        store = db.store()
        later = make_callback(T0 + timedelta(hours=1), destination="+442079460033")
        await store.add_callback(later, actor="test")
        await conn.execute("UPDATE callbacks SET destination = '+442079460045' WHERE id = $1", later.id)
        assert await conn.fetchval("SELECT count(*) FROM contacts") == 4
        assert (await store.contact("+442079460045", limit=5))[1][0].id == later.id
    finally:
        await conn.close()
        await db.close()
