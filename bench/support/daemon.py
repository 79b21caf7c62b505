"""cbdialer's daemon in the bench's own process, built by cbdialer.app.build_daemon (the wiring of `cbdialer
run`, supervised tasks and all) with bench-only wrappers: the store and the telephony object time every call,
the telephony object notes when each Originate was sent and, for Local-channel agents, fills in the presence
that Asterisk does not list; the scheduler's tick, routing, `present` and the event consumer are timed on the
instances. Also the event loop's lag."""

from __future__ import annotations

import asyncio
import math
import contextlib
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cbdialer.adapters.ami import AmiLink, OriginateRequest
from cbdialer.app import DaemonError, Daemon, build_daemon
from cbdialer.domain.presence import LOGGED_OFF_STATES
from cbdialer.settings import Settings

from support.ami import AmiTarget
from support.output import log, pct


def daemon_settings(url: str, ami: AmiTarget) -> Settings:
    """The daemon's settings for a bench database and AMI (the rest: cbdialer's defaults)."""
    return Settings(database_url=url, ami_host=ami.host, ami_port=ami.port, ami_username=ami.username,
                    ami_secret=ami.secret, log_level="warning")


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
        self.claimed = 0  # callbacks handed out by claim_due (one callback claimed twice counts twice)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not asyncio.iscoroutinefunction(attr):
            return attr
        timed = self._timings.wrap(f"store.{name}", attr)
        if name == "claim_due":
            async def counted(*args: Any, **kwargs: Any) -> Any:
                rows = await timed(*args, **kwargs)
                self.claimed += len(rows)
                return rows
            setattr(self, name, counted)
            return counted
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

    def __getattr__(self, name: str):
        # Everything else the Dialer asks of Asterisk (queue callers and members, pauses, channel variables,
        # drop, connected): the link's own, untimed, so that the bench never lags behind the Telephony port.
        return getattr(self.link, name)

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


def time_the_dialer(daemon: Daemon, timings: Timings) -> None:
    """The scheduler's tick, routing input, `present` and the event consumer, timed through instance
    attributes: the product calls them through self.tick, self.agents.agents_for, self.dialer.present and
    dialer.on_event (looked up for each event), so wrapping them on the instances changes nothing else."""
    scheduler, dialer = daemon.scheduler, daemon.dialer
    scheduler.tick = timings.wrap("scheduler.tick (claim + handle batch)", scheduler.tick)  # type: ignore[method-assign]
    dialer.board.pool_for = timings.wrap("dialer.pool_for (routing input)",  # type: ignore[method-assign]
                                         dialer.board.pool_for)
    dialer.present = timings.wrap_started("dialer.present (reserve..Originate)", dialer.present)  # type: ignore[method-assign]
    on_event = dialer.on_event

    async def timed_on_event(event: Any) -> None:
        t0 = time.perf_counter()
        try:
            await on_event(event)
        finally:
            kind = getattr(event, "kind", None) or type(event).__name__
            timings.add(f"consumer: {kind}", time.perf_counter() - t0)

    dialer.on_event = timed_on_event  # type: ignore[method-assign]


@dataclass
class BenchDaemon:
    """A running daemon of build_daemon's, its telephony wrapper and its timings."""

    daemon: Daemon
    telephony: BenchTelephony
    timings: Timings
    stores: list[TimedStore]

    @property
    def claimed(self) -> int:
        """Callbacks handed out by every claim so far."""
        return sum(store.claimed for store in self.stores)

    @property
    def link(self) -> AmiLink:
        return self.daemon.link

    @property
    def dialer(self) -> Any:
        return self.daemon.dialer


@contextlib.asynccontextmanager
async def running_daemon(settings: Settings, presence: dict[str, str] | None) -> AsyncIterator[BenchDaemon]:
    """The daemon built by build_daemon (no admin API), timed, its tasks supervised in the background; entered
    once the AMI link is up and presence was loaded. On the way out: `stop`, at most 30 s for the tasks to end
    (then they are cancelled), and build_daemon's clean-up (node stopped, pools closed)."""
    timings = Timings()
    wrapped: list[BenchTelephony] = []
    stores: list[TimedStore] = []

    def wrap_store(store: Any) -> TimedStore:
        stores.append(TimedStore(store, timings))
        return stores[-1]

    def wrap_telephony(link: AmiLink) -> BenchTelephony:
        wrapped.append(BenchTelephony(link, timings, presence))
        return wrapped[0]

    async with build_daemon(settings, wrap_store=wrap_store,
                            wrap_telephony=wrap_telephony, serve_api=False) as daemon:
        time_the_dialer(daemon, timings)
        telephony = wrapped[0]
        task = asyncio.create_task(daemon.run(), name="bench-daemon")
        try:
            loaded = asyncio.ensure_future(telephony.loaded.wait())
            done, _ = await asyncio.wait({loaded, task}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
            loaded.cancel()
            if task in done:
                task.result()  # raises why it stopped
                raise DaemonError("the daemon stopped before it loaded presence")
            if loaded not in done:
                raise TimeoutError("the daemon's AMI link was not up with presence loaded within 20 s")
            yield BenchDaemon(daemon, telephony, timings, stores)
        finally:
            await stop(daemon, task)


async def stop(daemon: Daemon, task: asyncio.Task) -> None:
    daemon.stop.set()
    try:
        await asyncio.wait_for(asyncio.shield(task), 30)
    except DaemonError as exc:
        log(f"daemon stopped with an error: {exc}")
    except TimeoutError:
        log("daemon did not stop within 30 s: cancelling it")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


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

    def p99(self) -> float:
        return pct(self.lags, 99) if self.lags else math.nan

    def text(self) -> str:
        if not self.lags:
            return "n/a"
        return (f"mean {sum(self.lags) / len(self.lags):.2f} ms, p50 {pct(self.lags, 50):.2f} ms, "
                f"p99 {pct(self.lags, 99):.1f} ms, max {max(self.lags):.1f} ms")
