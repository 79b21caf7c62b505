"""bench/claim, the peer: procrastinate 3.10 in a database of its own, with the same N future jobs, the same
steady rate and burst, and a backlog, fetched the way its worker does (job_manager.fetch_job, one job per
call), polled every 50 ms and woken by its NOTIFY. Its phases stop at a deadline (--peer-deadline)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import random
import time
from datetime import datetime, timedelta

import asyncpg

from support.databases import database_url, quote_ident
from support.output import fmt_ms, fmt_rate, log, now_utc, pct

from claim_measure import ms, run_peer_fetcher, settle

PEER_CHANNEL = "procrastinate_any_queue_v1"


async def bench_procrastinate(args: argparse.Namespace, server_url: str, name: str, results: dict) -> None:
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
