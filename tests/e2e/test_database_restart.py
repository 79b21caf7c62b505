"""PostgreSQL going away under a live call (docs/design.md section 8: faults are ridden through, not escaped): the
`cbdialer run` daemon keeps running, the call's outcome is recorded once the database is back, and the
customer is dialled once. The database is a server of the test's own (tests/support/postgres.py), which the
test restarts or stops and starts; the shared server is never touched.

Two cases. A `pg_ctl restart -m fast` while agent and customer talk: it takes a fraction of a second here, so
the daemon may meet it on one connection only (its LISTEN). And an outage that the daemon's tasks cannot
miss: the server is stopped while they talk and started only after the call's result was heard (on the
test's own AMI link) and the daemon's event consumer met the outage applying it, so that result is applied
again once the database is back.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from cbdialer.adapters.ami import AttemptReport, Newchannel
from cbdialer.adapters.db import Database
from cbdialer.domain.lifecycle import CallbackState
from cbdialer.domain.models import Callback, CompletionStatus, InteractionState
from tests.e2e.conftest import Book, Events
from tests.support.daemon import Daemon
from tests.support.postgres import PrivatePostgres, private_database_url, private_postgres, restart

__all__ = ["private_database_url", "private_postgres"]  # fixtures used here

CBDIALER = str(Path(sys.executable).with_name("cbdialer"))
CUSTOMER = "+442079460013"  # answers after ~1 s and talks for 10 s


class RestartableBook(Book):
    """The Book of tests/e2e, whose NOTIFY listener is opened again after the server was restarted."""

    listener: asyncpg.Connection | None = None

    async def listen(self) -> None:
        await self.close_listener()
        self.listener = await asyncpg.connect(self.url)
        await self.listener.add_listener("cbdialer_changed", lambda *_: self.changed.set())
        self.changed.set()  # whatever changed while nobody listened: look again

    async def close_listener(self) -> None:
        if self.listener is not None and not self.listener.is_closed():
            await self.listener.close()


@pytest.fixture
async def private_book(private_database_url: str) -> AsyncIterator[RestartableBook]:
    db = await Database.connect(private_database_url)
    book = RestartableBook(db, private_database_url)
    await book.listen()
    try:
        yield book
    finally:
        await book.close_listener()
        await db.close()


def customer_legs(watcher: Events) -> list[Newchannel]:
    return [e for e in watcher.seen if isinstance(e, Newchannel)
            and e.channel.startswith(f"Local/{CUSTOMER}@cbdialer-sim-customers") and e.channel.endswith(";1")]


async def assert_handled_once(book: RestartableBook, created: Callback, watcher: Events) -> None:
    done = await book.wait_until(created.id, lambda c: c.state is CallbackState.COMPLETED, timeout=60)
    assert (done.completion_status, done.attempts_count) == (CompletionStatus.HANDLED, 1)
    [attempt] = await book.store.attempts(created.id)
    assert attempt.dial_status == "ANSWER"
    assert len(customer_legs(watcher)) == 1


async def test_a_postgres_restart_during_a_live_call_is_ridden_through(
    pbx: dict[str, str], private_postgres: PrivatePostgres, private_book: RestartableBook, watcher: Events
) -> None:
    book = private_book
    queue = await book.queue("q-pg-restart", ["1001"], amd=False, duration_for_no_answer=15)
    daemon = await Daemon.start(pbx, book.url)
    try:
        created = await book.callback(queue, CUSTOMER)
        await book.wait_for_attempt(created.id, lambda a: a.interaction_state is InteractionState.HANDLING)
        await restart(private_postgres)  # pg_ctl restart -m fast: every connection is cut
        await book.listen()
        await assert_handled_once(book, created, watcher)
        assert daemon.process.returncode is None, daemon.tail()
    finally:
        code = await daemon.stop()
    assert code == 0, daemon.tail()
    assert "task_failed" not in daemon.events(), daemon.tail()


async def test_a_result_heard_while_postgres_is_down_is_recorded_once_it_is_back(
    pbx: dict[str, str], private_postgres: PrivatePostgres, private_book: RestartableBook, watcher: Events
) -> None:
    book = private_book
    queue = await book.queue("q-pg-outage", ["1001"], amd=False, duration_for_no_answer=15)
    daemon = await Daemon.start(pbx, book.url, level="debug")  # debug: each task's pause is logged
    try:
        created = await book.callback(queue, CUSTOMER)
        attempt = await book.wait_for_attempt(created.id,
                                              lambda a: a.interaction_state is InteractionState.HANDLING)
        await book.close_listener()
        await asyncio.to_thread(private_postgres.stop)
        # The daemon meets the outage (its scheduler polls every second) ...
        await daemon.wait_for_log(lambda line: line.get("event") == "database_unavailable", timeout=15)
        # ... hears the call's result while PostgreSQL is away, and cannot apply it yet.
        await watcher.wait_for(lambda e: isinstance(e, AttemptReport) and e.kind == "Result"
                               and e.attempt_id == str(attempt.id), timeout=30)
        await daemon.wait_for_log(lambda line: line.get("task") == "ami-events"
                                  and line.get("event") in ("database_unavailable", "task_waiting_for_database"),
                                  timeout=15)
        await asyncio.to_thread(private_postgres.start)
        await book.listen()
        await assert_handled_once(book, created, watcher)
        assert daemon.process.returncode is None, daemon.tail()
        await daemon.wait_for_log(lambda line: line.get("event") == "database_back", timeout=15)
    finally:
        code = await daemon.stop()
    assert code == 0, daemon.tail()
    assert "task_failed" not in daemon.events(), daemon.tail()
