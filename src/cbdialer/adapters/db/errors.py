"""Which asyncpg failures mean "PostgreSQL cannot be reached right now", and the pool wrapper that reports them
as the port's StoreUnavailable, so that the shell can ride an outage through without importing asyncpg.

Rule: only connection-level failures are translated; an error about the statement itself (bad SQL, a violated
constraint, a serialization failure, ...) is a bug or a decision and stays what it is. A statement whose
connection dropped may or may not have been committed (see StoreUnavailable).
"""

from __future__ import annotations

import re
from types import TracebackType
from typing import Any

import asyncpg

from cbdialer.ports import StoreUnavailable

# SQLSTATE classes of a connection that failed or a server that is going away or not yet there: 08
# (connection exception: refused, broken, does not exist) and 57P (operator intervention: admin shutdown,
# crash shutdown, cannot connect now while starting up or shutting down, database dropped). 53300
# (too many connections) is a refusal at connect time that passes once connections are freed, as happens
# when every client reconnects after a restart. 57014 (query cancelled) is of class 57 but not 57P: not here.
# 40P01 (deadlock detected): the server rolled the statement back, so the same work done again is right.
_UNAVAILABLE_STATES = re.compile(r"^(08...|57P..|53300|40P01)$")
# asyncpg's own words for a connection that is gone (InterfaceError carries no SQLSTATE), and, from
# InternalClientError, for a statement whose connection was lost under it ("cannot switch to state 11; another
# operation (2) is in progress": seen when PostgreSQL restarts under a running query; the statements are
# guarded, so doing the work again is right).
_CLOSED = re.compile(r"connection (is|was) closed|underlying connection is closed|"
                     r"cannot switch to state \d+; another operation \(\d+\) is in progress")


class DatabaseUnavailable(StoreUnavailable):
    """PostgreSQL could not be reached, refused the connection, or the connection dropped."""


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says that PostgreSQL cannot be reached (rather than that a statement is wrong)."""
    if isinstance(exc, StoreUnavailable):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        return bool(_UNAVAILABLE_STATES.match(getattr(exc, "sqlstate", None) or ""))
    if isinstance(exc, (asyncpg.InterfaceError, asyncpg.InternalClientError)):
        return bool(_CLOSED.search(str(exc)))
    # Connection refused or reset, no route, a name that does not resolve, and TimeoutError (an OSError): a
    # connect or a statement that got no answer within its timeout (the server or the network is not there).
    return isinstance(exc, OSError)


def unavailable(exc: BaseException) -> DatabaseUnavailable | None:
    """The DatabaseUnavailable to raise in place of `exc` (from it), or None if `exc` is not one."""
    if isinstance(exc, DatabaseUnavailable) or not isinstance(exc, Exception) or not is_unavailable(exc):
        return None
    detail = str(exc) or type(exc).__name__
    return DatabaseUnavailable(f"PostgreSQL is unavailable: {detail}")


class _Acquired:
    """`async with pool.acquire() as conn:` whose connection-level failures, in the acquire or anywhere in
    the body (a transaction's commit included), come out as DatabaseUnavailable."""

    __slots__ = ("_context",)

    def __init__(self, context: Any) -> None:
        self._context = context

    async def __aenter__(self) -> asyncpg.Connection:
        try:
            return await self._context.__aenter__()
        except Exception as exc:
            if (translated := unavailable(exc)) is not None:
                raise translated from exc
            raise

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> bool | None:
        try:
            suppressed = await self._context.__aexit__(exc_type, exc, tb)
        except Exception as release_error:  # giving back a connection that broke
            if (translated := unavailable(release_error)) is not None:
                raise translated from release_error
            raise
        if exc is not None and not suppressed and (translated := unavailable(exc)) is not None:
            raise translated from exc
        return suppressed


class GuardedPool:
    """An asyncpg pool, of which only `acquire` (as an async context manager) and `close` are used; every
    connection-level failure under it is raised as DatabaseUnavailable. Everything the adapter runs goes
    through it, so a method added later is covered without a thought."""

    __slots__ = ("_pool",)

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def acquire(self, *, timeout: float | None = None) -> _Acquired:
        return _Acquired(self._pool.acquire(timeout=timeout))

    async def close(self) -> None:
        await self._pool.close()


def guarded(pool: asyncpg.Pool | GuardedPool) -> GuardedPool:
    return pool if isinstance(pool, GuardedPool) else GuardedPool(pool)
