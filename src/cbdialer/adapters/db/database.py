"""The PostgreSQL adapter: the only module that imports asyncpg. Rule: SQL comes from queries.sql or a
migration file, never from a string in the code."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from cbdialer import __version__
from cbdialer.adapters.db.errors import DatabaseUnavailable, guarded, is_unavailable, unavailable
from cbdialer.adapters.db.migrations import Migration, MigrationError, SchemaOutOfDate, load_migrations
from cbdialer.adapters.db.queries import load_queries
from cbdialer.adapters.db.store import PostgresStore

_DUE_CHANNEL = "cbdialer_due"
_CHANGED_CHANNEL = "cbdialer_changed"


async def _nothing_to_reset(_conn: asyncpg.Connection) -> None:
    """asyncpg's default reset runs one more round trip (RESET ALL, UNLISTEN, ...) every time a connection
    goes back to the pool. cbdialer keeps no session state on pool connections (LISTEN runs on connections of
    its own, settings are SET LOCAL, advisory locks are per transaction), and an open transaction is still
    rolled back by asyncpg itself, so there is nothing to reset."""


class Database:
    """The daemon's handle on PostgreSQL. Every method raises DatabaseUnavailable (a StoreUnavailable) when
    the server cannot be reached or the connection drops, and nothing else for that: see errors.py."""

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self._pool = guarded(pool)
        self._url = url
        self._q = load_queries()

    @classmethod
    async def connect(cls, url: str, *, min_size: int = 1, max_size: int = 10) -> Database:
        try:
            pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, command_timeout=30,
                                             reset=_nothing_to_reset)
        except (OSError, asyncpg.PostgresError) as exc:
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
        assert pool is not None
        return cls(pool, url)

    @staticmethod
    async def create_database_if_missing(url: str) -> bool:
        """Create the database named in `url` if it does not exist yet (connecting to the server's
        `postgres` database to do so). True if it was created."""
        try:
            conn = await asyncpg.connect(url)
        except asyncpg.InvalidCatalogNameError:
            pass
        except (OSError, asyncpg.PostgresError) as exc:
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
        else:
            await conn.close()
            return False
        params = urlsplit(url)
        name = params.path.lstrip("/")
        try:
            admin = await asyncpg.connect(urlunsplit(params._replace(path="/postgres")))
        except (OSError, asyncpg.PostgresError) as exc:
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL to create database {name!r}: {exc}") from exc
        try:
            # An identifier cannot be a bind parameter: quote it as quote_ident would.
            quoted = '"' + name.replace('"', '""') + '"'
            await admin.execute(load_queries()["create_database"].replace("{database}", quoted))
        except asyncpg.DuplicateDatabaseError:
            return False
        finally:
            await admin.close()
        return True

    async def close(self) -> None:
        await self._pool.close()

    def store(self) -> PostgresStore:
        return PostgresStore(self._pool)

    async def ping(self, timeout: float = 1.0) -> None:
        """One cheap round trip on a pooled connection; DatabaseUnavailable unless PostgreSQL answers within
        `timeout` seconds (connecting included)."""
        try:
            async with asyncio.timeout(timeout), self._pool.acquire() as conn:
                await conn.fetchval(self._q["ping"])
        except TimeoutError as exc:
            raise DatabaseUnavailable(f"PostgreSQL did not answer within {timeout:g} s") from exc

    async def available(self, timeout: float = 1.0) -> bool:
        """Whether PostgreSQL answers a ping within `timeout` seconds (for /healthz)."""
        try:
            await self.ping(timeout)
        except DatabaseUnavailable:
            return False
        return True

    async def listen_for_changes(self, changed: asyncio.Event, stop: asyncio.Event) -> None:
        """Set `changed` on every state change (NOTIFY cbdialer_changed) until `stop`; DatabaseUnavailable as
        listen_for_due."""
        await self._listen(_CHANGED_CHANNEL, changed, stop, "changes")

    async def listen_for_due(self, wake: asyncio.Event, stop: asyncio.Event) -> None:
        """Set `wake` whenever callbacks are written with a due time (NOTIFY cbdialer_due), until `stop`.
        DatabaseUnavailable if the listening connection cannot be opened or is lost: the caller opens it
        again after a backoff (cbdialer.supervision), and meanwhile the scheduler's poll covers for it."""
        await self._listen(_DUE_CHANNEL, wake, stop, "due callbacks")

    async def _listen(self, channel: str, signal: asyncio.Event, stop: asyncio.Event, what: str) -> None:
        lost = asyncio.Event()
        try:
            conn = await asyncpg.connect(self._url)
        except Exception as exc:
            if (translated := unavailable(exc)) is not None:
                raise translated from exc
            raise
        try:
            # Library callbacks only signal; the listener's owner does the work.
            await conn.add_listener(channel, lambda *_: signal.set())
            conn.add_termination_listener(lambda *_: lost.set())
            signal.set()  # anything written while we were not listening
            stopping = asyncio.ensure_future(stop.wait())
            dropped = asyncio.ensure_future(lost.wait())
            try:
                await asyncio.wait({stopping, dropped}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopping.cancel()
                dropped.cancel()
        except Exception as exc:
            if (translated := unavailable(exc)) is not None:
                raise translated from exc
            raise
        finally:
            if not conn.is_closed():
                try:
                    await conn.close()
                except Exception as exc:  # a connection that broke while closing is closed all the same
                    if not is_unavailable(exc):
                        raise
        if lost.is_set() and not stop.is_set():
            raise DatabaseUnavailable(f"the connection listening for {what} was lost")

    # -- schema --------------------------------------------------------------------------------------

    async def migrate(self, migrations: Sequence[Migration] | None = None) -> list[str]:
        """Apply what is missing; return the names applied (empty when up to date)."""
        migrations = load_migrations() if migrations is None else migrations
        applied_now: list[str] = []
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(self._q["migrations_lock"])
            await conn.execute(self._q["migrations_table"])
            applied = {row["version"]: row for row in await conn.fetch(self._q["migrations_applied"])}
            for migration in migrations:
                row = applied.get(migration.version)
                if row is not None:
                    if row["checksum"] != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.name} was changed after it was applied; "
                            "add a new migration instead of editing an applied one"
                        )
                    continue
                await conn.execute(migration.sql)
                await conn.execute(self._q["migrations_record"], migration.version, migration.name, migration.checksum)
                applied_now.append(migration.name)
        return applied_now

    async def pending_migrations(self) -> list[str]:
        """Names of migrations not yet applied (all of them on an empty database)."""
        async with self._pool.acquire() as conn:
            if not await conn.fetchval(self._q["migrations_table_exists"]):
                return [m.name for m in load_migrations()]
            applied = {row["version"] for row in await conn.fetch(self._q["migrations_applied"])}
        return [m.name for m in load_migrations() if m.version not in applied]

    async def require_schema(self) -> None:
        """SchemaOutOfDate unless every migration is applied: the one check before the daemon or a command
        uses the database."""
        pending = await self.pending_migrations()
        if pending:
            raise SchemaOutOfDate(f"the database schema is not up to date ({', '.join(pending)} missing): "
                                  "run `cbdialer migrate` first")

    # -- dialer nodes --------------------------------------------------------------------------------

    async def register_node(self) -> uuid.UUID:
        node_id = uuid.uuid4()
        await self.store().register_node(node_id, hostname=socket.gethostname(), pid=os.getpid(),
                                         version=__version__)
        return node_id

    async def heartbeat(self, node_id: uuid.UUID) -> datetime | None:
        return await self.store().node_heartbeat(node_id)

    async def node_stopped(self, node_id: uuid.UUID) -> None:
        await self.store().node_stopped(node_id)
