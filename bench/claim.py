"""bench/claim: claiming due callbacks from PostgreSQL with 1,000,000 stored (docs/design.md sections 8 and 11).

Measures, in one run on one PostgreSQL server:
  1. the claim's plan at 0 and N rows, and the first claim after the load on a pool (max_size 1) whose
     prepared claim statement was planned while the table was empty (the trap of docs/design.md section 8);
  2. due-to-claimed latency at a steady 100 callbacks due per second;
  3. a burst of 10,000 due in one second: how soon after the last due instant all are claimed;
  4. claim throughput on a backlog of 50,000 due rows;
  5. the peer, procrastinate 3.10, with the same N future jobs stored, the same steady rate and burst;
  6. database and index sizes.

The claim is cbdialer's own (PostgresStore.claim_due); the claimer loop mirrors cbdialer.scheduler.Scheduler
(claim; if less than a full batch, sleep until the earliest of next_due_at(), the poll interval, a NOTIFY).
The claimer loops and the plans are in claim_measure.py, the peer in claim_peer.py, the report in
claim_report.py, the plumbing in support/. Bench code may hold SQL (loading, explaining, cleaning up); the
product's SQL is never copied here.

Run: bench/claim [--rows N] [--steady-seconds S] ...   (or .venv/bin/python bench/claim.py --server-url URL)
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import asyncpg

from cbdialer.adapters.db.database import Database
from cbdialer.adapters.db.queries import load_queries

from support.cli import add_server_url, cancel_on_signals, measure
from support.databases import CALLBACK_COLUMNS, load_future_callbacks, migrated_database, records_due, server_version
from support.machine import pressure, pressure_since
from support.output import elapsed, fmt_ms, fmt_rate, log, maxv, now_utc, pct

from claim_measure import LEASE, execution_ms, explain_claim, index_node, ms, print_plan, run_claimer, settle, sizes
from claim_peer import bench_procrastinate
from claim_report import report

CHANNEL = "cbdialer_due"


def timed_records(dues: list[datetime], now: datetime, offset: int) -> tuple[list[tuple], dict[uuid.UUID, datetime]]:
    """Callbacks of the queue `bench` due at `dues` (+4420795nnnnnnn from `offset`), and {id: due}."""
    records, ids = records_due([f"+4420795{offset + i:07d}" for i in range(len(dues))], dues, "bench", now)
    return records, dict(zip(ids, dues))


async def bench_cbdialer(args: argparse.Namespace, server_url: str, name: str, results: dict) -> None:
    url, applied = await migrated_database(server_url, name)
    log(f"created database {name}")
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
        load_s = await load_future_callbacks(loader, args.rows, queue_id="bench", chunk=args.chunk)
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


# -- main ----------------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> int:
    server_url = args.server_url
    pid = os.getpid()
    names = [f"cbdialer_bench_{pid}", f"cbdialer_bench_{pid}_procrastinate"]
    results: dict = {}
    cancel_on_signals()
    version = await server_version(server_url)
    log(f"bench/claim: rows {args.rows:,}, steady {args.steady_rate:g}/s for {args.steady_seconds:g} s, burst "
        f"{args.burst:,}, backlog {args.backlog:,}; {version}; server {urlsplit(server_url).netloc}")

    async def phases() -> None:
        await bench_cbdialer(args, server_url, names[0], results)
        if not args.skip_peer:
            await bench_procrastinate(args, server_url, names[1], results)

    failed = await measure(phases, max_seconds=args.max_seconds, server_url=server_url, databases=names)
    report(args, results, elapsed(), version)
    return 1 if failed else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_server_url(p, "a PostgreSQL server URL where we may create databases (its path is ignored)")
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
