"""PostgreSQL going away under cbdialer (docs/design.md section 8: faults are ridden through, not escaped). Each
test runs on a PostgreSQL server of its own (tests/support/postgres.py), which it stops or restarts; the
shared server is never touched.

- The store and the Database say StoreUnavailable (never a raw asyncpg error) while the server is away, and
  work again once it is back; errors of the statement itself stay what they are.
- /healthz answers 503 and names what is down.
- The daemon's database tasks, as app.py wires them, ride a restart through: none fails, the scheduler
  claims again, and the outage is logged once.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from cbdialer.adapters.db import Database, DatabaseUnavailable
from cbdialer.adapters.http import make_app
from cbdialer.adapters.http import models as m
from cbdialer.adapters.http.app import OPENAPI_KEY
from cbdialer.app import daemon_tasks, supervise
from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import Callback, CallbackType, CallingWindow, Queue, QueueSettings, Schedule
from cbdialer.ports import StoreUnavailable
from cbdialer.scheduler import Scheduler
from cbdialer.services import Admin
from cbdialer.supervision import Backoff, DatabaseHealth
from tests.support.postgres import PrivatePostgres, restart
from tests.support.recording_dialer import Agents, RecordingDialer

OPEN_ALL_HOURS = Queue(id="sales", name="Sales", settings=QueueSettings(
    schedule=Schedule(), calling_window=CallingWindow(time(0, 0), time.max)))
FAST = Backoff(initial=0.05, maximum=0.5)


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_callback(due: datetime | None = None, number: str = "+442079460012") -> Callback:
    due = due or utc_now()
    return Callback(id=uuid.uuid4(), queue_id="sales", destination=number, type=CallbackType.STANDARD,
                    state=CallbackState.SCHEDULED, due_at=due, start_at=due, end_at=due + timedelta(hours=1),
                    created_at=due - timedelta(minutes=1))


@pytest.fixture
async def private_db(private_database_url: str) -> AsyncIterator[Database]:
    database = await Database.connect(private_database_url)
    try:
        yield database
    finally:
        await database.close()


async def unavailable(call: Any) -> StoreUnavailable:
    """What `call` raised: it must be StoreUnavailable, not an error of asyncpg's (nor anything else)."""
    with pytest.raises(StoreUnavailable) as caught:
        await call
    assert isinstance(caught.value, DatabaseUnavailable)
    assert not isinstance(caught.value, (asyncpg.PostgresError, asyncpg.InterfaceError, OSError))
    return caught.value


async def test_the_store_says_unavailable_while_postgres_is_stopped_and_works_once_it_is_back(
    private_postgres: PrivatePostgres, private_db: Database
) -> None:
    store = private_db.store()
    await store.save_queue(OPEN_ALL_HOURS)
    created = await store.add_callback(new_callback(), actor="test")
    node = await private_db.register_node()

    await asyncio.to_thread(private_postgres.stop)
    # The helpers (_fetch, _value, _execute), the methods that hold a connection themselves (create,
    # search, book_figures), and the Database's own.
    await unavailable(store.get_queue("sales"))
    await unavailable(store.next_due_at())
    await unavailable(store.claim_due(node, now=utc_now(), limit=10, lease=timedelta(seconds=30)))
    await unavailable(store.add_callback(new_callback(number="+442079460013"), actor="test"))
    await unavailable(store.book_figures(utc_now()))
    await unavailable(private_db.heartbeat(node))
    await unavailable(private_db.ping())
    assert not await private_db.available()
    stop = asyncio.Event()
    failure = await unavailable(private_db.listen_for_due(asyncio.Event(), stop))
    assert "PostgreSQL is unavailable" in str(failure)

    await asyncio.to_thread(private_postgres.start)
    # The pool opens new connections by itself: no restart of cbdialer.
    assert await private_db.available()
    assert (await store.get_callback(created.id)) == created
    assert await private_db.heartbeat(node) is not None


async def test_a_statement_cut_by_a_crash_restart_is_unavailable_and_safe_to_repeat(
    private_postgres: PrivatePostgres, private_db: Database, private_database_url: str
) -> None:
    store = private_db.store()
    await store.save_queue(OPEN_ALL_HOURS)
    created = await store.add_callback(new_callback(), actor="test")
    holder = await asyncpg.connect(private_database_url)
    tx = holder.transaction()
    await tx.start()
    await holder.execute("SELECT 1 FROM callbacks WHERE id = $1 FOR UPDATE", created.id)
    # The store's guarded transition waits for that row lock: in flight when the server goes down.
    moving = asyncio.create_task(store.transition(
        created.id, expected=CallbackState.SCHEDULED, to=CallbackState.CANCELLED, reason=Reason.CANCELLED,
        now=utc_now(), actor="test"))
    watcher = await asyncpg.connect(private_database_url)
    try:
        async with asyncio.timeout(10):
            while not await watcher.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"):
                await asyncio.sleep(0.02)  # polling the server's own view of the lock wait
    finally:
        await watcher.close()
    # Immediate: every backend dies at once, so the statement cannot slip through to its commit between
    # the holder's end and its own (a fast shutdown leaves that race open: "may or may not have committed").
    await restart(private_postgres, "immediate")
    cut = await unavailable(moving)
    assert isinstance(cut.__cause__, (asyncpg.PostgresError, asyncpg.InterfaceError, OSError))
    assert holder.is_closed()
    # It had not committed; repeating it does it once, and a repeat of that changes nothing (guarded).
    assert (await store.get_callback(created.id)).state is CallbackState.SCHEDULED  # type: ignore[union-attr]
    again = await store.transition(created.id, expected=CallbackState.SCHEDULED, to=CallbackState.CANCELLED,
                                   reason=Reason.CANCELLED, now=utc_now(), actor="test")
    assert again is not None and again.state is CallbackState.CANCELLED
    assert await store.transition(created.id, expected=CallbackState.SCHEDULED, to=CallbackState.CANCELLED,
                                  reason=Reason.CANCELLED, now=utc_now(), actor="test") is None


async def test_errors_of_the_statement_are_not_turned_into_unavailable(db: Database) -> None:
    """On the shared server (nothing is stopped): a constraint violated is the bug it is."""
    with pytest.raises(asyncpg.ForeignKeyViolationError):  # no queue "sales" here
        await db.store().add_callback(new_callback(), actor="test")


async def test_healthz_names_what_is_down(private_postgres: PrivatePostgres, private_db: Database) -> None:
    ami = {"up": True}
    app = make_app(Admin(private_db.store(), utc_now),
                   database_up=functools.partial(private_db.available, 1.0), ami_up=lambda: ami["up"])
    bare = make_app(Admin(private_db.store(), utc_now))  # no probe given: the API alone, as in bench/api
    async with TestClient(TestServer(app)) as client, TestClient(TestServer(bare)) as bare_client:

        async def health(c: TestClient = client) -> tuple[int, Any]:
            response = await c.get("/healthz")
            assert response.content_type == "application/json"
            body = await response.json()
            m.HealthOut.model_validate(body)
            return response.status, body

        assert await health() == (200, {"status": "ok", "database": True})
        ami["up"] = False
        assert await health() == (503, {"status": "unavailable", "database": True, "down": ["ami"]})
        await asyncio.to_thread(private_postgres.stop)
        assert await health() == (503, {"status": "unavailable", "database": False, "down": ["database", "ami"]})
        assert await health(bare_client) == (503, {"status": "unavailable", "database": False,
                                                   "down": ["database"]})
        ami["up"] = True
        assert await health() == (503, {"status": "unavailable", "database": False, "down": ["database"]})
        await asyncio.to_thread(private_postgres.start)
        assert await health() == (200, {"status": "ok", "database": True})
        assert await health(bare_client) == (200, {"status": "ok", "database": True})
    responses = app[OPENAPI_KEY]["paths"]["/healthz"]["get"]["responses"]
    assert {"200", "503"} <= set(responses)


class Log:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **kw: Any) -> None:
        self.events.append((event, kw))

    info = warning

    def debug(self, event: str, **kw: Any) -> None:
        pass


async def test_the_daemons_database_tasks_ride_a_restart_through(
    private_postgres: PrivatePostgres, private_db: Database
) -> None:
    """The scheduler, both heartbeats and the due listener as app.daemon_tasks wires them (the AMI tasks,
    which need the sandbox PBX, are left out; tests/e2e/test_database_restart.py has them all)."""
    store = private_db.store()
    await store.save_queue(OPEN_ALL_HOURS)
    node = await private_db.register_node()
    dialer = RecordingDialer()
    scheduler = Scheduler(store, dialer, Agents(), owner=node, clock=utc_now, lease=timedelta(seconds=3),
                          poll_interval=0.2)
    stop, log = asyncio.Event(), Log()
    tasks = daemon_tasks(private_db, node, None, None, scheduler, stop,  # type: ignore[arg-type]
                         health=DatabaseHealth(log=log), backoff=FAST)
    chosen = {name: tasks[name] for name in ("scheduler", "lease-heartbeat", "due-listener", "node-heartbeat")}
    daemon = asyncio.create_task(supervise(chosen, stop), name="daemon")
    try:
        before = await store.add_callback(new_callback(), actor="test")
        await dialer.wait_for_callback(before.id, timeout=10)
        await restart(private_postgres)
        after = await store.add_callback(new_callback(number="+442079460013"), actor="test")
        await dialer.wait_for_callback(after.id, timeout=20)
        assert not daemon.done()
    finally:
        stop.set()
        await asyncio.wait_for(daemon, 10)  # raises if a task had failed
    names = [event for event, _ in log.events]
    assert "database_unavailable" in names and names[-1] == "database_back"
    assert names.count("database_unavailable") == names.count("database_back")
