"""bench/claim's instruments: the claimer loops (cbdialer's claim driven as cbdialer.scheduler.Scheduler
drives it, and procrastinate's fetch as its worker does) and what one phase of them saw, the claim's plans
(custom and generic, EXPLAIN ANALYZE rolled back), the CHECKPOINT that settles a bulk load, and the sizes."""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from support.databases import checkpoint
from support.machine import kernel_dirty_mb, pressure, pressure_since
from support.output import log, now_utc

LEASE = timedelta(seconds=30)
INDEX_NODE = re.compile(r"(Index Scan|Index Only Scan)( Backward)? using callbacks_due\b|Bitmap Index Scan on callbacks_due\b")
EXEC_TIME = re.compile(r"Execution Time: ([0-9.]+) ms")


def ms(delta: timedelta) -> float:
    return delta.total_seconds() * 1000.0



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


# -- the claim's plans, the settling, the sizes ---------------------------------------------------------

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



async def settle(conn: asyncpg.Connection, what: str, args: argparse.Namespace, results: dict, key: str) -> None:
    """After the bulk load, before measuring: CHECKPOINT, so the load's ~1 GB of dirty pages is written now
    and not by the kernel's writeback in the middle of the measurement (where it stalled commits by 100-300 ms
    in some runs). A server that accumulated its callbacks over weeks has no such backlog of writes."""
    if not args.settle:
        log(f"{what}: not settled (--no-settle); kernel dirty + writeback {kernel_dirty_mb():,.0f} MB")
        return
    try:
        took, before, after = await checkpoint(conn)
    except asyncpg.PostgresError as exc:
        log(f"{what}: CHECKPOINT refused ({exc}); measuring without it")
        return
    results[key] = took
    log(f"{what}: settled with CHECKPOINT in {took:.1f} s (kernel dirty + writeback {before:,.0f} MB before, "
        f"{after:,.0f} MB after)")
