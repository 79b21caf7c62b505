"""bench/dialer, phases 3 and 4: cbdialer's daemon in-process, built by cbdialer.app.build_daemon with the
bench's timing wrappers (support.daemon): full-path throughput with M callbacks due at once for K Local agents,
and due-to-Originate-sent latency at a steady rate with 1,000,000 callbacks stored. Also the bench's queue, its
Local agents and its customers (the sandbox's `cbdialer-bench-*` contexts), which phases 1 and 2 use too."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import math
import pstats
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time as dtime, timedelta

import asyncpg

from cbdialer.domain.models import Agent, CallingWindow, PreviewMode, Queue, QueueSettings, Schedule
from cbdialer.domain.presence import device_of

from support.ami import AmiTarget
from support.daemon import BenchDaemon, LoopLag, daemon_settings, running_daemon
from support.databases import (CALLBACK_COLUMNS, TERMINAL, checkpoint, load_future_callbacks, migrated_database,
                               records_due)
from support.machine import cpu_by_program, cpu_delta, cpu_since, cpu_text
from support.output import fmt_ms, fmt_rate, log, now_utc, pct

QUEUE = "bench"
PROBE_QUEUE = "bench-probe"
STORED_QUEUE = "bench-stored"
AGENT_CONTEXT = "cbdialer-bench-agents"
CUSTOMER_CONTEXT = "cbdialer-bench-customers"
HANGUP_CONTEXT = "cbdialer-bench-hangup"
CALLBACK_CONTEXT = "cbdialer-callback"


def customer_number(i: int, series: int) -> str:
    # +44 20 7nnn nnnn: a London number that phonenumbers parses; `series` keeps the phases' numbers apart.
    return f"+44207{series}{i:06d}"


def agent_id(i: int) -> str:
    return f"9{i + 1:04d}"


def agent_dial_string(i: int) -> str:
    return f"Local/{agent_id(i)}@{AGENT_CONTEXT}"


def local_presence(agents: int) -> dict[str, str]:
    """The bench's Local agents as idle (what BenchTelephony adds to DeviceStateList)."""
    return {device_of(agent_dial_string(i)): "NOT_INUSE" for i in range(agents)}


def bench_queue(queue_id: str, args: argparse.Namespace) -> Queue:
    return Queue(id=queue_id, name=f"Bench {queue_id}", settings=QueueSettings(
        customer_dial_string=f"Local/{{number}}@{CUSTOMER_CONTEXT}", amd=False, preview_mode=PreviewMode.DISABLED,
        calling_window=CallingWindow(dtime(0, 0), dtime.max), schedule=Schedule(),
        max_concurrent_calls=args.max_concurrent, calls_per_second=args.cps, wrap_up_time=0, retry_interval=1,
        duration_for_no_answer=10, agent_offer_timeout=10, apply_dnc=False))


async def create_bench_database(server_url: str, name: str, args: argparse.Namespace, queues: list[str],
                                agent_queues: frozenset[str]) -> str:
    async def seed(store) -> None:
        for q in queues:
            await store.save_queue(bench_queue(q, args))
        if agent_queues:
            await asyncio.gather(*(store.upsert_agent(Agent(id=agent_id(i), dial_string=agent_dial_string(i),
                                                            queues=agent_queues)) for i in range(args.agents)))

    url, applied = await migrated_database(server_url, name, max_size=4, seed=seed)
    log(f"created database {name}: migrated ({', '.join(applied)}), queues {', '.join(queues)}, "
        f"{args.agents if agent_queues else 0} Local agents {agent_dial_string(0)} .. {agent_dial_string(args.agents - 1)}")
    return url


async def state_counts(conn: asyncpg.Connection, queue_id: str) -> Counter:
    rows = await conn.fetch("SELECT state, count(*) AS n FROM callbacks WHERE queue_id = $1 GROUP BY state", queue_id)
    return Counter({r["state"]: r["n"] for r in rows})


# -- 3. full-path throughput ---------------------------------------------------------------------------------

async def full_path(args: argparse.Namespace, url: str, conn: asyncpg.Connection, results: dict) -> None:
    """M callbacks due now (COPY), the daemon dialling them: until all are in an end state, or stalled."""
    profiler = cProfile.Profile() if args.profile else None
    async with running_daemon(daemon_settings(url, AmiTarget.from_args(args)), local_presence(args.agents)) as daemon:
        log(f"full path: daemon up (build_daemon, as cbdialer run; presence of {daemon.telephony.filled} Local agents "
            f"filled in as NOT_INUSE, DeviceStateList had {len(daemon.telephony.real_states)} devices)")
        now = now_utc()
        records, _ = records_due([customer_number(i, 1) for i in range(args.callbacks)], [now] * args.callbacks,
                                 QUEUE, now)
        cpu0, t_cpu = cpu_by_program(), time.monotonic()
        claimed0 = daemon.claimed
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
        results["full_cpu"] = cpu_text(results["full_cpu_d"])
        results["full_counts"] = dict(counts)
        results["full_backlog"] = max_backlog
        results["full_claimed"] = daemon.claimed - claimed0
    await full_path_figures(args, conn, daemon, counts["completed"], results)
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats("cbdialer", 30)
        log("full path: cProfile, top 25 by own time, then cbdialer's functions by cumulative time:")
        print(out.getvalue())


async def full_path_figures(args: argparse.Namespace, conn: asyncpg.Connection, daemon: BenchDaemon, completed: int,
                            results: dict) -> None:
    """The rate (first Originate to the last `completed`), the calls as Asterisk ran them, and the timings."""
    tel = daemon.telephony
    last_completed = await conn.fetchval(
        "SELECT max(updated_at) FROM callbacks WHERE queue_id = $1 AND state = 'completed'", QUEUE)
    originates = daemon.link.actions_sent["Originate"]
    span = (last_completed.timestamp() - tel.first_sent) if last_completed and tel.first_sent else math.nan
    results["full"] = f = {
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
    # The longest time with nothing offered while callbacks were still waiting: between consecutive Originates,
    # from the first to the last (every agent free or not, some callback was due throughout).
    sends = sorted(tel.sent.values())
    gaps = [(b - a, i + 1) for i, (a, b) in enumerate(zip(sends, sends[1:]))]
    results["full_longest_gap"], after = max(gaps, default=(math.nan, 0))
    results["full_gap_after"] = (after, (sends[after - 1] - sends[0]) if after else math.nan)
    results["full_stamped_early"] = stamped_early
    log(f"full path: {completed:,} of {args.callbacks:,} completed in {span:.2f} s from the first Originate: "
        f"{fmt_rate(f['rate'])}; {originates:,} Originates at {fmt_rate(f['originate_rate'])}; {results['full_cpu']}")
    log(f"full path: audit reasons {results['full_reasons']}; attempts {hold['n']:,} ({hold['handled']:,} handled), "
        f"mean call (Originate sent to attempt ended) {results['full_hold'][0] * 1000:.0f} ms; attempts stamped "
        f"started before their Originate by p50 {fmt_ms(pct(stamped_early, 50))}, max "
        f"{fmt_ms(max(stamped_early) if stamped_early else math.nan)}; max AMI event backlog {results['full_backlog']:,}")
    log(f"full path: {results['full_claimed']:,} claimed for {args.callbacks:,} callbacks "
        f"({results['full_claimed'] / max(args.callbacks, 1):.2f} per callback); longest gap between Originates "
        f"{results['full_longest_gap'] * 1000:.0f} ms (after the {results['full_gap_after'][0]:,}th, "
        f"{results['full_gap_after'][1]:.1f} s in); daemon CPU per completed callback "
        f"{results['full_cpu_d']['bench+daemon'] * results['full_wall'] / max(completed, 1) * 1000:.2f} ms")
    results["full_timings"] = daemon.timings.lines(max(originates, 1))
    results["full_stats"] = {k: (int(v[0]), v[1]) for k, v in daemon.timings.stats.items()}
    log("full path: where the time goes (wall time inside each call; the scheduler and the event consumer "
        "overlap, outer calls include inner ones):")
    for line in results["full_timings"]:
        print("      " + line)


# -- 4. due-to-Originate latency with 1M stored --------------------------------------------------------------

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


async def steady(args: argparse.Namespace, conn: asyncpg.Connection, daemon: BenchDaemon, *, rate: float,
                 seconds: float, series: int, label: str) -> Steady:
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
    return Steady(label, rate, seconds, ids, dials, dues, {d: tel.sent[d] for d in dials if d in tel.sent},
                  cpu_since(cpu0, time.monotonic() - t_cpu), max_backlog)


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


async def bench_latency(args: argparse.Namespace, server_url: str, name: str, results: dict) -> None:
    url = await create_bench_database(server_url, name, args, [QUEUE, STORED_QUEUE], frozenset({QUEUE}))
    conn = await asyncpg.connect(url)
    try:
        results["load_s"] = await load_future_callbacks(conn, args.rows, queue_id=STORED_QUEUE, chunk=args.chunk,
                                                        what="stored callbacks")
        await conn.execute("ANALYZE")
        results["checkpoint_s"], before, after = await checkpoint(conn)
        log(f"{args.rows:,} stored in {results['load_s']:.1f} s; ANALYZE; CHECKPOINT {results['checkpoint_s']:.1f} s "
            f"(kernel dirty + writeback {before:,.0f} MB before, {after:,.0f} MB after)")
        settings = daemon_settings(url, AmiTarget.from_args(args))
        async with running_daemon(settings, local_presence(args.agents)) as daemon:
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
        for key in ("lat_low", "lat_high"):
            if key in results:
                await steady_analysis(conn, results[key])
        results["lat_timings"] = daemon.timings.lines(max(len(results["lat_high"].sent), 1), top=10)
        log("latency: where the time goes (the steady phase at the target rate):")
        for line in results["lat_timings"]:
            print("      " + line)
        results["lat_size"] = await conn.fetchval("SELECT pg_database_size(current_database())")
        results["lat_url"] = url
    finally:
        await conn.close()
