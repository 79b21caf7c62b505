"""The composition root: the one place that reads settings, builds the adapters and runs the daemon
(`build_daemon` wires it, for `cbdialer run` and the benchmarks alike; `run_daemon` runs it).

Rule: every background task is named and supervised; the first one to fail stops the daemon cleanly,
and shutdown always goes through the `stop` event. No task fails of an unavailable database: each one that
touches it rides StoreUnavailable through (cbdialer.supervision: backoff, then a probe, then the same work
again), and the AMI event consumer (cbdialer.consumer) applies the event that met the outage again before
the next one of its attempt.
Startup still needs the database: if PostgreSQL does not answer then, the daemon stops with a clear message.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import secrets
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from cbdialer.adapters.agi import serve_agi
from cbdialer.adapters.ami import AmiConfig, AmiLink
from cbdialer.adapters.db import Database
from cbdialer.adapters.http import Sessions, make_app, serve
from cbdialer.adapters.prometheus import PrometheusMetrics, Readings
from cbdialer.consumer import consume
from cbdialer.dialer import Dialer
from cbdialer.operating import measure_loop_lag, read_book_figures
from cbdialer.ports import StoreUnavailable
from cbdialer.ports.telephony import Telephony
from cbdialer.scheduler import Scheduler
from cbdialer.services import Admin
from cbdialer.services.caller_requests import CallerRequests
from cbdialer.settings import Settings
from cbdialer.supervision import Backoff, DatabaseHealth, ride_through

log = structlog.get_logger("cbdialer")

HEARTBEAT_INTERVAL = 5.0
POOL_SIZE = 10  # the dialer's pool: the scheduler's batches, the event consumer, the background writers
API_POOL_SIZE = 5
# How long /healthz and the tasks' probe wait for PostgreSQL to answer (seconds).
DATABASE_PROBE_TIMEOUT = 1.0


class DaemonError(Exception):
    """The daemon cannot start or had to stop; the message says why."""


def ami_config(settings: Settings) -> AmiConfig:
    return AmiConfig(
        host=settings.ami_host,
        port=settings.ami_port,
        username=settings.ami_username,
        secret=settings.ami_secret.get_secret_value(),
        ping_interval=settings.ami_ping_interval,
        ping_timeout=settings.ami_ping_timeout,
        action_timeout=settings.ami_action_timeout,
        tls=settings.ami_tls,
        tls_ca_file=str(settings.ami_tls_ca_file) if settings.ami_tls_ca_file is not None else None,
        tls_check_hostname=settings.ami_tls_check_hostname,
    )


async def heartbeat(db: Database, node_id: Any, stop: asyncio.Event) -> None:
    while not stop.is_set():
        if await db.heartbeat(node_id) is None:
            raise DaemonError(f"dialer node {node_id} was marked stopped by someone else")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(HEARTBEAT_INTERVAL):
                await stop.wait()


async def supervise(tasks: dict[str, Callable[[], Awaitable[None]]], stop: asyncio.Event, *,
                    last: Collection[str] = ()) -> None:
    """Run named tasks until `stop` is set or one of them ends; then stop the rest (those named in `last` once
    the others have ended) and re-raise the first failure."""
    running = {asyncio.create_task(factory(), name=name): name for name, factory in tasks.items()}
    stopping = asyncio.create_task(stop.wait(), name="stop")
    failure: BaseException | None = None
    try:
        done, _ = await asyncio.wait([*running, stopping], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is stopping:
                continue
            name = running[task]
            if task.cancelled():
                log.error("task_cancelled", task=name)
            elif (exc := task.exception()) is not None:
                log.error("task_failed", task=name, error=str(exc) or type(exc).__name__,
                          error_type=type(exc).__name__)
                failure = failure or exc
            elif not stop.is_set():
                log.warning("task_ended", task=name)
    finally:
        stop.set()
        stopping.cancel()
        first = [task for task, name in running.items() if name not in last]
        for task in first:
            task.cancel()
        await asyncio.gather(*first, stopping, return_exceptions=True)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
    if failure is not None:
        raise DaemonError(f"stopped: {failure}") from failure


def utc_now() -> datetime:
    return datetime.now(UTC)


async def run_scheduler(scheduler: Scheduler, stop: asyncio.Event) -> None:
    """The scheduler's loop, begun (and begun again after an outage) by handing back what this process
    claimed and did not start: a batch cut short by the database going away may have left some claimed."""
    await scheduler.store.release_leases(scheduler.owner, now=scheduler.clock())
    await scheduler.run(stop)


def daemon_tasks(db: Database, node_id: Any, link: AmiLink, dialer: Dialer, scheduler: Scheduler,
                 stop: asyncio.Event, *, health: DatabaseHealth | None = None,
                 backoff: Backoff = Backoff()) -> dict[str, Callable[[], Awaitable[None]]]:
    """The daemon's named background tasks, for `supervise` (build_daemon adds the admin API). Each one that
    touches the database rides an outage through (see the module's docstring); `health` is shared by all of
    them, so that an outage is logged once."""
    health = health or DatabaseHealth()

    def probe() -> Awaitable[None]:
        return db.ping(DATABASE_PROBE_TIMEOUT)

    def riding(name: str, loop: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        async def task() -> None:
            await ride_through(loop, task=name, stop=stop, health=health, probe=probe, backoff=backoff)
        return task

    return {
        # Ended last, by cancellation: the others may still tidy up over it (the keeper lifts its pauses).
        "ami-link": lambda: link.run(asyncio.Event()),
        "ami-events": lambda: consume(link, dialer, stop, health=health, probe=probe, backoff=backoff),
        "scheduler": riding("scheduler", lambda: run_scheduler(scheduler, stop)),
        "lease-heartbeat": riding("lease-heartbeat", lambda: scheduler.heartbeat(stop)),
        "due-listener": riding("due-listener", lambda: db.listen_for_due(scheduler.wake, stop)),
        "no-answer-watchdog": riding("no-answer-watchdog", lambda: dialer.watchdog(stop)),
        "interaction-states": riding("interaction-states", lambda: dialer.write_states(stop)),
        "turn-keeper": riding("turn-keeper", lambda: dialer.keep_turns(stop)),
        "node-heartbeat": riding("node-heartbeat", lambda: heartbeat(db, node_id, stop)),
    }


@dataclass
class Daemon:
    """One dialer node, built and not yet running: `run` supervises its named tasks until `stop` is set or one
    of them ends. `telephony` and `store` are what the dialer and the scheduler talk to (the link and the
    database's store, or what build_daemon's wrappers made of them); `app` is the admin API (None without it)."""

    settings: Settings
    node_id: uuid.UUID
    db: Database
    link: AmiLink
    telephony: Telephony
    store: Any
    health: DatabaseHealth
    dialer: Dialer
    scheduler: Scheduler
    stop: asyncio.Event
    tasks: dict[str, Callable[[], Awaitable[None]]]
    api_db: Database | None = None
    app: Any = None  # the admin API's application (an aiohttp one: this module names no aiohttp type)

    async def run(self, *only: str) -> None:
        """Supervise the tasks (only those named, if any: bench/api serves the admin API alone)."""
        await supervise({name: self.tasks[name] for name in only} if only else self.tasks, self.stop,
                        last=("ami-link",))


@contextlib.asynccontextmanager
async def build_daemon(settings: Settings, *, stop: asyncio.Event | None = None,
                       clock: Callable[[], datetime] = utc_now,
                       wrap_store: Callable[[Any], Any] | None = None,
                       wrap_telephony: Callable[[AmiLink], Telephony] | None = None,
                       pool_size: int = POOL_SIZE, api_pool_size: int = API_POOL_SIZE, serve_api: bool = True,
                       api_started: Callable[[int], None] | None = None) -> AsyncIterator[Daemon]:
    """The daemon's wiring, for `cbdialer run` and the benchmarks alike: connects the database and checks its
    schema, registers the node, builds the AMI link, the store, the dialer, the scheduler and (with
    `serve_api`) the admin API on a pool of its own, and the named tasks, sharing `stop`. On the way out, even
    after a failure: the API's pool closed, the node marked stopped (`dialer_stopped`), the pool closed.

    Seams for a benchmark: `wrap_store` and `wrap_telephony` get the database's store and the AMI link and
    return what the dialer and the scheduler use instead (the link's own tasks keep the link itself); the pool
    sizes; `api_started` gets the admin API's bound port (useful with http_port 0)."""
    stop = asyncio.Event() if stop is None else stop
    async with contextlib.AsyncExitStack() as on_exit:
        db = await Database.connect(str(settings.database_url), max_size=pool_size)
        on_exit.push_async_callback(db.close)
        await db.require_schema()
        node_id = await db.register_node()
        log.info("dialer_started", node_id=str(node_id), ami=f"{settings.ami_host}:{settings.ami_port}")
        on_exit.push_async_callback(node_stopped, db, node_id)
        link = AmiLink(ami_config(settings))
        telephony = wrap_telephony(link) if wrap_telephony is not None else link
        store = wrap_store(db.store()) if wrap_store is not None else db.store()
        lease = timedelta(seconds=settings.lease_seconds)
        health = DatabaseHealth()
        # The operator's metrics (README "Operating cbdialer"): kept in the process, read by each scrape.
        metrics = PrometheusMetrics(node_id=str(node_id))
        dialer = Dialer(store, telephony, owner=node_id, clock=clock, lease=lease,
                        database_up=lambda: health.available, default_region=settings.default_region,
                        node_silence=max(lease, timedelta(seconds=3 * HEARTBEAT_INTERVAL)), metrics=metrics)
        scheduler = Scheduler(store, dialer, dialer.board, owner=node_id, clock=clock, lease=lease, ready=dialer.ready,
                              holding=dialer.holding, metrics=metrics)
        dialer.board.on_free.append(scheduler.agent_freed)
        metrics.readings = Readings(live_attempts=lambda: len(dialer.live),
                                    agents_by_presence=dialer.board.presence_counts,
                                    ami_up=lambda: link.connected, database_up=lambda: health.available)
        tasks = daemon_tasks(db, node_id, link, dialer, scheduler, stop, health=health)
        tasks["loop-lag"] = functools.partial(measure_loop_lag, metrics, stop)
        book = Admin(store, clock).reports
        tasks["book-figures"] = functools.partial(
            ride_through, functools.partial(read_book_figures, functools.partial(book.book_figures, fold=True),
                                            metrics.set_book, stop),
            task="book-figures", stop=stop, health=health, probe=functools.partial(db.ping, DATABASE_PROBE_TIMEOUT))
        daemon = Daemon(settings, node_id, db, link, telephony, store, health, dialer, scheduler, stop, tasks)
        # The caller-callback IVR (services/caller_requests.py) over the dialer's store; the live queue's memory of
        # who joined when (the dialer's QueuePlaces) gives the callers their place.
        services = Admin(store, clock, default_region=settings.default_region,
                         dial_contexts=settings.allowed_dial_contexts)
        ivr = CallerRequests(services.callbacks, services.queues, clock, joined=dialer.places.joined,
                             recordings_dir=settings.asterisk_recordings_dir, default_region=settings.default_region,
                             metrics=metrics)
        tasks["agi"] = functools.partial(serve_agi, {"caller-callback": ivr.handle}, settings.agi_host,
                                         settings.agi_port, stop)
        if serve_api:
            # The admin API has a pool of its own, so that a flood of requests cannot starve the dialer's writes.
            daemon.api_db = api_db = await Database.connect(str(settings.database_url), max_size=api_pool_size)
            on_exit.push_async_callback(api_db.close)
            # /healthz: a ping of the API's own pool (its answer is the API's), and the AMI link's state.
            changed = asyncio.Event()  # the book changed: the pages' live updates (one listener per process)
            secret = settings.session_secret.get_secret_value().encode() if settings.session_secret else None
            daemon.app = api = make_app(Admin(api_db.store(), clock, default_region=settings.default_region,
                                              dial_contexts=settings.allowed_dial_contexts),
                                        presence=dialer.board.presence,
                                        database_up=functools.partial(api_db.available, DATABASE_PROBE_TIMEOUT),
                                        ami_up=lambda: link.connected, recordings_dir=settings.recordings_dir,
                                        sessions=Sessions(secret or secrets.token_bytes(32),
                                                          timedelta(hours=settings.session_hours)),
                                        changed=changed, metrics=metrics, exposition=metrics.exposition)
            tasks["admin-api"] = lambda: serve(api, settings.http_host, settings.http_port, stop, api_started,
                                               tls_cert_file=settings.http_tls_cert_file,
                                               tls_key_file=settings.http_tls_key_file)
            tasks["page-changes"] = functools.partial(
                ride_through, functools.partial(api_db.listen_for_changes, changed, stop), task="page-changes",
                stop=stop, health=daemon.health, probe=functools.partial(api_db.ping, DATABASE_PROBE_TIMEOUT))
        yield daemon


async def node_stopped(db: Database, node_id: uuid.UUID) -> None:
    try:
        await db.node_stopped(node_id)
    except StoreUnavailable as exc:  # its heartbeat stops all the same; the row just says so later
        log.warning("node_stop_not_recorded", node_id=str(node_id), error=str(exc))
    log.info("dialer_stopped", node_id=str(node_id))


async def run_daemon(settings: Settings, stop: asyncio.Event) -> None:
    """`cbdialer run`: the daemon built, supervised until `stop` (or the first task to fail), stopped cleanly."""
    async with build_daemon(settings, stop=stop) as daemon:
        await daemon.run()


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
