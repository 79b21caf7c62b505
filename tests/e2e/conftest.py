"""The sandbox PBX for end-to-end tests: `deploy/sandbox up` once per run (it is idempotent), and AMI
links to it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import asyncpg
import pytest

from cbdialer.adapters.ami import AmiConfig, AmiEvent, AmiLink, LinkUp
from cbdialer.adapters.db import Database
from cbdialer.app import run_daemon
from cbdialer.domain.lifecycle import CallbackState
from cbdialer.domain.models import Agent, Attempt, Callback, CallbackType, CallingWindow, Queue, QueueSettings, Schedule
from cbdialer.settings import Settings
from tests.support.browser import browser  # noqa: F401 - the browser tests' fixture

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = str(ROOT / "deploy" / "sandbox")


def sandbox(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SANDBOX, *args], capture_output=True, text=True, timeout=timeout)


def sandbox_env() -> dict[str, str]:
    result = sandbox("env")
    assert result.returncode == 0, result.stderr
    env = {}
    for line in result.stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value
    return env


@pytest.fixture(scope="session")
def pbx() -> dict[str, str]:
    """`deploy/sandbox env`, and where the same AMI answers over TLS (`env --tls`): CBDIALER_SANDBOX_AMI_TLS_PORT
    and the CA that verifies Asterisk's certificate, CBDIALER_SANDBOX_AMI_TLS_CA_FILE (a daemon reads neither)."""
    result = sandbox("up")
    assert result.returncode == 0, result.stderr
    tls = sandbox("env", "--tls")
    assert tls.returncode == 0, tls.stderr
    over_tls = dict(line.removeprefix("export ").partition("=")[::2] for line in tls.stdout.splitlines())
    return {**sandbox_env(), "CBDIALER_SANDBOX_AMI_TLS_PORT": over_tls["CBDIALER_AMI_PORT"],
            "CBDIALER_SANDBOX_AMI_TLS_CA_FILE": over_tls["CBDIALER_AMI_TLS_CA_FILE"]}


def ami_config(env: dict[str, str], **overrides: float) -> AmiConfig:
    return AmiConfig(host=env["CBDIALER_AMI_HOST"], port=int(env["CBDIALER_AMI_PORT"]),
                     username=env["CBDIALER_AMI_USERNAME"], secret=env["CBDIALER_AMI_SECRET"], **overrides)


class Events:
    """What one AMI link sees, kept so that tests can wait for an event matching a condition."""

    def __init__(self, link: AmiLink) -> None:
        self.link = link
        self.seen: list[AmiEvent] = []
        self._changed = asyncio.Condition()

    async def pump(self) -> None:
        while True:
            event = await self.link.events.get()
            async with self._changed:
                self.seen.append(event)
                self._changed.notify_all()

    async def wait_for(self, match: Callable[[AmiEvent], bool], timeout: float = 30) -> AmiEvent:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: any(match(e) for e in self.seen))
            return next(e for e in self.seen if match(e))

    async def wait_past(self, count: int) -> None:
        """Until more than `count` events have been seen: something happened on the PBX since."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.seen) > count)


@pytest.fixture
async def ami(pbx: dict[str, str]) -> AsyncIterator[Events]:
    link = AmiLink(ami_config(pbx, ping_interval=1.0, ping_timeout=2.0))
    stop = asyncio.Event()
    runner = asyncio.create_task(link.run(stop), name="ami-link")
    events = Events(link)
    pump = asyncio.create_task(events.pump(), name="ami-events")
    await events.wait_for(lambda e: isinstance(e, LinkUp), timeout=10)
    yield events
    stop.set()
    pump.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await pump
    await asyncio.wait_for(runner, 10)


SETTINGS = QueueSettings(
    duration_for_no_answer=5, attempts_before_failure=3, recall_intervals=(2,), retry_interval=5,
    network_failure_delay=3, agent_offer_timeout=5, wrap_up_time=0, amd=True,
    calling_window=CallingWindow(time(0, 0), time.max), schedule=Schedule(), apply_dnc=True,
    max_concurrent_calls=5, calls_per_second=5)


class Book:
    """The daemon's database, seen from the test: set things up, then wait for what the daemon does."""

    def __init__(self, db: Database, url: str) -> None:
        self.db = db
        self.store = db.store()
        self.url = url
        self.changed = asyncio.Event()

    async def queue(self, queue_id: str, agents: list[str], **settings: object) -> Queue:
        queue = Queue(id=queue_id, name=queue_id, settings=dataclasses.replace(SETTINGS, **settings))
        await self.store.save_queue(queue)
        for agent in agents:
            await self.store.upsert_agent(Agent(id=agent, dial_string=f"PJSIP/agent-{agent}",
                                                queues=frozenset({queue_id})))
        return queue

    async def callback(self, queue: Queue, number: str, **changes: object) -> Callback:
        now = datetime.now(UTC)
        values: dict[str, object] = dict(
            id=uuid.uuid4(), queue_id=queue.id, destination=number, type=CallbackType.STANDARD,
            state=CallbackState.SCHEDULED, due_at=now, start_at=now, end_at=now + timedelta(hours=1), created_at=now)
        values.update(changes)
        return await self.store.add_callback(Callback(**values), actor="test")  # type: ignore[arg-type]

    async def wait_until(self, callback_id: uuid.UUID, done: Callable[[Callback], bool],
                         timeout: float = 40) -> Callback:
        async with asyncio.timeout(timeout):
            while True:
                self.changed.clear()
                callback = await self.store.get_callback(callback_id)
                assert callback is not None
                if done(callback):
                    return callback
                await self.changed.wait()

    async def wait_for_attempt(self, callback_id: uuid.UUID, done: Callable[[Attempt], bool],
                               timeout: float = 40) -> Attempt:
        async with asyncio.timeout(timeout):
            while True:
                self.changed.clear()
                attempts = await self.store.attempts(callback_id)
                if attempts and done(attempts[-1]):
                    return attempts[-1]
                await self.changed.wait()

    async def trail(self, callback_id: uuid.UUID) -> list[tuple[str | None, str, str]]:
        return [(h.from_state.value if h.from_state else None, h.to_state.value, h.reason.value)
                for h in await self.store.history(callback_id)]


@pytest.fixture
async def crash_book(database_url: str) -> AsyncIterator[Book]:
    """The book without a daemon of its own: the test starts and kills daemons itself."""
    db = await Database.connect(database_url)
    result = Book(db, database_url)
    listener = await asyncpg.connect(database_url)
    await listener.add_listener("cbdialer_changed", lambda *_: result.changed.set())
    try:
        yield result
    finally:
        await listener.close()
        await db.close()


@pytest.fixture
async def book(pbx: dict[str, str], database_url: str) -> AsyncIterator[Book]:
    settings = Settings(database_url=database_url, ami_host=pbx["CBDIALER_AMI_HOST"],
                        ami_port=int(pbx["CBDIALER_AMI_PORT"]), ami_username=pbx["CBDIALER_AMI_USERNAME"],
                        ami_secret=pbx["CBDIALER_AMI_SECRET"], http_port=0)
    db = await Database.connect(database_url)
    result = Book(db, database_url)
    listener = await asyncpg.connect(database_url)
    await listener.add_listener("cbdialer_changed", lambda *_: result.changed.set())
    stop = asyncio.Event()
    daemon = asyncio.create_task(run_daemon(settings, stop), name="daemon")
    try:
        yield result
    finally:
        stop.set()
        await asyncio.wait_for(daemon, 15)
        await listener.close()
        await db.close()


@pytest.fixture
async def watcher(pbx: dict[str, str]) -> AsyncIterator[Events]:
    """An AMI link of the test's own, to see what happens on the line (customer legs, reports)."""
    link = AmiLink(ami_config(pbx))
    events = Events(link)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(link.run(stop)), asyncio.create_task(events.pump())]
    await link.wait_connected(10)
    yield events
    stop.set()
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
