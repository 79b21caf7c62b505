"""bench/dialer: cbdialer's full path against the bare-AMI originate rate, and due-to-Originate latency with
1,000,000 callbacks stored (DESIGN.md sections 4, 8, 10 and 11).

Measures, in one run on one Asterisk (the sandbox) and one PostgreSQL server:
  1. the bare-AMI originate rate: N Originates of Local/{n}@cbdialer-bench-customers (answers at once) into a
     context that hangs up at once, W in flight, through cbdialer's AmiLink and through a raw asyncio socket;
     the rate of OriginateResponse events is the peer figure (the better of the two clients). Beside it, for
     information, the rate at which Asterisk alone runs cbdialer's whole call flow (agent, callback context,
     customer, result) with K calls in flight and no database: what the full path could reach at most;
  2. whether Local-channel agents are seen as present (device state), first with cbdialer's own run_daemon;
  3. full-path throughput: M callbacks due now, K Local agents, the daemon in-process (the same wiring as
     cbdialer.app.run_daemon); from the first Originate to the last callback `completed`;
  4. due-to-Originate-sent latency at a steady 100 callbacks due per second with 1,000,000 stored.

The product is used as it is: its AmiLink, Database, Dialer and Scheduler, with bench-only wrappers around the
store and the telephony object that time each call (and, for Local agents, fill in their presence; see the
output). Bench code may hold SQL (loading, counting, cleaning up); the product's SQL is never copied here.

Run: bench/dialer [--originates N] [--callbacks M] [--rows R] [--steady-seconds S] ...
     (or .venv/bin/python bench/dialer.py --server-url URL with the CBDIALER_AMI_* variables of `deploy/sandbox env`)
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import math
import os
import pstats
import random
import signal
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, time as dtime, timedelta
from typing import Any

import asyncpg

from cbdialer.adapters.ami import AmiConfig, AmiLink, OriginateRequest, OriginateResponse
from cbdialer.adapters.db import Database
from cbdialer.app import DaemonError, ami_config, daemon_tasks, run_daemon, supervise, utc_now
from cbdialer.dialer import Dialer
from cbdialer.domain.models import Agent, CallingWindow, PreviewMode, Queue, QueueSettings, Schedule
from cbdialer.domain.presence import LOGGED_OFF_STATES, device_of
from cbdialer.logs import configure_logging
from cbdialer.scheduler import Scheduler
from cbdialer.settings import Settings

from benchlib import (
    cpu_by_program,
    cpu_delta,
    database_url,
    drop_databases,
    elapsed,
    fmt_ms,
    fmt_rate,
    kernel_dirty_mb,
    log,
    now_utc,
    pct,
    verdict,
)

QUEUE = "bench"
PROBE_QUEUE = "bench-probe"
STORED_QUEUE = "bench-stored"
AGENT_CONTEXT = "cbdialer-bench-agents"
CUSTOMER_CONTEXT = "cbdialer-bench-customers"
HANGUP_CONTEXT = "cbdialer-bench-hangup"
CALLBACK_CONTEXT = "cbdialer-callback"
FIVE_HOURS = timedelta(hours=5)
CALLBACK_COLUMNS = ["id", "queue_id", "destination", "type", "state", "reason", "due_at", "start_at", "end_at",
                    "created_at", "updated_at"]
TERMINAL = ("completed", "failed", "expired", "cancelled", "cancelled_by_inbound", "overwritten",
            "contact_excluded", "purged", "queue_terminated")


# -- where the CPU goes ----------------------------------------------------------------------------------



def cpu_text(busy: dict[str, float]) -> str:
    parts = [f"{name} {busy[name]:.2f}" for name in ("bench+daemon", "asterisk", "postgres", "machine")]
    return "cores busy: " + ", ".join(parts) + f" (of {os.cpu_count()})"


def cpu_since(before: dict[str, float], seconds: float) -> str:
    return cpu_text(cpu_delta(before, seconds))


# -- timings of the product's calls (bench-only wrappers) -------------------------------------------------

class Timings:
    """Calls and wall time per named operation. Times overlap (the scheduler and the event consumer run
    concurrently, and an outer call includes its inner ones)."""

    def __init__(self) -> None:
        self.stats: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])

    def add(self, name: str, seconds: float) -> None:
        entry = self.stats[name]
        entry[0] += 1
        entry[1] += seconds

    def wrap(self, name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - t0)
        return timed

    def wrap_started(self, name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        """For a function that settles something when called and returns the I/O to await (Dialer.present):
        call it at once, as the product does, and time the I/O."""
        def started(*args: Any, **kwargs: Any) -> Awaitable[Any]:
            step = fn(*args, **kwargs)

            async def timed() -> Any:
                t0 = time.perf_counter()
                try:
                    return await step
                finally:
                    self.add(name, time.perf_counter() - t0)
            return timed()
        return started

    def lines(self, per: int, top: int = 18) -> list[str]:
        rows = sorted(self.stats.items(), key=lambda kv: kv[1][1], reverse=True)[:top]
        out = []
        for name, (calls, total) in rows:
            out.append(f"{name:<34} {int(calls):>7,} calls  {total:7.2f} s  {total / calls * 1000:7.2f} ms/call  "
                       f"{total / max(per, 1) * 1000:7.2f} ms per callback")
        return out


class TimedStore:
    """The product's PostgresStore, each coroutine method timed."""

    def __init__(self, inner: Any, timings: Timings) -> None:
        self._inner = inner
        self._timings = timings

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not asyncio.iscoroutinefunction(attr):
            return attr
        timed = self._timings.wrap(f"store.{name}", attr)
        setattr(self, name, timed)
        return timed


class BenchTelephony:
    """The AmiLink the Dialer talks to, with: the wall-clock time each Originate was sent (keyed by the
    customer's dial string, which is unique per callback here), each call timed, and, if `presence` is given,
    the presence of the bench's Local-channel agents added to what DeviceStateList returns (Asterisk lists no
    Local devices there, so the Dialer would take every Local agent for logged off)."""

    def __init__(self, link: AmiLink, timings: Timings, presence: dict[str, str] | None) -> None:
        self.link = link
        self.timings = timings
        self.presence = presence
        self.sent: dict[str, float] = {}
        self.first_sent: float | None = None
        self.last_sent: float | None = None
        self.loaded = asyncio.Event()
        self.real_states: dict[str, str] = {}
        self.filled = 0

    async def originate(self, request: OriginateRequest) -> str:
        now = time.time()
        customer = request.variables.get("CBDIALER_CUSTOMER", "")
        self.sent.setdefault(customer, now)
        if self.first_sent is None:
            self.first_sent = now
        self.last_sent = now
        t0 = time.perf_counter()
        try:
            return await self.link.originate(request)
        finally:
            self.timings.add("ami.originate (until queued)", time.perf_counter() - t0)

    async def hangup(self, channel: str, cause: int = 16) -> None:
        await self.link.hangup(channel, cause)

    async def core_show_channels(self) -> list:
        return await self.link.core_show_channels()

    async def db_get(self, family: str, key: str) -> str | None:
        return await self.link.db_get(family, key)

    def drop(self, reason: str) -> None:
        self.link.drop(reason)

    @property
    def connected(self) -> bool:
        return self.link.connected

    async def device_states(self) -> dict[str, str]:
        states = await self.link.device_states()
        self.real_states = dict(states)
        if self.presence:
            for device, state in self.presence.items():
                if states.get(device, "UNKNOWN") in LOGGED_OFF_STATES:
                    states[device] = state
                    self.filled += 1
        self.loaded.set()
        return states


class LoopLag:
    """How late the event loop runs a task that asks to wake every `interval`: the time any await in the
    daemon waits for the loop once its I/O is ready."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.lags: list[float] = []
        self.task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(self.interval)
            self.lags.append((time.perf_counter() - t0 - self.interval) * 1000.0)

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    def text(self) -> str:
        if not self.lags:
            return "n/a"
        return (f"mean {sum(self.lags) / len(self.lags):.2f} ms, p50 {pct(self.lags, 50):.2f} ms, "
                f"p99 {pct(self.lags, 99):.1f} ms, max {max(self.lags):.1f} ms")


# -- the daemon, wired as cbdialer.app.run_daemon does it -----------------------------------------------------

@dataclass
class Daemon:
    db: Database
    link: AmiLink
    telephony: BenchTelephony
    dialer: Dialer
    scheduler: Scheduler
    stop: asyncio.Event
    task: asyncio.Task
    timings: Timings


async def start_daemon(url: str, settings: Settings, presence: dict[str, str] | None) -> Daemon:
    """cbdialer.app.run_daemon's wiring and supervised tasks, with the store and the telephony object wrapped
    (timed; Local agents' presence filled in). Returns once the AMI link is up and presence was loaded."""
    timings = Timings()
    db = await Database.connect(url)
    pending = await db.pending_migrations()
    if pending:
        await db.close()
        raise DaemonError(f"schema not up to date: {pending}")
    node_id = await db.register_node()
    link = AmiLink(ami_config(settings))
    telephony = BenchTelephony(link, timings, presence)
    store = TimedStore(db.store(), timings)
    lease = timedelta(seconds=settings.lease_seconds)
    dialer = Dialer(store, telephony, owner=node_id, clock=utc_now, lease=lease)
    scheduler = Scheduler(store, dialer, dialer.board, owner=node_id, clock=utc_now, lease=lease, ready=dialer.ready,
                          holding=dialer.holding)
    # Timed through instance attributes: the product calls these through self.tick, self.agents.agents_for,
    # self.dialer.present and dialer.on_event, so wrapping them on the instances changes nothing else.
    scheduler.tick = timings.wrap("scheduler.tick (claim + handle batch)", scheduler.tick)
    dialer.board.agents_for = timings.wrap("dialer.agents_for (routing input)", dialer.board.agents_for)
    dialer.present = timings.wrap_started("dialer.present (reserve..Originate)", dialer.present)
    on_event = dialer.on_event

    async def timed_on_event(event: Any) -> None:
        t0 = time.perf_counter()
        try:
            await on_event(event)
        finally:
            kind = getattr(event, "kind", None) or type(event).__name__
            timings.add(f"consumer: {kind}", time.perf_counter() - t0)

    dialer.on_event = timed_on_event
    stop = asyncio.Event()

    async def body() -> None:
        try:
            await supervise(daemon_tasks(db, node_id, link, dialer, scheduler, stop), stop)
        finally:
            try:
                await db.node_stopped(node_id)
            finally:
                await db.close()

    task = asyncio.create_task(body(), name="bench-daemon")
    daemon = Daemon(db, link, telephony, dialer, scheduler, stop, task, timings)
    try:
        await asyncio.wait_for(telephony.loaded.wait(), 20)
    except BaseException:
        await stop_daemon(daemon)
        raise
    return daemon


async def stop_daemon(daemon: Daemon) -> None:
    daemon.stop.set()
    try:
        await asyncio.wait_for(asyncio.shield(daemon.task), 30)
    except DaemonError as exc:
        log(f"daemon stopped with an error: {exc}")
    except TimeoutError:
        log("daemon did not stop within 30 s: cancelling it")
        daemon.task.cancel()
        await asyncio.gather(daemon.task, return_exceptions=True)


# -- 1. bare AMI ---------------------------------------------------------------------------------------------

@dataclass
class Bare:
    client: str
    n: int
    window: int
    ok: int = 0
    failed: int = 0
    errors: int = 0
    first_sent: float = math.nan
    last_queued: float = math.nan
    last_done: float = math.nan
    timed_out: int = 0

    @property
    def queued_rate(self) -> float:
        return (self.n - self.errors) / (self.last_queued - self.first_sent) if self.last_queued > self.first_sent else math.nan

    @property
    def done_rate(self) -> float:
        return self.ok / (self.last_done - self.first_sent) if self.last_done > self.first_sent else math.nan

    def text(self) -> str:
        extra = f", {self.failed} failed" if self.failed else ""
        extra += f", {self.errors} refused" if self.errors else ""
        extra += f", {self.timed_out} without response" if self.timed_out else ""
        return (f"{self.client}: {self.n:,} Originates, {self.window} in flight: queued {fmt_rate(self.queued_rate)}, "
                f"completed (OriginateResponse) {fmt_rate(self.done_rate)}{extra}")


def ami_settings(args) -> AmiConfig:
    return AmiConfig(host=args.ami_host, port=args.ami_port, username=args.ami_username, secret=args.ami_secret)


def customer_number(i: int, series: int) -> str:
    # +44 20 7nnn nnnn: a London number that phonenumbers parses; `series` keeps the phases' numbers apart.
    return f"+44207{series}{i:06d}"


async def bare_adapter(args, link: AmiLink) -> Bare:
    """N Originates through cbdialer's AmiLink, W workers, each waiting for its OriginateResponse."""
    result = Bare("cbdialer AmiLink", args.originates, args.window)
    waiting: dict[str, asyncio.Future] = {}

    async def drain() -> None:
        while True:
            event = await link.events.get()
            if isinstance(event, OriginateResponse):
                fut = waiting.pop(event.action_id, None)
                if fut is not None and not fut.done():
                    fut.set_result(event.success)

    counter = iter(range(args.originates))
    loop = asyncio.get_running_loop()

    async def worker() -> None:
        for i in counter:
            channel_id = str(uuid.uuid4())
            request = OriginateRequest(channel=f"Local/{customer_number(i, 9)}@{CUSTOMER_CONTEXT}",
                                       channel_id=channel_id, context=HANGUP_CONTEXT, exten="s", timeout_ms=10_000,
                                       variables={})
            fut = loop.create_future()
            waiting[request.action_id] = fut
            now = time.time()
            if math.isnan(result.first_sent):
                result.first_sent = now
            try:
                await link.originate(request)
            except Exception:  # noqa: BLE001 - counted, reported
                result.errors += 1
                waiting.pop(request.action_id, None)
                continue
            result.last_queued = time.time()
            try:
                ok = await asyncio.wait_for(fut, 30)
            except TimeoutError:
                result.timed_out += 1
                continue
            result.last_done = time.time()
            if ok:
                result.ok += 1
            else:
                result.failed += 1

    drainer = asyncio.create_task(drain())
    try:
        await asyncio.gather(*(worker() for _ in range(args.window)))
    finally:
        drainer.cancel()
        await asyncio.gather(drainer, return_exceptions=True)
    return result


class RawAmi:
    """A plain asyncio socket speaking AMI: bytes out, frames counted by prefix; no parsing beyond that."""

    def __init__(self, args) -> None:
        self.args = args
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.buffer = b""

    @staticmethod
    def frame(headers: list[tuple[str, str]]) -> bytes:
        return ("".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode()

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(self.args.ami_host, self.args.ami_port), 5)
        await asyncio.wait_for(self.reader.readline(), 5)  # the banner
        self.writer.write(self.frame([("Action", "Login"), ("Username", self.args.ami_username),
                                      ("Secret", self.args.ami_secret), ("Events", "on"), ("ActionID", "raw-login")]))
        async with asyncio.timeout(5):
            while True:
                chunk = await self.reader.read(65536)
                if not chunk:
                    raise ConnectionError("AMI closed the raw session during login")
                self.buffer += chunk
                frames = self.buffer.split(b"\r\n\r\n")
                self.buffer = frames.pop()
                for f in frames:
                    if b"ActionID: raw-login" in f:
                        if not f.startswith(b"Response: Success"):
                            raise ConnectionError(f"raw AMI login refused: {f[:200]!r}")
                        self.buffer = b"\r\n\r\n".join(frames[frames.index(f) + 1:] + [self.buffer])
                        return

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await asyncio.wait_for(self.writer.wait_closed(), 5)
            except Exception:  # noqa: BLE001
                pass

    async def run(self, name: str, n: int, window: int, action: Callable[[int], tuple[bytes, str]], *,
                  until_result: bool) -> Bare:
        """Send n actions, `window` in flight. One is finished by its OriginateResponse, or (until_result) by
        the dialplan's CbdialerResult UserEvent (a failed OriginateResponse finishes it too)."""
        assert self.reader is not None and self.writer is not None
        result = Bare(name, n, window)
        sem = asyncio.Semaphore(window)
        finished = 0
        all_done = asyncio.Event()
        attempts: set[str] = set()

        def finish(ok: bool) -> None:
            nonlocal finished
            finished += 1
            if ok:
                result.ok += 1
            else:
                result.failed += 1
            result.last_done = time.time()
            sem.release()
            if finished >= n:
                all_done.set()

        async def read() -> None:
            buffer = self.buffer
            while True:
                chunk = await self.reader.read(1 << 16)
                if not chunk:
                    raise ConnectionError("AMI closed the raw session")
                buffer += chunk
                frames = buffer.split(b"\r\n\r\n")
                buffer = frames.pop()
                for f in frames:
                    # Events go to every AMI session: count only those of this session's actions and attempts.
                    if f.startswith(b"Event: OriginateResponse"):
                        if b"ActionID: rawo-" not in f:
                            continue
                        if b"Response: Success" not in f:
                            finish(False)
                        elif not until_result:
                            finish(True)
                    elif until_result and f.startswith(b"Event: UserEvent") and b"UserEvent: CbdialerResult" in f:
                        at = f.find(b"AttemptId: ")
                        attempt = f[at + 11:at + 47].decode() if at >= 0 else ""
                        if attempt in attempts:
                            attempts.discard(attempt)
                            finish(True)
                    elif f.startswith(b"Response:") and b"ActionID: rawo-" in f:
                        result.last_queued = time.time()
                        if not f.startswith(b"Response: Success"):
                            result.errors += 1
                            finish(False)

        reader = asyncio.create_task(read())
        try:
            for i in range(n):
                await sem.acquire()
                if i == 0:
                    result.first_sent = time.time()
                data, attempt = action(i)
                attempts.add(attempt)
                self.writer.write(data)
                if i % 32 == 0:
                    await self.writer.drain()
            await self.writer.drain()
            done, _ = await asyncio.wait({reader, asyncio.ensure_future(all_done.wait())}, timeout=60,
                                         return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                reader.result()  # raises what ended it
            result.timed_out = n - finished
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        return result


def raw_originate(i: int) -> tuple[bytes, str]:
    channel_id = str(uuid.uuid4())
    return RawAmi.frame([("Action", "Originate"), ("ActionID", f"rawo-{i}"),
                         ("Channel", f"Local/{customer_number(i, 8)}@{CUSTOMER_CONTEXT}"),
                         ("Context", HANGUP_CONTEXT), ("Exten", "s"), ("Priority", "1"), ("Timeout", "10000"),
                         ("ChannelId", channel_id), ("Async", "true")]), channel_id


def raw_full_flow(agents: int) -> Callable[[int], tuple[bytes, str]]:
    """The Originate cbdialer sends for one attempt (agent first, into its callback context), by hand."""
    def action(i: int) -> tuple[bytes, str]:
        attempt = str(uuid.uuid4())
        customer = f"Local/{customer_number(i, 7)}@{CUSTOMER_CONTEXT}"
        return RawAmi.frame([
            ("Action", "Originate"), ("ActionID", f"rawo-{i}"), ("Channel", f"Local/{agent_id(i % agents)}@{AGENT_CONTEXT}"),
            ("Context", CALLBACK_CONTEXT), ("Exten", "s"), ("Priority", "1"), ("Timeout", "10000"),
            ("ChannelId", attempt), ("Async", "true"), ("CallerID", '"Callback" <1000>'),
            ("Variable", f"CBDIALER_ATTEMPT={attempt}"), ("Variable", f"CBDIALER_CUSTOMER={customer}"),
            ("Variable", "CBDIALER_TIMEOUT=10"), ("Variable", "CBDIALER_AMD=off"),
            ("Variable", "CBDIALER_PREVIEW=disabled"), ("Variable", "CBDIALER_PREVIEW_TIME=30")]), attempt
    return action


def agent_id(i: int) -> str:
    return f"9{i + 1:04d}"


def agent_dial_string(i: int) -> str:
    return f"Local/{agent_id(i)}@{AGENT_CONTEXT}"


async def bench_bare(args, results: dict) -> None:
    link = AmiLink(ami_settings(args))
    stop = asyncio.Event()
    runner = asyncio.create_task(link.run(stop))
    try:
        await link.wait_connected(10)
        # Presence of Local agents as Asterisk lists it (what the Dialer loads after LinkUp).
        states = await link.device_states()
        devices = [device_of(agent_dial_string(i)) for i in range(args.agents)]
        known = {d: states[d] for d in devices if d in states}
        results["presence_list"] = (len(states), known, sorted({d.split("/")[0] for d in states}))
        log(f"DeviceStateList: {len(states)} devices ({', '.join(sorted(states)[:8])}{', ...' if len(states) > 8 else ''}); "
            f"bench Local agents listed: {len(known)} of {len(devices)}")
        for r in range(args.bare_rounds):
            cpu0, t0 = cpu_by_program(), time.monotonic()
            bare = await bare_adapter(args, link)
            log(f"bare AMI round {r + 1}: {bare.text()}; {cpu_since(cpu0, time.monotonic() - t0)}")
            results.setdefault("bare_adapter", []).append(bare)
            await asyncio.sleep(1.0)  # let the last channels go
        actions = link.actions_sent["Originate"]
        log(f"AmiLink.actions_sent['Originate'] = {actions:,}")
    finally:
        stop.set()
        await asyncio.gather(runner, return_exceptions=True)

    raw = RawAmi(args)
    await raw.open()
    try:
        for r in range(args.bare_rounds):
            cpu0, t0 = cpu_by_program(), time.monotonic()
            bare = await raw.run("raw asyncio socket", args.originates, args.window, raw_originate, until_result=False)
            log(f"bare AMI round {r + 1}: {bare.text()}; {cpu_since(cpu0, time.monotonic() - t0)}")
            results.setdefault("bare_raw", []).append(bare)
            await asyncio.sleep(1.0)
        if args.flow_calls:
            cpu0, t0 = cpu_by_program(), time.monotonic()
            flow = await raw.run("raw socket, cbdialer's call flow, no database", args.flow_calls, args.agents,
                                 raw_full_flow(args.agents), until_result=True)
            results["flow_raw"] = flow
            results["flow_cpu"] = cpu_since(cpu0, time.monotonic() - t0)
            log(f"Asterisk alone, the whole call flow (agent, callback context, customer, CbdialerResult), "
                f"{args.agents} in flight: {flow.ok:,} calls, {fmt_rate(flow.done_rate)} "
                f"(Originates queued {fmt_rate(flow.queued_rate)}){'; ' + str(flow.failed) + ' failed' if flow.failed else ''}"
                f"; {results['flow_cpu']}")
            await asyncio.sleep(1.5)
    finally:
        await raw.close()


# -- databases --------------------------------------------------------------------------------------------

def bench_queue(queue_id: str, args) -> Queue:
    return Queue(id=queue_id, name=f"Bench {queue_id}", settings=QueueSettings(
        customer_dial_string=f"Local/{{number}}@{CUSTOMER_CONTEXT}", amd=False, preview_mode=PreviewMode.DISABLED,
        calling_window=CallingWindow(dtime(0, 0), dtime.max), schedule=Schedule(),
        max_concurrent_calls=args.max_concurrent, calls_per_second=args.cps, wrap_up_time=0, retry_interval=1,
        duration_for_no_answer=10, agent_offer_timeout=10, apply_dnc=False))


async def create_bench_database(server_url: str, name: str, args, queues: list[str], agent_queues: frozenset[str]) -> str:
    url = database_url(server_url, name)
    await Database.create_database_if_missing(url)
    db = await Database.connect(url, max_size=4)
    try:
        applied = await db.migrate()
        store = db.store()
        for q in queues:
            await store.save_queue(bench_queue(q, args))
        if agent_queues:
            await asyncio.gather(*(store.upsert_agent(Agent(id=agent_id(i), dial_string=agent_dial_string(i),
                                                            queues=agent_queues)) for i in range(args.agents)))
    finally:
        await db.close()
    log(f"created database {name}: migrated ({', '.join(applied)}), queues {', '.join(queues)}, "
        f"{args.agents if agent_queues else 0} Local agents {agent_dial_string(0)} .. {agent_dial_string(args.agents - 1)}")
    return url


def records_due(numbers: list[str], dues: list[datetime], queue_id: str, now: datetime) -> tuple[list[tuple], list[uuid.UUID]]:
    records, ids = [], []
    for number, due in zip(numbers, dues):
        callback_id = uuid.uuid4()
        ids.append(callback_id)
        records.append((callback_id, queue_id, number, "standard", "scheduled", "created", due, due,
                        due + FIVE_HOURS, now, now))
    return records, ids


async def state_counts(conn: asyncpg.Connection, queue_id: str) -> Counter:
    rows = await conn.fetch("SELECT state, count(*) AS n FROM callbacks WHERE queue_id = $1 GROUP BY state", queue_id)
    return Counter({r["state"]: r["n"] for r in rows})


# -- 2. presence with the product's own run_daemon ----------------------------------------------------------

async def probe_run_daemon(args, url: str, conn: asyncpg.Connection, results: dict) -> None:
    """cbdialer's run_daemon as it is, with a few callbacks due in a queue of Local agents: are they dialled?"""
    now = now_utc()
    numbers = [customer_number(i, 6) for i in range(args.probe_callbacks)]
    records, _ = records_due(numbers, [now] * len(numbers), PROBE_QUEUE, now)
    settings = Settings(database_url=url, ami_host=args.ami_host, ami_port=args.ami_port,
                        ami_username=args.ami_username, ami_secret=args.ami_secret, log_level="warning")
    stop = asyncio.Event()
    task = asyncio.create_task(run_daemon(settings, stop), name="probe-run-daemon")
    try:
        await asyncio.sleep(1.0)
        await conn.copy_records_to_table("callbacks", records=records, columns=CALLBACK_COLUMNS)
        await asyncio.sleep(args.probe_seconds)
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, 30)
        except Exception as exc:  # noqa: BLE001
            log(f"probe: run_daemon ended with {exc!r}")
    rows = await conn.fetch("SELECT state, reason, count(*) AS n, min(due_at) - now() AS next_in FROM callbacks "
                            "WHERE queue_id = $1 GROUP BY state, reason", PROBE_QUEUE)
    attempts = await conn.fetchval("SELECT count(*) FROM attempts a JOIN callbacks c ON c.id = a.callback_id "
                                   "WHERE c.queue_id = $1", PROBE_QUEUE)
    summary = "; ".join(f"{r['n']} {r['state']}/{r['reason']} (due again in {r['next_in'].total_seconds():,.0f} s)"
                        for r in rows)
    results["probe"] = (attempts, summary, len(records))
    log(f"probe with cbdialer.app.run_daemon (unchanged), {len(records)} callbacks due now, {args.agents} Local "
        f"agents: {attempts} attempts after {args.probe_seconds:g} s; callbacks: {summary}")
    await asyncio.sleep(1.0)  # any call the probe did place ends (calls last about 0.6 s)
    await conn.execute("DELETE FROM callbacks WHERE queue_id = $1", PROBE_QUEUE)
    await conn.execute("UPDATE agents SET reserved_for = NULL, reserved_until = NULL, wrap_up_until = NULL")


# -- 3. full-path throughput ---------------------------------------------------------------------------------

async def bench_full_path(args, server_url: str, name: str, results: dict) -> None:
    url = await create_bench_database(server_url, name, args, [QUEUE, PROBE_QUEUE], frozenset({QUEUE, PROBE_QUEUE}))
    conn = await asyncpg.connect(url)
    try:
        if args.probe_seconds > 0:
            await probe_run_daemon(args, url, conn, results)
        settings = Settings(database_url=url, ami_host=args.ami_host, ami_port=args.ami_port,
                            ami_username=args.ami_username, ami_secret=args.ami_secret, log_level="warning")
        presence = {device_of(agent_dial_string(i)): "NOT_INUSE" for i in range(args.agents)}
        daemon = await start_daemon(url, settings, presence)
        profiler = cProfile.Profile() if args.profile else None
        try:
            log(f"full path: daemon up (the wiring of run_daemon; presence of {daemon.telephony.filled} Local agents "
                f"filled in as NOT_INUSE, DeviceStateList had {len(daemon.telephony.real_states)} devices)")
            now = now_utc()
            numbers = [customer_number(i, 1) for i in range(args.callbacks)]
            records, ids = records_due(numbers, [now] * args.callbacks, QUEUE, now)
            cpu0, t_cpu = cpu_by_program(), time.monotonic()
            lag = LoopLag()
            lag.start()
            if profiler:
                profiler.enable()
            await conn.copy_records_to_table("callbacks", records=records, columns=CALLBACK_COLUMNS)
            log(f"full path: {args.callbacks:,} callbacks due now written (COPY)")
            deadline = time.monotonic() + args.full_path_timeout
            last_change, last_done, max_backlog = time.monotonic(), -1, 0
            next_log = time.monotonic() + 2
            counts: Counter = Counter()
            while time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                max_backlog = max(max_backlog, daemon.link.events.qsize())
                counts = await state_counts(conn, QUEUE)
                done = sum(counts[s] for s in TERMINAL)
                if done != last_done:
                    last_done, last_change = done, time.monotonic()
                if done >= args.callbacks:
                    break
                if time.monotonic() - last_change > args.stall_seconds:
                    log(f"full path: no callback finished for {args.stall_seconds:g} s: stopping")
                    break
                if time.monotonic() >= next_log:
                    next_log += 2
                    log(f"full path: {dict(counts)}; Originates {daemon.link.actions_sent['Originate']:,}; "
                        f"live {len(daemon.dialer.live)}; AMI event backlog {daemon.link.events.qsize():,}")
            if profiler:
                profiler.disable()
            await lag.stop()
            results["full_lag"] = lag
            log(f"full path: event-loop lag (a 5 ms sleep, how late it wakes): {lag.text()}")
            wall = time.monotonic() - t_cpu
            results["full_cpu_d"] = cpu_delta(cpu0, wall)
            results["full_wall"] = wall
            cpu = results["full_cpu"] = cpu_text(results["full_cpu_d"])
            results["full_counts"] = dict(counts)
            results["full_backlog"] = max_backlog
        finally:
            await stop_daemon(daemon)
        tel = daemon.telephony
        last_completed = await conn.fetchval(
            "SELECT max(updated_at) FROM callbacks WHERE queue_id = $1 AND state = 'completed'", QUEUE)
        completed = counts["completed"]
        originates = daemon.link.actions_sent["Originate"]
        span = (last_completed.timestamp() - tel.first_sent) if last_completed and tel.first_sent else math.nan
        results["full"] = {
            "completed": completed, "originates": originates, "span": span,
            "rate": completed / span if span and span > 0 else math.nan,
            "originate_rate": (originates / (tel.last_sent - tel.first_sent)
                               if tel.first_sent and tel.last_sent and tel.last_sent > tel.first_sent else math.nan),
        }
        reasons = await conn.fetch(
            "SELECT e.reason, count(*) AS n FROM callback_events e JOIN callbacks c ON c.id = e.callback_id "
            "WHERE c.queue_id = $1 GROUP BY e.reason ORDER BY n DESC", QUEUE)
        results["full_reasons"] = {r["reason"]: r["n"] for r in reasons}
        rows = await conn.fetch(
            "SELECT c.destination, a.started_at, a.ended_at, a.completion_status FROM attempts a "
            "JOIN callbacks c ON c.id = a.callback_id WHERE c.queue_id = $1", QUEUE)
        # The call as Asterisk ran it: from the Originate sent to the attempt's end; and how far before its
        # Originate each attempt was stamped as started (the scheduler's clock is read once per batch).
        calls, stamped_early = [], []
        for r in rows:
            sent = tel.sent.get(f"Local/{r['destination']}@{CUSTOMER_CONTEXT}")
            if sent is not None and r["ended_at"] is not None:
                calls.append(r["ended_at"].timestamp() - sent)
            if sent is not None:
                stamped_early.append((sent - r["started_at"].timestamp()) * 1000.0)
        hold = {"n": len(rows), "handled": sum(1 for r in rows if r["completion_status"] == "handled")}
        results["full_hold"] = (sum(calls) / len(calls) if calls else math.nan, hold["n"], hold["handled"])
        results["full_stamped_early"] = stamped_early
        f = results["full"]
        log(f"full path: {completed:,} of {args.callbacks:,} completed in {span:.2f} s from the first Originate: "
            f"{fmt_rate(f['rate'])}; {originates:,} Originates at {fmt_rate(f['originate_rate'])}; {cpu}")
        log(f"full path: audit reasons {results['full_reasons']}; attempts {hold['n']:,} ({hold['handled']:,} handled), "
            f"mean call (Originate sent to attempt ended) {results['full_hold'][0] * 1000:.0f} ms; attempts stamped "
            f"started before their Originate by p50 {fmt_ms(pct(stamped_early, 50))}, max "
            f"{fmt_ms(max(stamped_early) if stamped_early else math.nan)}; max AMI event backlog {max_backlog:,}")
        per = max(originates, 1)
        results["full_timings"] = daemon.timings.lines(per)
        results["full_stats"] = {k: (int(v[0]), v[1]) for k, v in daemon.timings.stats.items()}
        log("full path: where the time goes (wall time inside each call; the scheduler and the event consumer "
            "overlap, outer calls include inner ones):")
        for line in results["full_timings"]:
            print("      " + line)
        if profiler:
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumulative").print_stats("cbdialer", 30)
            log("full path: cProfile, top 25 by own time, then cbdialer's functions by cumulative time:")
            print(out.getvalue())
    finally:
        await conn.close()


@dataclass
class Steady:
    label: str
    rate: float
    seconds: float
    ids: list[uuid.UUID]
    dials: list[str]
    dues: list[datetime]
    sent: dict[str, float]
    cpu: str = ""
    max_backlog: int = 0
    lat: list[float] = field(default_factory=list)
    claim: list[float] = field(default_factory=list)
    claim_to_sent: list[float] = field(default_factory=list)

    def summary(self) -> str:
        done = sum(1 for x in self.lat if not math.isinf(x))
        return (f"{done:,} of {len(self.lat):,} originated; due-to-Originate-sent p50 {fmt_ms(pct(self.lat, 50))} "
                f"p99 {fmt_ms(pct(self.lat, 99))} max {fmt_ms(max(self.lat) if self.lat else math.nan)}; due-to-claim "
                f"p50 {fmt_ms(pct(self.claim, 50))} p99 {fmt_ms(pct(self.claim, 99))}; claim-to-sent p50 "
                f"{fmt_ms(pct(self.claim_to_sent, 50))} p99 {fmt_ms(pct(self.claim_to_sent, 99))}")


async def steady(args, conn: asyncpg.Connection, daemon: Daemon, *, rate: float, seconds: float, series: int,
                 label: str) -> Steady:
    """`rate` callbacks due per second for `seconds`, written in one COPY before the first falls due; waits
    until each has had its Originate sent, or until `latency_grace` after the last due time."""
    tel = daemon.telephony
    n = int(rate * seconds)
    now = now_utc()
    t0 = now + timedelta(seconds=args.lead)
    dues = [t0 + timedelta(seconds=i / rate) for i in range(n)]
    numbers = [customer_number(i, series) for i in range(n)]
    records, ids = records_due(numbers, dues, QUEUE, now)
    await conn.copy_records_to_table("callbacks", records=records, columns=CALLBACK_COLUMNS)
    if now_utc() >= t0:
        log(f"{label}: WARNING: writing the callbacks took longer than the lead time")
    log(f"{label}: {n:,} callbacks due at {rate:g}/s from {t0:%H:%M:%S.%f} for {seconds:g} s, with {args.rows:,} stored")
    dials = [f"Local/{x}@{CUSTOMER_CONTEXT}" for x in numbers]
    cpu0, t_cpu = cpu_by_program(), time.monotonic()
    last_due = dues[-1].timestamp()
    deadline = last_due + args.latency_grace
    max_backlog = 0
    while time.time() < deadline:
        await asyncio.sleep(0.1)
        max_backlog = max(max_backlog, daemon.link.events.qsize())
        if time.time() > last_due and dials[-1] in tel.sent and all(d in tel.sent for d in dials):
            break
    await asyncio.sleep(1.0)
    result = Steady(label, rate, seconds, ids, dials, dues, {d: tel.sent[d] for d in dials if d in tel.sent},
                    cpu_since(cpu0, time.monotonic() - t_cpu), max_backlog)
    return result


async def steady_analysis(conn: asyncpg.Connection, st: Steady) -> None:
    """Latencies: due-to-Originate-sent, and split at the claim (its audit line's time is the claim's clock)."""
    st.lat = [((st.sent[d] - due.timestamp()) * 1000.0) if d in st.sent else math.inf
              for d, due in zip(st.dials, st.dues)]
    claimed_at = {r["callback_id"]: r["at"] for r in await conn.fetch(
        "SELECT callback_id, min(at) AS at FROM callback_events WHERE reason = 'due' AND callback_id = ANY($1::uuid[]) "
        "GROUP BY callback_id", st.ids)}
    for callback_id, d, due in zip(st.ids, st.dials, st.dues):
        at = claimed_at.get(callback_id)
        if at is not None:
            st.claim.append((at - due).total_seconds() * 1000.0)
            if d in st.sent:
                st.claim_to_sent.append((st.sent[d] - at.timestamp()) * 1000.0)
    log(f"{st.label}: {st.summary()}; max AMI event backlog {st.max_backlog:,}; {st.cpu}")


# -- 4. due-to-Originate latency with 1M stored --------------------------------------------------------------

async def bench_latency(args, server_url: str, name: str, results: dict) -> None:
    url = await create_bench_database(server_url, name, args, [QUEUE, STORED_QUEUE], frozenset({QUEUE}))
    conn = await asyncpg.connect(url)
    try:
        rng = random.Random(20240611)
        now = now_utc()
        first_due = now + timedelta(hours=1)
        t_load = time.perf_counter()
        done_rows = 0
        while done_rows < args.rows:
            end = min(args.rows, done_rows + args.chunk)
            records = []
            for i in range(done_rows, end):
                due = first_due + timedelta(seconds=rng.random() * 30 * 86400.0)
                records.append((uuid.uuid4(), STORED_QUEUE, f"+4420794{i:07d}", "standard", "scheduled", "created",
                                due, due, due + FIVE_HOURS, now, now))
            await conn.copy_records_to_table("callbacks", records=records, columns=CALLBACK_COLUMNS)
            done_rows = end
            log(f"loaded {done_rows:,} / {args.rows:,} stored callbacks "
                f"({done_rows / (time.perf_counter() - t_load):,.0f} rows/s)")
        results["load_s"] = time.perf_counter() - t_load
        await conn.execute("ANALYZE")
        before = kernel_dirty_mb()
        t0 = time.perf_counter()
        await conn.execute("CHECKPOINT")
        results["checkpoint_s"] = time.perf_counter() - t0
        log(f"{args.rows:,} stored in {results['load_s']:.1f} s; ANALYZE; CHECKPOINT {results['checkpoint_s']:.1f} s "
            f"(kernel dirty + writeback {before:,.0f} MB before, {kernel_dirty_mb():,.0f} MB after)")

        settings = Settings(database_url=url, ami_host=args.ami_host, ami_port=args.ami_port,
                            ami_username=args.ami_username, ami_secret=args.ami_secret, log_level="warning")
        presence = {device_of(agent_dial_string(i)): "NOT_INUSE" for i in range(args.agents)}
        daemon = await start_daemon(url, settings, presence)
        try:
            tel = daemon.telephony
            # Warm-up: a daemon that has run for a while has its statements prepared and its pool open.
            if args.warmup:
                now = now_utc()
                numbers = [customer_number(i, 3) for i in range(args.warmup)]
                records, _ = records_due(numbers, [now] * len(numbers), QUEUE, now)
                await conn.copy_records_to_table("callbacks", records=records, columns=CALLBACK_COLUMNS)
                dials = [f"Local/{n}@{CUSTOMER_CONTEXT}" for n in numbers]
                limit = time.monotonic() + 15
                while time.monotonic() < limit and not all(d in tel.sent for d in dials):
                    await asyncio.sleep(0.05)
                await asyncio.sleep(1.0)
                log(f"latency: warm-up of {len(numbers)} callbacks: {sum(d in tel.sent for d in dials)} originated")
            if args.low_rate > 0 and args.low_seconds > 0:
                # Below the full path's throughput first: the latency without a growing backlog.
                daemon.timings.stats.clear()
                results["lat_low"] = await steady(args, conn, daemon, rate=args.low_rate, seconds=args.low_seconds,
                                                  series=4, label=f"latency at {args.low_rate:g}/s")
                await asyncio.sleep(2.0)
            daemon.timings.stats.clear()
            results["lat_high"] = await steady(args, conn, daemon, rate=args.steady_rate, seconds=args.steady_seconds,
                                               series=2, label="latency")
        finally:
            await stop_daemon(daemon)
        for key in ("lat_low", "lat_high"):
            if key in results:
                await steady_analysis(conn, results[key])
        results["lat_timings"] = daemon.timings.lines(max(len(results["lat_high"].sent), 1), top=10)
        log("latency: where the time goes (the steady phase at the target rate):")
        for line in results["lat_timings"]:
            print("      " + line)
        results["lat_size"] = await conn.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await conn.close()


# -- the report ----------------------------------------------------------------------------------------------


def report(args, results: dict, wall: float, server_version: str, asterisk_version: str) -> None:
    lines: list[tuple[str, str, str, str]] = []

    def row(figure: str, measured: str, target: str = "", ok: bool | None | str = "") -> None:
        lines.append((figure, measured, target, ok if isinstance(ok, str) else verdict(ok)))

    findings: list[str] = []
    peer = math.nan
    for key, label in (("bare_adapter", "bare AMI, cbdialer's AmiLink"), ("bare_raw", "bare AMI, raw asyncio socket")):
        runs: list[Bare] = results.get(key, [])
        if runs:
            best = max(runs, key=lambda b: b.done_rate if not math.isnan(b.done_rate) else -1)
            peer = best.done_rate if math.isnan(peer) else max(peer, best.done_rate)
            row(f"{label}: completed (queued)",
                f"{fmt_rate(best.done_rate)} ({fmt_rate(best.queued_rate)}); rounds: "
                + ", ".join(fmt_rate(b.done_rate) for b in runs), "", "info")
    if not math.isnan(peer):
        row(f"bare-AMI originate rate (peer: the better client; {args.originates:,} Originates, {args.window} in flight)",
            fmt_rate(peer), "800-950/s (DESIGN 10)", "info")
    flow: Bare | None = results.get("flow_raw")
    if flow:
        row(f"Asterisk alone, cbdialer's call flow, {args.agents} in flight, no database",
            f"{fmt_rate(flow.done_rate)} ({flow.ok:,} calls)", "ceiling", "info")
    if "presence_list" in results:
        total, known, techs = results["presence_list"]
        row("Local agents in DeviceStateList", f"{len(known)} of {args.agents} ({total} devices: {', '.join(techs)})",
            "", "info")
    if "probe" in results:
        attempts, summary, n = results["probe"]
        row("cbdialer.app.run_daemon unchanged, Local agents", f"{attempts} attempts for {n} due; {summary}", "dialled",
            attempts > 0)
        if attempts == 0 and "presence_list" in results and not results["presence_list"][1]:
            findings.append(
                "Local-channel agents count as logged off: Asterisk's DeviceStateList lists no Local/... devices, so "
                "Dialer.agents_for sees device state UNKNOWN for every Local agent and route() postpones each callback "
                f"by the retry interval; run_daemon as it is dials nobody ({summary}). Worked around IN THE BENCH ONLY: "
                "the full path runs run_daemon's wiring with a telephony wrapper whose device_states() adds NOT_INUSE "
                "for the bench agents; DeviceStateChange events then keep them current (INUSE/NOT_INUSE per call).")
    full = results.get("full")
    if full:
        ratio = full["rate"] / peer if peer and not math.isnan(peer) and not math.isnan(full["rate"]) else math.nan
        row(f"full path: completed callbacks/s ({full['completed']:,} of {args.callbacks:,}, {args.agents} Local agents)",
            f"{fmt_rate(full['rate'])} in {full['span']:.1f} s; Originates {fmt_rate(full['originate_rate'])}",
            "", "info")
        row("full path / bare-AMI originate rate", "n/a" if math.isnan(ratio) else f"{ratio:.2f}", ">= 0.80",
            None if math.isnan(ratio) else ratio >= 0.8)
        if flow and not math.isnan(flow.done_rate):
            row("full path / Asterisk-alone call flow", f"{full['rate'] / flow.done_rate:.2f}", "", "info")
        mean_hold, n_att, handled = results.get("full_hold", (math.nan, 0, 0))
        early = results.get("full_stamped_early", [])
        row("  attempt.started_at before its Originate was sent, p50 / max",
            f"{fmt_ms(pct(early, 50))} / {fmt_ms(max(early) if early else math.nan)}", "", "info")
        row("  attempts (handled); mean call (Originate to end); agent ceiling K / mean",
            f"{n_att:,} ({handled:,}); {mean_hold * 1000:.0f} ms; {fmt_rate(args.agents / mean_hold) if mean_hold else 'n/a'}",
            "", "info")
        row("  CPU during the full path", results.get("full_cpu", ""), "", "info")
        row("  holds written (audit reasons)", ", ".join(f"{k} {v:,}" for k, v in results.get("full_reasons", {}).items()),
            "", "info")
        row("  max AMI events waiting for the consumer", f"{results.get('full_backlog', 0):,}", "", "info")
        if "full_lag" in results:
            row("  event-loop lag (5 ms sleep, late by)", results["full_lag"].text(), "", "info")
    hi: Steady | None = results.get("lat_high")
    lo: Steady | None = results.get("lat_low")
    if hi is not None:
        p99 = pct(hi.lat, 99)
        row(f"due-to-Originate-sent, {hi.rate:g}/s for {hi.seconds:g} s, {args.rows:,} stored",
            f"p50 {fmt_ms(pct(hi.lat, 50))}  p99 {fmt_ms(p99)}  max {fmt_ms(max(hi.lat) if hi.lat else math.nan)}",
            "p99 <= 100 ms", p99 <= 100)
        row("  due-to-claim / claim-to-sent p50, p99",
            f"{fmt_ms(pct(hi.claim, 50))}, {fmt_ms(pct(hi.claim, 99))} / "
            f"{fmt_ms(pct(hi.claim_to_sent, 50))}, {fmt_ms(pct(hi.claim_to_sent, 99))}", "", "info")
        row("  originated / due; CPU", f"{sum(1 for x in hi.lat if not math.isinf(x)):,} / {len(hi.lat):,}; {hi.cpu}",
            "", "info")
    if lo is not None:
        row(f"due-to-Originate-sent at {lo.rate:g}/s for {lo.seconds:g} s (below the full-path rate)",
            f"p50 {fmt_ms(pct(lo.lat, 50))}  p99 {fmt_ms(pct(lo.lat, 99))}  max {fmt_ms(max(lo.lat) if lo.lat else math.nan)}"
            f"; due-to-claim p99 {fmt_ms(pct(lo.claim, 99))}", "", "info")
    if hi is not None or lo is not None:
        row("  1M load; CHECKPOINT; database size",
            f"{results.get('load_s', math.nan):.0f} s; {results.get('checkpoint_s', math.nan):.1f} s; "
            f"{results.get('lat_size', 0) / 1048576:,.0f} MB", "", "info")
    row("wall time of the whole run", f"{wall:.0f} s", "~8 min", wall <= 480)

    findings.extend(results.get("findings", []))
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    print()
    print(f"== bench/dialer: {server_version}; {asterisk_version}; cores {os.cpu_count()} ==")
    header = ("figure", "measured", "target", "")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    print("  ".join("-" * w for w in widths))
    for line in lines:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip())
    if findings:
        print()
        print("Findings:")
        for text in findings:
            print(f"- {text}")
    sys.stdout.flush()


def where_the_time_goes(results: dict, args) -> None:
    """Findings from the figures: what bounds the full path, from the timed calls and the CPU used."""
    full, flow = results.get("full"), results.get("flow_raw")
    if not full or not full["completed"]:
        return
    notes = results.setdefault("findings", [])
    runs = results.get("bare_raw", []) + results.get("bare_adapter", [])
    peer = max((b.done_rate for b in runs if not math.isnan(b.done_rate)), default=math.nan)
    mean_hold = results.get("full_hold", (math.nan,))[0]
    if flow and not math.isnan(flow.done_rate) and not math.isnan(peer):
        notes.append(
            f"Asterisk's own ceiling: driven by raw AMI with no database, cbdialer's call flow (agent Local pair, "
            f"[cbdialer-callback], Dial of a customer Local pair, hangup handler, 4 UserEvents) runs at "
            f"{fmt_rate(flow.done_rate)} with {args.agents} in flight, {flow.done_rate / peer:.2f} of the bare-AMI "
            f"originate rate ({fmt_rate(peer)}; a bare Originate is one Local pair hung up at once). So on this machine "
            f"the full path cannot reach 0.8 of the bare rate even with a dialer that costs nothing; "
            f"{flow.done_rate / peer:.2f} is the most any dialer could show. (Each call holds its agent about "
            f"{mean_hold * 1000:.0f} ms: Answer() on the customer's Local channel waits up to 500 ms for a media frame.)")
    stats = results.get("full_stats", {})
    n = full["completed"]

    def per(name: str) -> float:
        calls, total = stats.get(name, (0, 0.0))
        return total / n * 1000.0 if n else math.nan

    tick = per("scheduler.tick (claim + handle batch)")
    routing = per("dialer.agents_for (routing input)")
    agents_sql = per("store.agents_of_queue")
    present = per("dialer.present (reserve..Originate)")
    start = per("store.start_attempt")
    consumer = sum(total for name, (_, total) in stats.items() if name.startswith("consumer:")) / n * 1000.0
    state_writes = stats.get("store.set_attempt_states", (0, 0.0))[0]
    if not math.isnan(tick) and tick > 0:
        notes.append(
            f"Scheduler: a claimed batch is decided and routed one callback at a time, in due order, then its "
            f"writes and Originates run side by side (4 at a time); Scheduler.tick takes {tick:.1f} ms of wall time "
            f"per callback (so about {1000 / tick:,.0f} callbacks/s at most, against {fmt_rate(full['rate'])} "
            f"measured). Routing input {routing:.1f} ms per callback (store.agents_of_queue {agents_sql:.1f} ms, read "
            f"at most every 0.25 s; {args.agents} AgentViews built per callback: O(agents) per callback); each "
            f"present's I/O {present:.1f} ms (start_attempt {start:.1f} ms: one statement reserves the agent, writes "
            "the attempt and moves the callback; then the Originate), overlapping the others.")
    if consumer > 0:
        notes.append(
            f"AMI event consumer: {consumer:.1f} ms per call, so about {1000 / consumer:,.0f} calls/s at most; one "
            f"write per call on its path (end_attempt: attempt, callback, audit line and agent in one statement); "
            f"interaction states are stored in the background, coalesced ({int(state_writes):,} statements for "
            f"{n:,} calls). Most events waiting at once: {results.get('full_backlog', 0):,}.")
    if not math.isnan(mean_hold) and mean_hold > 0:
        notes.append(
            f"Agents: each call holds its agent {mean_hold * 1000:.0f} ms on average, so {args.agents} agents "
            f"can take at most {args.agents / mean_hold:,.0f} calls/s; callbacks that find no free agent are "
            "postponed by the queue's retry interval (1 s here), as a real queue would do.")
    busy = results.get("full_cpu_d")
    wall = results.get("full_wall")
    lag_text = results["full_lag"].text() if "full_lag" in results else "n/a"
    if busy and wall:
        py = busy["bench+daemon"] * wall / n * 1000.0
        notes.append(
            f"CPU: the Python process (daemon plus this bench's 100 ms poll) used {busy['bench+daemon']:.2f} of a core "
            f"during the full path, about {py:.1f} ms of CPU per callback (so one process could not pass about "
            f"{1000 / py:,.0f}/s even if nothing waited); PostgreSQL {busy['postgres']:.2f} and Asterisk "
            f"{busy['asterisk']:.2f} cores. The event loop woke a 5 ms sleep late by {lag_text}. "
            "Use --profile for a cProfile of the full path.")
    hi: Steady | None = results.get("lat_high")
    if hi is not None and hi.lat and pct(hi.lat, 99) > 100:
        notes.append(
            f"Latency at {hi.rate:g}/s: the arrival rate is above what the scheduler completes per second, so a "
            f"backlog builds (due-to-claim p50 {fmt_ms(pct(hi.claim, 50))}): the scheduler claims the next batch only "
            f"after the previous one's I/O is done. The claim itself is not the problem (bench/claim: p99 about "
            "6 ms with 1M stored).")


# -- main ----------------------------------------------------------------------------------------------------


async def asterisk_version(args) -> str:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(args.ami_host, args.ami_port), 5)
        banner = (await asyncio.wait_for(reader.readline(), 5)).decode().strip()
        writer.close()
        return banner
    except Exception:  # noqa: BLE001
        return "AMI ?"


async def main(args) -> int:
    server_url = args.server_url
    pid = os.getpid()
    names = [f"cbdialer_bench_{pid}_dialer", f"cbdialer_bench_{pid}_dialer_latency"]
    results: dict = {}
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    admin = await asyncpg.connect(server_url)
    try:
        server_version = " ".join((await admin.fetchval("SELECT version()")).split()[:2])
    finally:
        await admin.close()
    ami = await asterisk_version(args)
    log(f"bench/dialer: originates {args.originates:,} ({args.window} in flight), agents {args.agents}, callbacks "
        f"{args.callbacks:,}, stored {args.rows:,}, steady {args.steady_rate:g}/s for {args.steady_seconds:g} s; "
        f"{server_version}; {ami} on {args.ami_host}:{args.ami_port}")
    failed = False
    try:
        async with asyncio.timeout(args.max_seconds):
            await bench_bare(args, results)
            await bench_full_path(args, server_url, names[0], results)
            await drop_databases(server_url, names[:1])
            if args.rows >= 0 and args.steady_seconds > 0:
                await bench_latency(args, server_url, names[1], results)
    except (asyncio.CancelledError, TimeoutError) as exc:
        failed = True
        log(f"stopped early ({'time limit' if isinstance(exc, TimeoutError) else 'signal'}): reporting what was measured")
    except Exception as exc:  # noqa: BLE001
        failed = True
        log(f"FAILED: {exc!r}")
        import traceback
        traceback.print_exc()
    finally:
        await asyncio.shield(drop_databases(server_url, names))
    where_the_time_goes(results, args)
    report(args, results, elapsed(), server_version, ami)
    return 1 if failed else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server-url", default=env.get("CBDIALER_TEST_DATABASE_URL",
                                                   "postgresql://postgres@127.0.0.1:5432/postgres"),
                   help="a PostgreSQL server URL where we may create databases (its path is ignored)")
    p.add_argument("--ami-host", default=env.get("CBDIALER_AMI_HOST", "127.0.0.1"))
    p.add_argument("--ami-port", type=int, default=int(env.get("CBDIALER_AMI_PORT", "5038")))
    p.add_argument("--ami-username", default=env.get("CBDIALER_AMI_USERNAME", "cbdialer"))
    p.add_argument("--ami-secret", default=env.get("CBDIALER_AMI_SECRET", ""),
                   help="default: $CBDIALER_AMI_SECRET (deploy/sandbox env)")
    p.add_argument("--originates", type=int, default=3000, help="bare-AMI Originates per round")
    p.add_argument("--window", type=int, default=200, help="bare-AMI Originates in flight")
    p.add_argument("--bare-rounds", type=int, default=2, help="rounds per bare-AMI client; the best counts")
    p.add_argument("--flow-calls", type=int, default=3000,
                   help="calls of cbdialer's call flow driven by raw AMI without a database (0: skip)")
    p.add_argument("--agents", type=int, default=300, help="Local-channel agents (K)")
    p.add_argument("--callbacks", type=int, default=3000, help="callbacks due now in the full-path phase (M)")
    p.add_argument("--max-concurrent", type=int, default=400, help="the queue's max_concurrent_calls")
    p.add_argument("--cps", type=float, default=2000.0, help="the queue's calls_per_second")
    p.add_argument("--full-path-timeout", type=float, default=150.0, help="seconds allowed for the full path")
    p.add_argument("--stall-seconds", type=float, default=20.0,
                   help="stop the full path when no callback finished for this long")
    p.add_argument("--probe-callbacks", type=int, default=5, help="callbacks for the run_daemon presence probe")
    p.add_argument("--probe-seconds", type=float, default=3.0, help="how long the probe runs (0: skip)")
    p.add_argument("--rows", type=int, default=1_000_000, help="future callbacks stored for the latency phase")
    p.add_argument("--chunk", type=int, default=200_000, help="rows per COPY")
    p.add_argument("--steady-seconds", type=float, default=20.0, help="latency phase length (0: skip)")
    p.add_argument("--steady-rate", type=float, default=100.0, help="callbacks due per second in the latency phase")
    p.add_argument("--latency-grace", type=float, default=60.0,
                   help="seconds after the last due time to wait for Originates; later ones count as never")
    p.add_argument("--low-rate", type=float, default=20.0,
                   help="a first steady phase at this rate, below the full path's throughput (0: skip)")
    p.add_argument("--low-seconds", type=float, default=10.0)
    p.add_argument("--warmup", type=int, default=20, help="callbacks dialled before the latency phase")
    p.add_argument("--lead", type=float, default=2.0, help="seconds between writing and the first due time")
    p.add_argument("--profile", action="store_true", help="cProfile the process during the full path")
    p.add_argument("--max-seconds", type=float, default=480.0, help="hard limit on the measuring, seconds")
    return p.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    if not arguments.ami_secret:
        print("bench/dialer: no AMI secret: run through bench/dialer, or eval \"$(deploy/sandbox env)\" first",
              file=sys.stderr)
        sys.exit(1)
    configure_logging("console", "warning")
    sys.exit(asyncio.run(main(arguments)))
