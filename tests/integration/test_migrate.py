"""`cbdialer migrate` against PostgreSQL: once, in order, under a lock, all or nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from cbdialer.adapters.db import Database, Migration, MigrationError, load_migrations
from tests.conftest import url_for

CBDIALER = str(Path(sys.executable).with_name("cbdialer"))


async def test_migrate_applies_everything_once(empty_database_url: str) -> None:
    db = await Database.connect(empty_database_url)
    try:
        assert await db.pending_migrations() == [m.name for m in load_migrations()]
        assert await db.migrate() == [m.name for m in load_migrations()]
        assert await db.migrate() == []
        assert await db.pending_migrations() == []
    finally:
        await db.close()
    conn = await asyncpg.connect(empty_database_url)
    try:
        rows = await conn.fetch("SELECT version, checksum FROM schema_migrations ORDER BY version")
        assert [(r["version"], r["checksum"]) for r in rows] == [(m.version, m.checksum) for m in load_migrations()]
    finally:
        await conn.close()


async def test_concurrent_migrators_apply_each_migration_once(empty_database_url: str) -> None:
    dbs = [await Database.connect(empty_database_url, max_size=1) for _ in range(4)]
    try:
        results = await asyncio.gather(*(db.migrate() for db in dbs))
    finally:
        for db in dbs:
            await db.close()
    applied = [name for result in results for name in result]
    assert sorted(applied) == sorted(m.name for m in load_migrations())


async def test_an_edited_migration_is_refused(db: Database) -> None:
    first = load_migrations()[0]
    edited = Migration(first.version, first.name, first.sql + "\n-- edited\n")
    with pytest.raises(MigrationError, match="was changed after it was applied"):
        await db.migrate([edited])


async def test_a_failing_migration_leaves_nothing_behind(db: Database, database_url: str) -> None:
    broken = [*load_migrations(),
              Migration(900, "0900_half", "CREATE TABLE half_done (id int);"),
              Migration(901, "0901_broken", "SELECT no_such_column FROM dialer_nodes;")]
    with pytest.raises(asyncpg.UndefinedColumnError):
        await db.migrate(broken)
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT to_regclass('half_done')") is None
        assert await conn.fetchval("SELECT max(version) FROM schema_migrations") == len(load_migrations())
    finally:
        await conn.close()


async def test_dialer_node_registers_heartbeats_and_stops(db: Database) -> None:
    node = await db.register_node()
    first = await db.heartbeat(node)
    second = await db.heartbeat(node)
    assert first is not None and second is not None and second >= first
    await db.node_stopped(node)
    assert await db.heartbeat(node) is None


def _cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CBDIALER_DATABASE_URL": url}
    return subprocess.run([CBDIALER, *args], env=env, capture_output=True, text=True, timeout=60)


async def test_cli_migrate_creates_the_database_and_is_idempotent(template_database: str) -> None:
    name = f"{template_database}_cli"
    url = url_for(name)
    try:
        first = await asyncio.to_thread(_cli, "migrate", url=url)
        assert first.returncode == 0, first.stderr
        assert "database_created" in first.stderr and "schema_migrated" in first.stderr
        second = await asyncio.to_thread(_cli, "migrate", url=url)
        assert second.returncode == 0, second.stderr
        assert "schema_up_to_date" in second.stderr and "database_created" not in second.stderr
    finally:
        conn = await asyncpg.connect(url_for("postgres"))
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.close()


async def test_cli_reports_an_unreachable_database_in_one_line() -> None:
    result = await asyncio.to_thread(_cli, "migrate", url="postgresql://postgres@127.0.0.1:1/nothing")
    assert result.returncode == 1
    assert result.stderr.startswith("cbdialer: cannot connect to PostgreSQL") and "Traceback" not in result.stderr


async def test_run_refuses_an_unmigrated_database(empty_database_url: str) -> None:
    result = await asyncio.to_thread(_cli, "run", url=empty_database_url)
    assert result.returncode == 1
    assert "run `cbdialer migrate` first" in result.stderr
