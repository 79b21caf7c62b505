"""The composition root: the one place that reads settings, builds the adapters and runs the daemon.

Rule: every background task is named and supervised; the first one to fail stops the daemon cleanly,
and shutdown always goes through the `stop` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import UTC, datetime, timedelta
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from cbdialer.adapters.ami import (
    AmiConfig,
    AmiLink,
    AttemptReport,
    InboundCall,
    LinkDown,
    LinkUp,
)
from cbdialer.adapters.db import Database
from cbdialer.adapters.http import make_app, serve
from cbdialer.admin import Admin
from cbdialer.dialer import Dialer
from cbdialer.scheduler import Scheduler
from cbdialer.settings import Settings

log = structlog.get_logger("cbdialer")

HEARTBEAT_INTERVAL = 5.0
API_POOL_SIZE = 5


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
    )


async def heartbeat(db: Database, node_id: Any, stop: asyncio.Event) -> None:
    while not stop.is_set():
        if await db.heartbeat(node_id) is None:
            raise DaemonError(f"dialer node {node_id} was marked stopped by someone else")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(HEARTBEAT_INTERVAL):
                await stop.wait()


async def supervise(tasks: dict[str, Callable[[], Awaitable[None]]], stop: asyncio.Event) -> None:
    """Run named tasks until `stop` is set or one of them ends; then stop the rest and re-raise the
    first failure."""
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
        for task in running:
            task.cancel()
        await asyncio.gather(*running, stopping, return_exceptions=True)
    if failure is not None:
        raise DaemonError(f"stopped: {failure}") from failure


async def consume(link: AmiLink, dialer: Dialer, stop: asyncio.Event) -> None:
    """The single consumer of AMI events: each is applied in order, by the dialer."""
    while not stop.is_set():
        event = await link.events.get()
        match event:
            case LinkDown(reason=reason):
                log.warning("ami_link_lost", reason=reason)
            case AttemptReport():
                log.debug("attempt_report", kind=event.kind, attempt_id=event.attempt_id,
                          dial_status=event.dial_status, hangup_cause=event.hangup_cause, amd_status=event.amd_status)
            case InboundCall(caller_number=number, withheld=withheld):
                log.info("inbound_call", caller_number=number if not withheld else "withheld")
            case _:
                pass
        await dialer.on_event(event)
        if isinstance(event, LinkUp):
            states = dialer.device_states
            log.info("agents_presence", devices=len(states),
                     available=sum(1 for s in states.values() if s != "UNAVAILABLE"))


def utc_now() -> datetime:
    return datetime.now(UTC)


def daemon_tasks(db: Database, node_id: Any, link: AmiLink, dialer: Dialer, scheduler: Scheduler,
                 stop: asyncio.Event) -> dict[str, Callable[[], Awaitable[None]]]:
    """The daemon's named background tasks, for `supervise` (bench/dialer runs the same set)."""
    return {
        "ami-link": lambda: link.run(stop),
        "ami-events": lambda: consume(link, dialer, stop),
        "scheduler": lambda: scheduler.run(stop),
        "lease-heartbeat": lambda: scheduler.heartbeat(stop),
        "due-listener": lambda: db.listen_for_due(scheduler.wake, stop),
        "no-answer-watchdog": lambda: dialer.watchdog(stop),
        "interaction-states": lambda: dialer.write_states(stop),
        "node-heartbeat": lambda: heartbeat(db, node_id, stop),
    }


async def run_daemon(settings: Settings, stop: asyncio.Event) -> None:
    db = await Database.connect(str(settings.database_url))
    try:
        pending = await db.pending_migrations()
        if pending:
            raise DaemonError(f"the database schema is not up to date ({', '.join(pending)} missing): "
                              "run `cbdialer migrate` first")
        node_id = await db.register_node()
        log.info("dialer_started", node_id=str(node_id), ami=f"{settings.ami_host}:{settings.ami_port}")
        link = AmiLink(ami_config(settings))
        store = db.store()
        lease = timedelta(seconds=settings.lease_seconds)
        dialer = Dialer(store, link, owner=node_id, clock=utc_now, lease=lease)
        scheduler = Scheduler(store, dialer, dialer, owner=node_id, clock=utc_now, lease=lease)
        # The admin API has a pool of its own, so that a flood of requests cannot starve the dialer's writes.
        api_db = await Database.connect(str(settings.database_url), max_size=API_POOL_SIZE)
        api = make_app(Admin(api_db.store(), utc_now, default_region=settings.default_region),
                       presence=dialer.presence)
        tasks = daemon_tasks(db, node_id, link, dialer, scheduler, stop)
        tasks["admin-api"] = lambda: serve(api, settings.http_host, settings.http_port, stop)
        try:
            await supervise(tasks, stop)
        finally:
            await api_db.close()
            await db.node_stopped(node_id)
            log.info("dialer_stopped", node_id=str(node_id))
    finally:
        await db.close()


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
