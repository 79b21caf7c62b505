"""Shared fixtures. PostgreSQL: a migrated template database made once per run, and a fresh copy of it per
test (CREATE DATABASE ... TEMPLATE takes milliseconds, a migration run does not)."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from cbdialer.adapters.db import Database

SERVER_URL = os.environ.get("CBDIALER_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
_names = itertools.count()


def url_for(database: str) -> str:
    return urlunsplit(urlsplit(SERVER_URL)._replace(path=f"/{database}"))


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(SERVER_URL)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _unique(kind: str) -> str:
    # The pid keeps concurrent test runs on one server (a developer and CI) apart.
    return f"cbdialer_{kind}_{os.getpid()}_{next(_names)}"


@pytest.fixture(scope="session")
def template_database() -> Iterator[str]:
    name = _unique("template")

    async def create() -> None:
        await _admin(f"CREATE DATABASE {name}")
        db = await Database.connect(url_for(name), max_size=1)
        try:
            await db.migrate()
        finally:
            await db.close()

    asyncio.run(create())
    yield name
    asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
async def database_url(template_database: str) -> AsyncIterator[str]:
    """A migrated database of this test's own."""
    name = _unique("test")
    await _admin(f"CREATE DATABASE {name} TEMPLATE {template_database}")
    yield url_for(name)
    await _counts_kept(url_for(name))
    await _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def _counts_kept(url: str) -> None:
    """After every test that wrote the book, whatever it did: the kept counts (migration 0018) are what
    counting the rows gives."""
    conn = await asyncpg.connect(url)
    try:
        counted = await conn.fetch("SELECT queue_id, state, count(*) AS n FROM callbacks GROUP BY 1, 2 ORDER BY 1, 2")
        kept = await conn.fetch("""SELECT queue_id, state, sum(n)::bigint AS n FROM (
            SELECT queue_id, state, n FROM callback_counts UNION ALL
            SELECT queue_id, state, delta FROM callback_count_changes) AS k
            GROUP BY 1, 2 HAVING sum(n) <> 0 ORDER BY 1, 2""")
    finally:
        await conn.close()
    assert [tuple(r) for r in kept] == [tuple(r) for r in counted], "the kept counts drifted from the book"


@pytest.fixture
async def empty_database_url() -> AsyncIterator[str]:
    """An empty database of this test's own (no schema at all)."""
    name = _unique("empty")
    await _admin(f"CREATE DATABASE {name}")
    yield url_for(name)
    await _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await Database.connect(database_url)
    yield database
    await database.close()
