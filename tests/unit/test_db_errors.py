"""The db adapter's line between "PostgreSQL cannot be reached" (StoreUnavailable) and an error of the
statement itself (left as it is), and the pool wrapper that draws it."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import asyncpg.exceptions as pg
import pytest

from cbdialer.adapters.db import DatabaseUnavailable
from cbdialer.adapters.db.errors import GuardedPool, guarded, is_unavailable, unavailable
from cbdialer.ports import StoreUnavailable


@pytest.mark.parametrize("exc", [
    pg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    pg.PostgresConnectionError("connection exception"),
    pg.ConnectionFailureError("connection failure"),
    pg.ClientCannotConnectError("cannot connect"),
    pg.ConnectionRejectionError("rejected"),
    pg.CannotConnectNowError("the database system is starting up"),
    pg.AdminShutdownError("terminating connection due to administrator command"),
    pg.CrashShutdownError("terminating connection because of crash of another server process"),
    pg.TooManyConnectionsError("sorry, too many clients already"),
    pg.DeadlockDetectedError("deadlock detected"),  # rolled back: the same work again is right
    asyncpg.InterfaceError("cannot perform operation: connection is closed"),
    asyncpg.InterfaceError("cannot call Connection.fetch(): the underlying connection is closed"),
    asyncpg.InternalClientError("cannot switch to state 11; another operation (2) is in progress"),
    ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)"),
    ConnectionResetError(104, "Connection reset by peer"),
    OSError(113, "No route to host"),
    TimeoutError(),
])
def test_connection_level_failures_are_unavailable(exc: Exception) -> None:
    assert is_unavailable(exc)
    translated = unavailable(exc)
    assert isinstance(translated, DatabaseUnavailable) and isinstance(translated, StoreUnavailable)
    assert str(translated).startswith("PostgreSQL is unavailable: ")


@pytest.mark.parametrize("exc", [
    pg.PostgresSyntaxError('syntax error at or near "SELEKT"'),
    pg.UniqueViolationError("duplicate key value violates unique constraint"),
    pg.ForeignKeyViolationError("insert or update violates foreign key constraint"),
    pg.CheckViolationError("new row violates check constraint"),
    pg.UndefinedTableError('relation "callbacks" does not exist'),
    pg.SerializationError("could not serialize access"),
    pg.QueryCanceledError("canceling statement due to statement timeout"),  # class 57, not 57P
    pg.InvalidPasswordError("password authentication failed"),
    asyncpg.InterfaceError("cannot call Connection.fetch(): the underlying connection has been released "
                           "back to the pool"),
    asyncpg.InterfaceError("pool is closing"),
    pg.DataError("invalid input for query argument $1"),
    ValueError("not a database error at all"),
    KeyError("no_such_query"),
])
def test_errors_of_the_statement_are_left_alone(exc: Exception) -> None:
    assert not is_unavailable(exc)
    assert unavailable(exc) is None


def test_cancellation_is_never_translated() -> None:
    assert unavailable(asyncio.CancelledError()) is None


class FakeAcquire:
    def __init__(self, fail_on_enter: BaseException | None = None) -> None:
        self.fail_on_enter = fail_on_enter
        self.released = False

    async def __aenter__(self) -> str:
        if self.fail_on_enter is not None:
            raise self.fail_on_enter
        return "connection"

    async def __aexit__(self, *exc_info: Any) -> None:
        self.released = True


class FakePool:
    def __init__(self, acquire: FakeAcquire) -> None:
        self._acquire = acquire

    def acquire(self, *, timeout: float | None = None) -> FakeAcquire:
        return self._acquire


async def test_a_failed_connect_comes_out_as_unavailable() -> None:
    refused = FakeAcquire(fail_on_enter=ConnectionRefusedError(111, "refused"))
    pool = GuardedPool(FakePool(refused))  # type: ignore[arg-type]
    with pytest.raises(DatabaseUnavailable) as caught:
        async with pool.acquire():
            pass
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


async def test_a_connection_lost_under_a_statement_comes_out_as_unavailable_and_is_released() -> None:
    acquire = FakeAcquire()
    pool = GuardedPool(FakePool(acquire))  # type: ignore[arg-type]
    with pytest.raises(DatabaseUnavailable) as caught:
        async with pool.acquire() as conn:
            assert conn == "connection"
            raise pg.AdminShutdownError("terminating connection due to administrator command")
    assert isinstance(caught.value.__cause__, pg.AdminShutdownError)
    assert acquire.released


async def test_a_statement_error_comes_out_as_it_is() -> None:
    pool = GuardedPool(FakePool(FakeAcquire()))  # type: ignore[arg-type]
    with pytest.raises(pg.UniqueViolationError):
        async with pool.acquire():
            raise pg.UniqueViolationError("duplicate key")


def test_a_guarded_pool_is_not_wrapped_twice() -> None:
    pool = GuardedPool(FakePool(FakeAcquire()))  # type: ignore[arg-type]
    assert guarded(pool) is pool
