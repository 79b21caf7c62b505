"""bench/claim: claiming due callbacks from PostgreSQL with 1,000,000 stored (DESIGN.md sections 8 and 11).

Measures, in one run on one PostgreSQL server:
  1. the claim's plan at 0 and N rows, and the first claim after the load on a pool (max_size 1) whose
     prepared claim statement was planned while the table was empty (the trap of DESIGN.md section 8);
  2. due-to-claimed latency at a steady 100 callbacks due per second;
  3. a burst of 10,000 due in one second: how soon after the last due instant all are claimed;
  4. claim throughput on a backlog of 50,000 due rows;
  5. the peer, procrastinate 3.10, with the same N future jobs stored, the same steady rate and burst;
  6. database and index sizes.

The claim is cbdialer's own (PostgresStore.claim_due); the claimer loop mirrors cbdialer.scheduler.Scheduler
(claim; if less than a full batch, sleep until the earliest of next_due_at(), the poll interval, a NOTIFY).
Bench code may hold SQL (loading, explaining, cleaning up); the product's SQL is never copied here.

Run: bench/claim [--rows N] [--steady-seconds S] ...   (or .venv/bin/python bench/claim.py --server-url URL)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import random
import re
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import asyncpg

from cbdialer.adapters.db.database import Database
from cbdialer.adapters.db.queries import load_queries

from benchlib import (
    database_url,
    drop_databases,
    elapsed,
    fmt_ms,
    fmt_rate,
    kernel_dirty_mb,
    log,
    now_utc,
    pct,
    quote_ident,
    verdict,
)

CHANNEL = "cbdialer_due"
PEER_CHANNEL = "procrastinate_any_queue_v1"
LEASE = timedelta(seconds=30)
FIVE_HOURS = timedelta(hours=5)
CALLBACK_COLUMNS = ["id", "queue_id", "destination", "type", "state", "reason", "due_at", "start_at", "end_at",
                    "created_at", "updated_at"]
INDEX_NODE = re.compile(r"(Index Scan|Index Only Scan)( Backward)? using callbacks_due\b|Bitmap Index Scan on callbacks_due\b")
EXEC_TIME = re.compile(r"Execution Time: ([0-9.]+) ms")


def ms(delta: timedelta) -> float:
    return delta.total_seconds() * 1000.0


def maxv(values: list[float]) -> float:
    return max(values) if values else math.nan


# -- the claimers --------------------------------------------------------------------------------------

@dataclass
class Phase:
    """What one claiming phase saw. Latencies are due-to-claimed: the wall clock when the claim (or fetch)
    returned minus the due time written for that row."""
    expected: int
    latencies_ms: list[float] = field(default_factory=list)
    call_ms: list[float] = field(default_factory=list)
    calls: int = 0
    others: int = 0  # rows claimed that this phase did not write (none expected)
    first_start: datetime | None = None
    last_end: datetime | None = None
    stopped_at: datetime | None = None
    unclaimed_due: list[datetime] = field(default_factory=list)
    next_due_ms: list[float] = field(default_factory=list)
    sleep_ms: list[float] = field(default_factory=list)
    loop_ms: float = 0.0  # wall time of the whole loop
    full: int = 0  # claims that returned a full batch
    # Iterations of the claimer that took longer than 50 ms from claim to wake-up, worst first: where it went.
    stalls: list[tuple[float, str]] = field(default_factory=list)

    def budget(self) -> str:
        """Where the claimer's time went: in claims, in next_due_at, asleep, and the rest (Python)."""
        claims, nexts, sleeps = sum(self.call_ms), sum(self.next_due_ms), sum(self.sleep_ms)
        rest = self.loop_ms - claims - nexts - sleeps
        return (f"{self.loop_ms / 1000:.2f} s = claims {claims / 1000:.2f} s + next_due_at {nexts / 1000:.2f} s "
                f"+ asleep {sleeps / 1000:.2f} s + other {rest / 1000:.2f} s")

    def stall_report(self, n: int = 3) -> str:
        worst = sorted(self.stalls, reverse=True)[:n]
        return "; ".join(text for _, text in worst) if worst else "none"

    @property
    def claimed(self) -> int:
        return len(self.latencies_ms)

    def censored(self) -> list[float]:
        return self.latencies_ms + [math.inf] * len(self.unclaimed_due)

    def censor_floor(self) -> float | None:
        """Every unclaimed row waited at least this long (the deadline minus the latest unclaimed due time)."""
        if not self.unclaimed_due or self.stopped_at is None:
            return None
        return max(0.0, ms(self.stopped_at - max(self.unclaimed_due)))

    def rate(self) -> float:
        if self.claimed < 2 or self.first_start is None or self.last_end is None:
            return math.nan
        return self.claimed / (self.last_end - self.first_start).total_seconds()


def pressure() -> tuple[int, int] | None:
    """Linux pressure-stall totals (µs): time some task waited on I/O, and on CPU. None where unsupported."""
    try:
        totals = []
        for name in ("io", "cpu"):
            with open(f"/proc/pressure/{name}") as f:
                first = f.readline()  # the "some" line
            totals.append(int(first.rsplit("total=", 1)[1]))
        return totals[0], totals[1]
    except (OSError, IndexError, ValueError):
        return None


def pressure_since(before: tuple[int, int] | None) -> str:
    after = pressure()
    if before is None or after is None:
        return ""
    return f" [machine: I/O stall {(after[0] - before[0]) / 1000:.0f} ms, CPU stall {(after[1] - before[1]) / 1000:.0f} ms]"


async def wait_for_wake(wake: asyncio.Event, delay: float) -> None:
    if delay <= 0:
        return
    try:
        await asyncio.wait_for(wake.wait(), timeout=delay)
    except asyncio.TimeoutError:
        pass


async def run_claimer(store, owner: uuid.UUID, wake: asyncio.Event, expected: dict[uuid.UUID, datetime], *,
                      limit: int, deadline: datetime, poll: float) -> Phase:
    """One claimer, as cbdialer's Scheduler does it: claim; a full batch means claim again at once; else sleep
    until the earliest of next_due_at() (if in the future), the poll interval, or a NOTIFY on cbdialer_due."""
    phase = Phase(expected=len(expected))
    pending = dict(expected)
    t_loop = time.perf_counter()
    while pending:
        now = now_utc()
        if now >= deadline:
            break
        psi = pressure()
        t0 = time.perf_counter()
        batch = await store.claim_due(owner, now=now, limit=limit, lease=LEASE, actor="bench")
        done = now_utc()
        phase.call_ms.append((time.perf_counter() - t0) * 1000.0)
        phase.calls += 1
        mine = 0
        for callback in batch:
            due = pending.pop(callback.id, None)
            if due is None:
                phase.others += 1
                continue
            phase.latencies_ms.append(ms(done - due))
            mine += 1
        if mine:
            if phase.first_start is None:
                phase.first_start = now
            phase.last_end = done
        claim_ms = phase.call_ms[-1]
        if len(batch) >= limit:
            phase.full += 1
            if claim_ms > 50:
                phase.stalls.append((claim_ms, f"{now:%H:%M:%S.%f}: claim {claim_ms:.0f} ms ({len(batch)} rows)"
                                               + pressure_since(psi)))
            continue
        delay = poll
        t1 = time.perf_counter()
        next_due = await store.next_due_at()
        t2 = time.perf_counter()
        phase.next_due_ms.append((t2 - t1) * 1000.0)
        if next_due is not None:
            delay = min(delay, max(0.0, (next_due - now_utc()).total_seconds()))
        t3 = time.perf_counter()
        await wait_for_wake(wake, delay)
        notified = wake.is_set()
        wake.clear()
        total = (time.perf_counter() - t0) * 1000.0
        slept = (time.perf_counter() - t3) * 1000.0
        phase.sleep_ms.append(slept)
        if total - delay * 1000.0 > 20:  # 20 ms more than the intended sleep
            phase.stalls.append((total, f"{now:%H:%M:%S.%f}: claim {claim_ms:.0f} ms ({len(batch)} rows), "
                                        f"next_due_at {phase.next_due_ms[-1]:.0f} ms, slept {slept:.0f} ms "
                                        f"for {delay * 1000:.0f} ms{' (notified)' if notified else ''}"
                                        + pressure_since(psi)))
    phase.loop_ms = (time.perf_counter() - t_loop) * 1000.0
    phase.stopped_at = now_utc()
    phase.unclaimed_due = list(pending.values())
    return phase


async def run_peer_fetcher(app, worker_id: int, wake: asyncio.Event, expected: dict[int, datetime], *,
                           deadline: datetime, poll: float) -> Phase:
    """procrastinate's worker loop, without running the task: fetch_job until it returns None, then wait for a
    NOTIFY or the poll interval (its worker polls every 5 s by default; 50 ms here is kinder to it)."""
    phase = Phase(expected=len(expected))
    pending = dict(expected)
    while pending:
        now = now_utc()
        if now >= deadline:
            break
        t0 = time.perf_counter()
        job = await app.job_manager.fetch_job(queues=None, worker_id=worker_id)
        done = now_utc()
        phase.call_ms.append((time.perf_counter() - t0) * 1000.0)
        phase.calls += 1
        if job is not None:
            due = pending.pop(job.id, None)
            if due is None:
                phase.others += 1
            else:
                phase.latencies_ms.append(ms(done - due))
                if phase.first_start is None:
                    phase.first_start = now
                phase.last_end = done
            continue
        await wait_for_wake(wake, poll)
        wake.clear()
    phase.stopped_at = now_utc()
    phase.unclaimed_due = list(pending.values())
    return phase


# -- cbdialer ------------------------------------------------------------------------------------------

def callback_records(start: int, end: int, *, rng: random.Random, now: datetime, first_due: datetime,
                     span_seconds: float) -> list[tuple]:
    records = []
    for i in range(start, end):
        due = first_due + timedelta(seconds=rng.random() * span_seconds)
        records.append((uuid.uuid4(), "bench", f"+4420794{i:07d}", "standard", "scheduled", "created",
                        due, due, due + FIVE_HOURS, now, now))
    return records


def timed_records(dues: list[datetime], now: datetime, offset: int) -> tuple[list[tuple], dict[uuid.UUID, datetime]]:
    records, expected = [], {}
    for i, due in enumerate(dues):
        callback_id = uuid.uuid4()
        expected[callback_id] = due
        records.append((callback_id, "bench", f"+4420795{offset + i:07d}", "standard", "scheduled", "created",
                        due, due, due + FIVE_HOURS, now, now))
    return records, expected


def literal_claim(query: str, now: datetime, owner: uuid.UUID, limit: int) -> str:
    values = {1: f"'{now.isoformat()}'::timestamptz", 2: str(limit), 3: f"'{owner}'::uuid",
              4: f"'{int(LEASE.total_seconds())} seconds'::interval", 5: "'bench'::text"}
    for n in sorted(values, reverse=True):
        query = query.replace(f"${n}", values[n])
    return query


def execution_ms(plan: list[str]) -> float:
    for line in plan:
        found = EXEC_TIME.search(line)
        if found:
            return float(found.group(1))
    return math.nan


async def settle(conn: asyncpg.Connection, what: str, args, results: dict, key: str) -> None:
    """After the bulk load, before measuring: CHECKPOINT, so the load's ~1 GB of dirty pages is written now
    and not by the kernel's writeback in the middle of the measurement (where it stalled commits by 100-300 ms
    in some runs). A server that accumulated its callbacks over weeks has no such backlog of writes."""
    if not args.settle:
        log(f"{what}: not settled (--no-settle); kernel dirty + writeback {kernel_dirty_mb():,.0f} MB")
        return
    before = kernel_dirty_mb()
    t0 = time.perf_counter()
    try:
        await conn.execute("CHECKPOINT")
    except asyncpg.PostgresError as exc:
        log(f"{what}: CHECKPOINT refused ({exc}); measuring without it")
        return
    took = time.perf_counter() - t0
    results[key] = took
    log(f"{what}: settled with CHECKPOINT in {took:.1f} s (kernel dirty + writeback {before:,.0f} MB before, "
        f"{kernel_dirty_mb():,.0f} MB after)")


def print_plan(title: str, plan: list[str]) -> None:
    log(title)
    for line in plan:
        print("      " + line)
    sys.stdout.flush()


def index_node(plan: list[str]) -> str | None:
    for line in plan:
        found = INDEX_NODE.search(line)
        if found:
            return found.group(0)
    return None


async def explain_claim(conn: asyncpg.Connection, query: str, owner: uuid.UUID, *, analyze: bool,
                        limit: int = 100) -> dict:
    """The claim's plan with literal values (a custom plan), and its generic plan (PostgreSQL 15 has no
    EXPLAIN (GENERIC_PLAN): PREPARE with plan_cache_mode = force_generic_plan, EXPLAIN EXECUTE). Everything
    that could execute the claim runs in a transaction that is rolled back."""
    now = now_utc()
    out: dict = {}
    prepared = False
    tx = conn.transaction()
    await tx.start()
    try:
        rows = await conn.fetch("EXPLAIN " + literal_claim(query, now, owner, limit))
        out["custom"] = [r[0] for r in rows]
        if analyze:
            rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + literal_claim(query, now, owner, limit))
            out["analyze"] = [r[0] for r in rows]
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute("PREPARE bench_claim(timestamptz, integer, uuid, interval, text) AS " + query)
        prepared = True
        rows = await conn.fetch(
            f"EXPLAIN EXECUTE bench_claim('{now.isoformat()}', {limit}, '{owner}', '30 seconds', 'bench')")
        out["generic"] = [r[0] for r in rows]
    finally:
        await tx.rollback()
        if prepared:  # PREPARE is not undone by ROLLBACK
            await conn.execute("DEALLOCATE bench_claim")
    return out


async def sizes(conn: asyncpg.Connection) -> dict[str, int]:
    row = await conn.fetchrow(
        "SELECT pg_database_size(current_database()) AS db, pg_relation_size('callbacks_due') AS due_index, "
        "pg_total_relation_size('callbacks') AS callbacks_total, pg_relation_size('callbacks') AS callbacks_heap")
    return dict(row)


def mb(n: float) -> str:
    return "n/a" if math.isnan(n) else f"{n / 1048576:,.1f} MB"


async def bench_cbdialer(args, server_url: str, name: str, results: dict) -> None:
    url = database_url(server_url, name)
    await Database.create_database_if_missing(url)
    log(f"created database {name}")
    migrator = await Database.connect(url, max_size=2)
    try:
        applied = await migrator.migrate()
    finally:
        await migrator.close()
    log(f"migrated: {', '.join(applied)}")
    queries = load_queries()
    claim_sql = queries["callbacks_claim_due"]

    loader = await asyncpg.connect(url)
    listener = await asyncpg.connect(url)
    claim_db = await Database.connect(url, min_size=1, max_size=1)
    wake = asyncio.Event()
    notifications = {"n": 0}

    def on_notify(*_: object) -> None:
        notifications["n"] += 1
        wake.set()

    try:
        await loader.execute("INSERT INTO queues (id, name) VALUES ('bench', 'Bench')")
        await listener.add_listener(CHANNEL, on_notify)
        store = claim_db.store()
        owner = uuid.uuid4()

        # 1. The claim is prepared and planned while the table is empty, on the pool that is used from then on.
        empty_claims = []
        for _ in range(args.empty_claims):
            t0 = time.perf_counter()
            got = await store.claim_due(owner, now=now_utc(), limit=100, lease=LEASE, actor="bench")
            empty_claims.append((time.perf_counter() - t0) * 1000.0)
            assert not got
        log(f"{args.empty_claims} claims on the empty table (pool max_size 1): "
            f"{', '.join(f'{x:.1f}' for x in empty_claims)} ms")
        plans_empty = await explain_claim(loader, claim_sql, owner, analyze=False)
        results["plan_empty"] = (index_node(plans_empty["custom"]), index_node(plans_empty["generic"]))
        log(f"plan at 0 rows: custom {results['plan_empty'][0] or 'NO callbacks_due index scan'}; "
            f"generic {results['plan_empty'][1] or 'NO callbacks_due index scan'}")

        # 2. Load N future callbacks with COPY.
        rng = random.Random(20240611)
        now = now_utc()
        first_due = now + timedelta(hours=1)
        span = 30 * 86400.0
        chunk = args.chunk
        t_load = time.perf_counter()
        done_rows = 0
        while done_rows < args.rows:
            end = min(args.rows, done_rows + chunk)
            records = callback_records(done_rows, end, rng=rng, now=now, first_due=first_due, span_seconds=span)
            await loader.copy_records_to_table("callbacks", records=records, columns=CALLBACK_COLUMNS)
            done_rows = end
            elapsed = time.perf_counter() - t_load
            log(f"loaded {done_rows:,} / {args.rows:,} callbacks ({done_rows / elapsed:,.0f} rows/s)")
        load_s = time.perf_counter() - t_load
        results["load_rate"] = args.rows / load_s
        log(f"COPY of {args.rows:,} callbacks: {load_s:.1f} s, {results['load_rate']:,.0f} rows/s "
            "(with its indexes and the statement-level NOTIFY trigger)")

        # The first claim after the load, on the pool whose statement was planned on the empty table.
        t0 = time.perf_counter()
        await store.claim_due(owner, now=now_utc(), limit=100, lease=LEASE, actor="bench")
        results["first_claim_after_copy_ms"] = (time.perf_counter() - t0) * 1000.0
        log(f"first claim after the COPY (before ANALYZE, same pool): {results['first_claim_after_copy_ms']:.1f} ms")
        t0 = time.perf_counter()
        await loader.execute("ANALYZE callbacks")
        log(f"ANALYZE callbacks: {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        await store.claim_due(owner, now=now_utc(), limit=100, lease=LEASE, actor="bench")
        results["first_claim_after_analyze_ms"] = (time.perf_counter() - t0) * 1000.0
        log(f"first claim after ANALYZE (same pool): {results['first_claim_after_analyze_ms']:.1f} ms")
        results["sizes_loaded"] = await sizes(loader)

        # 3. The plan at N rows.
        plans = await explain_claim(loader, claim_sql, owner, analyze=True)
        results["plan_full"] = (index_node(plans["custom"]), index_node(plans["generic"]))
        results["plan_full_text"] = plans
        for kind in ("custom", "generic", "analyze"):
            title = {"custom": "EXPLAIN with literal values (custom plan)",
                     "generic": "EXPLAIN EXECUTE with plan_cache_mode = force_generic_plan (generic plan)",
                     "analyze": "EXPLAIN (ANALYZE, BUFFERS), nothing due, rolled back"}[kind]
            print_plan(f"claim plan at {args.rows:,} rows, {title}:", plans[kind])

        await settle(loader, "cbdialer after the load", args, results, "settle_s")

        # 4. Steady: 100 due per second for S seconds, written in one go before they fall due.
        n_steady = int(args.steady_rate * args.steady_seconds)
        now = now_utc()
        t_steady = now + timedelta(seconds=args.lead)
        dues = [t_steady + timedelta(seconds=i / args.steady_rate) for i in range(n_steady)]
        records, expected = timed_records(dues, now, 0)
        await loader.copy_records_to_table("callbacks", records=records, columns=CALLBACK_COLUMNS)
        if now_utc() >= t_steady:
            log("WARNING: writing the steady callbacks took longer than the lead time")
        log(f"steady: {n_steady:,} callbacks due at {args.steady_rate:g}/s from {t_steady:%H:%M:%S.%f} "
            f"(claim limit {args.steady_limit}, poll {args.poll * 1000:.0f} ms)")
        results["loadavg_before"] = os.getloadavg()
        psi_steady = pressure()
        deadline = t_steady + timedelta(seconds=args.steady_seconds + 30)
        steady = await run_claimer(store, owner, wake, expected, limit=args.steady_limit, deadline=deadline,
                                   poll=args.poll)
        results["steady"] = steady
        log(f"steady: claimed {steady.claimed:,} / {n_steady:,} in {steady.calls:,} claims; due-to-claimed "
            f"p50 {fmt_ms(pct(steady.latencies_ms, 50))} p99 {fmt_ms(pct(steady.latencies_ms, 99))} "
            f"max {fmt_ms(maxv(steady.latencies_ms))}; claim call p50 "
            f"{fmt_ms(pct(steady.call_ms, 50))} p99 {fmt_ms(pct(steady.call_ms, 99))} max {fmt_ms(maxv(steady.call_ms))}; "
            f"next_due_at p50 {fmt_ms(pct(steady.next_due_ms, 50))} max {fmt_ms(maxv(steady.next_due_ms))}")
        log(f"load average (1 min) before / after the steady phase: {results['loadavg_before'][0]:.2f} / "
            f"{os.getloadavg()[0]:.2f}{pressure_since(psi_steady)}")
        log(f"steady: claimer time: {steady.budget()}")
        log(f"steady: iterations 20 ms or more over their intended sleep: {len(steady.stalls)}; worst: "
            f"{steady.stall_report()}")
        # The dialer would now finish them: take them out of the due index so their leases do not fall due.
        await loader.execute("UPDATE callbacks SET state = 'completed', reason = 'handled', lease_owner = NULL "
                             "WHERE lease_owner = $1 AND state = 'queued'", owner)

        # 5. Burst: 10,000 due within one second.
        now = now_utc()
        t_burst = now + timedelta(seconds=args.lead)
        dues = [t_burst + timedelta(seconds=i / args.burst) for i in range(args.burst)]
        records, expected = timed_records(dues, now, n_steady)
        await loader.copy_records_to_table("callbacks", records=records, columns=CALLBACK_COLUMNS)
        if now_utc() >= t_burst:
            log("WARNING: writing the burst took longer than the lead time")
        last_due = t_burst + timedelta(seconds=1)
        log(f"burst: {args.burst:,} callbacks due in [{t_burst:%H:%M:%S.%f}, +1 s) (claim limit {args.burst_limit})")
        burst = await run_claimer(store, owner, wake, expected, limit=args.burst_limit,
                                  deadline=last_due + timedelta(seconds=30), poll=args.poll)
        results["burst"] = burst
        results["burst_after_last_due_ms"] = (ms(burst.last_end - last_due)
                                              if burst.last_end and not burst.unclaimed_due else math.inf)
        log(f"burst: claimed {burst.claimed:,} / {args.burst:,} in {burst.calls:,} claims; all claimed "
            f"{fmt_ms(results['burst_after_last_due_ms'])} after the last due instant; due-to-claimed p50 "
            f"{fmt_ms(pct(burst.latencies_ms, 50))} p99 {fmt_ms(pct(burst.latencies_ms, 99))} max "
            f"{fmt_ms(maxv(burst.latencies_ms))}; drain rate {fmt_rate(burst.rate())}; claim call p50 "
            f"{fmt_ms(pct(burst.call_ms, 50))} max {fmt_ms(maxv(burst.call_ms))}")
        log(f"burst: claimer time: {burst.budget()}; {burst.calls} claims, {burst.full} of them full; "
            f"next_due_at p50 {fmt_ms(pct(burst.next_due_ms, 50))} max {fmt_ms(maxv(burst.next_due_ms))}; "
            f"claim call p90 {fmt_ms(pct(burst.call_ms, 90))}")
        await loader.execute("UPDATE callbacks SET state = 'completed', reason = 'handled', lease_owner = NULL "
                             "WHERE lease_owner = $1 AND state = 'queued'", owner)

        # 6. Backlog: 50,000 of the stored callbacks made due at once, claimed 500 at a time.
        t0 = time.perf_counter()
        rows = await loader.fetch(
            "UPDATE callbacks SET due_at = now() - interval '1 second' WHERE id IN ("
            " SELECT id FROM callbacks WHERE state = 'scheduled' ORDER BY due_at LIMIT $1) RETURNING id, due_at",
            args.backlog)
        log(f"backlog: {len(rows):,} stored callbacks made due ({time.perf_counter() - t0:.1f} s)")
        expected = {r["id"]: r["due_at"] for r in rows}
        plans = await explain_claim(loader, claim_sql, owner, analyze=True, limit=args.burst_limit)
        results["plan_backlog"] = (index_node(plans["analyze"]), execution_ms(plans["analyze"]))
        print_plan(f"claim plan with {len(rows):,} due, EXPLAIN (ANALYZE, BUFFERS), rolled back:", plans["analyze"])
        backlog = await run_claimer(store, owner, wake, expected, limit=args.burst_limit,
                                    deadline=now_utc() + timedelta(seconds=60), poll=args.poll)
        results["backlog"] = backlog
        log(f"backlog: claimed {backlog.claimed:,} / {len(rows):,} in {backlog.calls:,} claims: "
            f"{fmt_rate(backlog.rate())}; claim call p50 {fmt_ms(pct(backlog.call_ms, 50))} "
            f"p99 {fmt_ms(pct(backlog.call_ms, 99))} max {fmt_ms(maxv(backlog.call_ms))}")
        plans = await explain_claim(loader, claim_sql, owner, analyze=True)
        results["plan_after"] = (index_node(plans["analyze"]), execution_ms(plans["analyze"]))
        print_plan("claim plan after the backlog (nothing due; the claimed rows' old index entries are dead, "
                   "not yet vacuumed), EXPLAIN (ANALYZE, BUFFERS), rolled back:", plans["analyze"])
        results["notifications"] = notifications["n"]
        results["sizes_end"] = await sizes(loader)
    finally:
        for closing in (claim_db.close(), listener.close(), loader.close()):
            try:
                await asyncio.wait_for(closing, 10)
            except Exception as exc:  # closing must not hide the real error
                log(f"closing: {exc!r}")


# -- the peer: procrastinate ---------------------------------------------------------------------------

async def bench_procrastinate(args, server_url: str, name: str, results: dict) -> None:
    try:
        import procrastinate
        # It warns that an App defined in __main__ cannot be found by its worker's CLI: no worker runs here.
        logging.getLogger("procrastinate.blueprints").setLevel(logging.ERROR)
    except ImportError:
        log("procrastinate is not importable: the peer is skipped (bench/claim installs it: pip install -e '.[bench]')")
        return
    results["peer_version"] = getattr(procrastinate, "__version__", "?")
    url = database_url(server_url, name)
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f"CREATE DATABASE {quote_ident(name)}")
    finally:
        await admin.close()
    log(f"created database {name}")

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url, min_size=1, max_size=2))

    @app.task(name="bench_noop", queue="default")
    async def bench_noop() -> None:  # never run: only fetched
        return None

    loader = await asyncpg.connect(url)
    listener = await asyncpg.connect(url)
    wake = asyncio.Event()
    try:
        await listener.add_listener(PEER_CHANNEL, lambda *_: wake.set())
        async with app.open_async():
            await app.schema_manager.apply_schema_async()
            log("procrastinate schema applied")
            worker_id = await app.job_manager.register_worker()

            # Load N future jobs with COPY. Its per-row triggers (a NOTIFY and two event rows per job) are
            # skipped for the bulk load only (session_replication_role = replica): they do not change how
            # fetching works, and firing them a million times would only slow the load down.
            rng = random.Random(20240611)
            now = now_utc()
            first_due = now + timedelta(hours=1)
            span = 30 * 86400.0
            await loader.execute("SET session_replication_role = replica")
            t_load = time.perf_counter()
            done_rows = 0
            while done_rows < args.rows:
                end = min(args.rows, done_rows + args.chunk)
                records = [("default", "bench_noop", first_due + timedelta(seconds=rng.random() * span))
                           for _ in range(done_rows, end)]
                await loader.copy_records_to_table("procrastinate_jobs", records=records,
                                                   columns=["queue_name", "task_name", "scheduled_at"])
                done_rows = end
                log(f"procrastinate: loaded {done_rows:,} / {args.rows:,} jobs "
                    f"({done_rows / (time.perf_counter() - t_load):,.0f} rows/s)")
            await loader.execute("SET session_replication_role = origin")
            await loader.execute("ANALYZE procrastinate_jobs")
            log(f"procrastinate: {args.rows:,} jobs loaded and analysed in {time.perf_counter() - t_load:.1f} s")
            await settle(loader, "procrastinate after the load", args, results, "peer_settle_s")

            base_job = bench_noop.configure(schedule_at=now_utc() + timedelta(hours=1)).job

            async def defer(dues: list[datetime]) -> dict[int, datetime]:
                jobs = [base_job.evolve(scheduled_at=due) for due in dues]
                deferred = []
                for start in range(0, len(jobs), 2000):
                    deferred += await app.job_manager.batch_defer_jobs_async(jobs=jobs[start:start + 2000])
                return {job.id: job.scheduled_at for job in deferred}

            # The first fetch after the load (nothing due): what one fetch costs with N future jobs stored.
            first_fetch = []
            for _ in range(3):
                t0 = time.perf_counter()
                await app.job_manager.fetch_job(queues=None, worker_id=worker_id)
                first_fetch.append((time.perf_counter() - t0) * 1000.0)
            results["peer_empty_fetch_ms"] = first_fetch
            log(f"procrastinate: fetch_job with nothing due, {args.rows:,} future jobs stored: "
                f"{', '.join(f'{x:.0f}' for x in first_fetch)} ms")

            # Steady.
            n_steady = int(args.steady_rate * args.steady_seconds)
            t_steady = now_utc() + timedelta(seconds=args.lead)
            expected = await defer([t_steady + timedelta(seconds=i / args.steady_rate) for i in range(n_steady)])
            if now_utc() >= t_steady:
                log("WARNING: deferring the steady jobs took longer than the lead time")
            log(f"procrastinate steady: {n_steady:,} jobs due at {args.steady_rate:g}/s (deadline: "
                f"{args.steady_seconds + args.peer_deadline:g} s after the first falls due)")
            steady = await run_peer_fetcher(
                app, worker_id, wake, expected,
                deadline=t_steady + timedelta(seconds=args.steady_seconds + args.peer_deadline), poll=args.poll)
            results["peer_steady"] = steady
            log(f"procrastinate steady: fetched {steady.claimed:,} / {n_steady:,} in {steady.calls:,} fetches; "
                f"fetch call p50 {fmt_ms(pct(steady.call_ms, 50))} p99 {fmt_ms(pct(steady.call_ms, 99))}")
            # Cancel what was not fetched: it would sit ahead of the burst (lower ids come first).
            await loader.execute("UPDATE procrastinate_jobs SET status = 'cancelled' "
                                 "WHERE id = ANY($1::bigint[]) AND status = 'todo'", list(expected))

            # Burst.
            t_burst = now_utc() + timedelta(seconds=args.lead)
            expected = await defer([t_burst + timedelta(seconds=i / args.burst) for i in range(args.burst)])
            if now_utc() >= t_burst:
                log("WARNING: deferring the burst took longer than the lead time")
            last_due = t_burst + timedelta(seconds=1)
            log(f"procrastinate burst: {args.burst:,} jobs due within 1 s (deadline: {args.peer_deadline:g} s "
                "after the last due instant)")
            burst = await run_peer_fetcher(app, worker_id, wake, expected,
                                           deadline=last_due + timedelta(seconds=args.peer_deadline), poll=args.poll)
            results["peer_burst"] = burst
            results["peer_burst_after_last_due_ms"] = (ms(burst.last_end - last_due)
                                                       if burst.last_end and not burst.unclaimed_due else math.inf)
            log(f"procrastinate burst: fetched {burst.claimed:,} / {args.burst:,} in {burst.calls:,} fetches; "
                f"rate {fmt_rate(burst.rate())}; fetch call p50 {fmt_ms(pct(burst.call_ms, 50))}")
            await loader.execute("UPDATE procrastinate_jobs SET status = 'cancelled' "
                                 "WHERE id = ANY($1::bigint[]) AND status = 'todo'", list(expected))

            # Backlog: the first 50,000 stored jobs by scheduled_at made due now.
            t0 = time.perf_counter()
            rows = await loader.fetch(
                "UPDATE procrastinate_jobs SET scheduled_at = now() - interval '1 second' WHERE id IN ("
                " SELECT id FROM procrastinate_jobs WHERE status = 'todo' ORDER BY scheduled_at LIMIT $1)"
                " RETURNING id, scheduled_at", args.backlog)
            log(f"procrastinate backlog: {len(rows):,} stored jobs made due ({time.perf_counter() - t0:.1f} s); "
                f"fetching for at most {args.peer_backlog_seconds:g} s")
            backlog = await run_peer_fetcher(
                app, worker_id, wake, {r["id"]: r["scheduled_at"] for r in rows},
                deadline=now_utc() + timedelta(seconds=args.peer_backlog_seconds), poll=args.poll)
            results["peer_backlog"] = backlog
            log(f"procrastinate backlog: fetched {backlog.claimed:,} in {backlog.calls:,} fetches: "
                f"{fmt_rate(backlog.rate())}")
            results["peer_db_size"] = await loader.fetchval("SELECT pg_database_size(current_database())")
            await app.job_manager.unregister_worker(worker_id)
    finally:
        for closing in (listener.close(), loader.close()):
            try:
                await asyncio.wait_for(closing, 10)
            except Exception as exc:
                log(f"closing: {exc!r}")


# -- the report ----------------------------------------------------------------------------------------


def report(args, results: dict, wall: float, server_version: str) -> None:
    lines: list[tuple[str, str, str, str]] = []

    def row(figure: str, measured: str, target: str = "", ok: bool | None | str = "") -> None:
        lines.append((figure, measured, target, ok if isinstance(ok, str) else verdict(ok)))

    steady: Phase | None = results.get("steady")
    burst: Phase | None = results.get("burst")
    backlog: Phase | None = results.get("backlog")
    stored = f"{args.rows:,} stored"
    c_p99 = c_burst_rate = c_backlog_rate = math.nan
    if steady:
        lat = steady.censored()
        c_p99 = pct(lat, 99)
        floor = steady.censor_floor()
        row(f"claim latency, steady {args.steady_rate:g}/s for {args.steady_seconds:g} s, {stored}",
            f"p50 {fmt_ms(pct(lat, 50), floor)}  p99 {fmt_ms(c_p99, floor)}  "
            f"max {fmt_ms(maxv(lat), floor)}", "p99 <= 50 ms", c_p99 <= 50)
        row("  claimed / written; claim calls; call p50 / p99 / max",
            f"{steady.claimed:,} / {steady.expected:,}; {steady.calls:,}; {fmt_ms(pct(steady.call_ms, 50))} / "
            f"{fmt_ms(pct(steady.call_ms, 99))} / {fmt_ms(maxv(steady.call_ms))}", "", "info")
        row("  claimer iterations >= 20 ms late (stalls)", f"{len(steady.stalls)}"
            + (f"; worst: {sorted(steady.stalls, reverse=True)[0][1]}" if steady.stalls else ""), "", "info")
        row("  settled after the load (CHECKPOINT)",
            f"yes, {results['settle_s']:.1f} s" if "settle_s" in results else "no", "", "info")
    if burst:
        after = results["burst_after_last_due_ms"]
        row(f"burst {args.burst:,} in 1 s: all claimed after",
            f"{fmt_ms(after)} past the last due instant" if not math.isinf(after)
            else f"not all: {burst.claimed:,} of {burst.expected:,} in 30 s", "<= 1000 ms", after <= 1000)
        lat = burst.censored()
        floor = burst.censor_floor()
        row("  burst due-to-claimed per callback",
            f"p50 {fmt_ms(pct(lat, 50), floor)}  p99 {fmt_ms(pct(lat, 99), floor)}  max {fmt_ms(maxv(lat), floor)}",
            "<= 1000 ms each", pct(lat, 100) <= 1000)
        c_burst_rate = burst.rate()
        row(f"claim throughput, burst (limit {args.burst_limit}; bounded by arrival)", fmt_rate(c_burst_rate),
            ">= 5000/s", c_burst_rate >= 5000)
    if backlog:
        c_backlog_rate = backlog.rate()
        row(f"claim throughput, backlog of {backlog.expected:,} (limit {args.burst_limit})",
            f"{fmt_rate(c_backlog_rate)}  ({backlog.claimed:,} in {backlog.calls:,} claims, "
            f"call p50 {fmt_ms(pct(backlog.call_ms, 50))})", ">= 5000/s", c_backlog_rate >= 5000)
    if "plan_full" in results:
        custom, generic = results["plan_full"]
        row(f"plan at {args.rows:,}: uses callbacks_due",
            f"{'yes' if custom and generic else 'NO'} (custom: {custom or 'no'}; generic: {generic or 'no'})",
            "yes", bool(custom and generic))
        e_custom, e_generic = results["plan_empty"]
        row("plan at 0 rows: uses callbacks_due",
            f"custom: {'yes' if e_custom else 'no'}; generic: {'yes' if e_generic else 'no'}", "", "info")
        if "plan_backlog" in results:
            node, took = results["plan_backlog"]
            row(f"  one claim of {args.burst_limit} with {args.backlog:,} due (EXPLAIN ANALYZE)",
                f"{took:,.1f} ms ({node or 'no callbacks_due scan'})", "", "info")
        if "plan_after" in results:
            node, took = results["plan_after"]
            row("  claim after the backlog, nothing due, dead entries not vacuumed",
                f"{took:,.1f} ms ({node or 'no callbacks_due scan'})", "", "info")
        first = max(results["first_claim_after_copy_ms"], results["first_claim_after_analyze_ms"])
        row(f"first claim after the load, pool planned empty ({args.empty_claims} claims)",
            f"{results['first_claim_after_copy_ms']:.1f} ms after COPY, "
            f"{results['first_claim_after_analyze_ms']:.1f} ms after ANALYZE", "<= 50 ms", first <= 50)
        row("COPY load rate (callbacks)", fmt_rate(results["load_rate"]), "", "info")

    p_steady: Phase | None = results.get("peer_steady")
    p_burst: Phase | None = results.get("peer_burst")
    p_backlog: Phase | None = results.get("peer_backlog")
    ratios_ok: list[bool] = []
    if p_steady:
        version = results.get("peer_version", "?")
        lat = p_steady.censored()
        floor = p_steady.censor_floor()
        p_p99 = pct(lat, 99)
        row(f"procrastinate {version}: fetch latency, steady {args.steady_rate:g}/s",
            f"p50 {fmt_ms(pct(lat, 50), floor)}  p99 {fmt_ms(p_p99, floor)}  max {fmt_ms(maxv(lat), floor)}",
            "", "peer")
        row("  fetched / deferred; fetch call p50 / p99",
            f"{p_steady.claimed:,} / {p_steady.expected:,} within {args.steady_seconds + args.peer_deadline:g} s; "
            f"{fmt_ms(pct(p_steady.call_ms, 50))} / {fmt_ms(pct(p_steady.call_ms, 99))}", "", "peer")
        first = results.get("peer_empty_fetch_ms", [])
        row("  fetch with nothing due", ", ".join(f"{x:.0f}" for x in first) + " ms", "", "peer")
        if p_burst:
            after = results["peer_burst_after_last_due_ms"]
            row(f"procrastinate: burst {args.burst:,} in 1 s, all fetched after",
                f"{fmt_ms(after)}" if not math.isinf(after)
                else f"not all: {p_burst.claimed:,} of {p_burst.expected:,} within {args.peer_deadline:g} s",
                "", "peer")
        p_burst_rate = p_burst.rate() if p_burst else math.nan
        p_backlog_rate = p_backlog.rate() if p_backlog else math.nan
        row("procrastinate: throughput burst / backlog",
            f"{fmt_rate(p_burst_rate)} / {fmt_rate(p_backlog_rate)}", "", "peer")

        def ratio(a: float, b: float) -> str:
            return "n/a" if math.isnan(a) or math.isnan(b) or b == 0 else f"{a / b:,.1f}x"

        row("ratio cbdialer / procrastinate, throughput burst / backlog",
            f"{ratio(c_burst_rate, p_burst_rate)} / {ratio(c_backlog_rate, p_backlog_rate)}", "> 1",
            (c_burst_rate > p_burst_rate if not math.isnan(p_burst_rate) else True)
            and (c_backlog_rate > p_backlog_rate if not math.isnan(p_backlog_rate) else True))
        ratios_ok.append(lines[-1][3] == "OK")
        if math.isinf(p_p99):
            lower = floor or 0.0
            text = f"procrastinate p99 >= {lower:,.0f} ms (censored), {ratio(lower, c_p99)} cbdialer's at least"
            ratios_ok.append(c_p99 < lower)
        else:
            text = f"cbdialer/procrastinate {ratio(c_p99, p_p99)} (procrastinate {ratio(p_p99, c_p99)} slower)"
            ratios_ok.append(c_p99 < p_p99)
        row("ratio of steady p99 latency", text, "cbdialer lower", ratios_ok[-1])
        row("ahead of procrastinate", "yes" if all(ratios_ok) else "no", "yes", all(ratios_ok))

    if "sizes_loaded" in results:
        s = results["sizes_loaded"]
        e = results.get("sizes_end", {k: math.nan for k in s})
        row("database size (cbdialer), after load / at end", f"{mb(s['db'])} / {mb(e['db'])}", "", "info")
        row("callbacks table + indexes, after load / at end",
            f"{mb(s['callbacks_total'])} / {mb(e['callbacks_total'])}", "", "info")
        row("callbacks_due index, after load / at end", f"{mb(s['due_index'])} / {mb(e['due_index'])}", "", "info")
    if "peer_db_size" in results:
        row("database size (procrastinate) at end", mb(results["peer_db_size"]), "", "info")
    row("wall time of the whole run", f"{wall:.0f} s", "~10 min", wall <= 660)

    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    print()
    print(f"== bench/claim: {args.rows:,} callbacks stored; {server_version}; cores {os.cpu_count()} ==")
    header = ("figure", "measured", "target", "")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    print("  ".join("-" * w for w in widths))
    for line in lines:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip())
    sys.stdout.flush()


# -- main ----------------------------------------------------------------------------------------------


async def main(args) -> int:
    server_url = args.server_url
    pid = os.getpid()
    names = [f"cbdialer_bench_{pid}", f"cbdialer_bench_{pid}_procrastinate"]
    results: dict = {}
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    admin = await asyncpg.connect(server_url)
    try:
        server_version = await admin.fetchval("SELECT version()")
        server_version = " ".join(server_version.split()[:2])
    finally:
        await admin.close()
    log(f"bench/claim: rows {args.rows:,}, steady {args.steady_rate:g}/s for {args.steady_seconds:g} s, burst "
        f"{args.burst:,}, backlog {args.backlog:,}; {server_version}; server {urlsplit(server_url).netloc}")
    failed = False
    try:
        async with asyncio.timeout(args.max_seconds):
            await bench_cbdialer(args, server_url, names[0], results)
            if not args.skip_peer:
                await bench_procrastinate(args, server_url, names[1], results)
    except (asyncio.CancelledError, TimeoutError) as exc:
        failed = True
        log(f"stopped early ({'time limit' if isinstance(exc, TimeoutError) else 'signal'}): reporting what was measured")
    except Exception as exc:
        failed = True
        log(f"FAILED: {exc!r}")
        import traceback
        traceback.print_exc()
    finally:
        await asyncio.shield(drop_databases(server_url, names))
    report(args, results, elapsed(), server_version)
    return 1 if failed else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server-url", default=os.environ.get("CBDIALER_TEST_DATABASE_URL",
                                                          "postgresql://postgres@127.0.0.1:5432/postgres"),
                   help="a PostgreSQL server URL where we may create databases (its path is ignored)")
    p.add_argument("--rows", type=int, default=1_000_000, help="future callbacks (and peer jobs) stored")
    p.add_argument("--steady-seconds", type=float, default=20.0)
    p.add_argument("--steady-rate", type=float, default=100.0, help="callbacks due per second in the steady phase")
    p.add_argument("--steady-limit", type=int, default=100, help="claim limit in the steady phase")
    p.add_argument("--burst", type=int, default=10_000, help="callbacks due within one second")
    p.add_argument("--burst-limit", type=int, default=500, help="claim limit for the burst and the backlog")
    p.add_argument("--backlog", type=int, default=50_000)
    p.add_argument("--poll", type=float, default=0.05, help="fallback poll interval, seconds")
    p.add_argument("--lead", type=float, default=2.0, help="seconds between writing and the first due time")
    p.add_argument("--empty-claims", type=int, default=6,
                   help="claims on the empty table before the load (6: past PostgreSQL's 5 custom plans)")
    p.add_argument("--chunk", type=int, default=200_000, help="rows per COPY (progress is printed per chunk)")
    p.add_argument("--peer-deadline", type=float, default=30.0,
                   help="procrastinate: seconds allowed after the steady phase / the burst's last due instant")
    p.add_argument("--peer-backlog-seconds", type=float, default=10.0)
    p.add_argument("--no-settle", dest="settle", action="store_false",
                   help="do not CHECKPOINT after the bulk loads (the kernel then writes the load back while "
                        "the claims are measured)")
    p.add_argument("--skip-peer", action="store_true", help="do not measure procrastinate")
    p.add_argument("--max-seconds", type=float, default=900.0, help="hard limit on the measuring")
    return p.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    code = asyncio.run(main(arguments))
    # Exit 0 when the measuring ran, whatever the verdicts; 1 only if it could not run.
    sys.exit(code)
