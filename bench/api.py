"""bench/api: the admin API's create-callback rate on one core, and search latency over 1,000,000 callbacks
(docs/design.md section 11: create >= 1,000 requests/s on one core; search p99 < 50 ms over 1M callbacks).

One run, one PostgreSQL server:
  1. a fresh database, migrated; 10 queues, 100 agents in 10 teams, one admin token; R (1,000,000) callbacks
     written with COPY (created over 90 days by 100 agents, to 200,000 numbers, 30 % of them still active),
     VACUUM ANALYZE, CHECKPOINT;
  2. the API served by a child process pinned to one core (the daemon as cbdialer.app.build_daemon wires it,
     running its admin API and the pages' change listener, nothing else), this process (the load) pinned to the
     other;
  3. create: W workers POST /api/v1/callbacks for S seconds over keep-alive connections; requests/s of 201s,
     latency, and the server's CPU (it must stay within its one core);
  4. search: Q searches of GET /api/v1/callbacks of nine kinds (by number, by creator, by target agent, by
     queue and state, a time range, the newest page, a second page by cursor, overdue, and due in an hour some
     days ahead), 4 at a time; p50/p99 per kind and over all;
  5. pages: P loads of each screen as a browser loads it, logged in with a session (the supervisor's page,
     after a change to the book its stream told of: the page, the queues, the queue monitor, the newest search
     page, both charts; then a second supervisor's monitor, and the first row's history and attempts; the
     agent's panel: the page, its callbacks, itself); p50/p99 per request (docs/design.md section 15: every
     page answers in < 100 ms); the shift so far has S attempts (20,000) and a twentieth as many purges;
  6. scrape: M GETs of /metrics one after another (issue 15: a few ms, flat with the book's size: a scrape
     queries nothing), and, for comparison, the book's figures that the daemon's `book-figures` task reads
     every 15 s (active callbacks by queue and state, due now).

Run: bench/api [--rows R] [--create-seconds S] [--workers W] [--searches Q]   (--help for all)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg

from cbdialer.adapters.db import Database
from cbdialer.app import build_daemon
from cbdialer.domain.access import Role
from cbdialer.domain.models import Agent, Queue, Team
from cbdialer.services import Admin
from cbdialer.settings import Settings

from support.cli import add_server_url, serve_or_measure
from support.databases import drop_databases, migrated_database
from support.http import RawClient
from support.machine import cpu_by_program, cpu_delta, cpu_seconds
from support.output import elapsed, fmt_ms, fmt_rate, log, pct, verdict

CALLBACK_COLUMNS = ["id", "queue_id", "destination", "type", "state", "reason", "due_at", "start_at", "end_at",
                    "created_at", "updated_at", "created_by", "agent_id", "team_id", "remark"]
QUEUES = [f"q{i}" for i in range(10)]
AGENTS = [f"a{i:03d}" for i in range(100)]
TERMINAL = {"completed": "handled", "failed": "attempts_exhausted", "expired": "expired", "cancelled": "cancelled",
            "overwritten": "overwritten"}  # end state: the reason that leads there
ACTIVE = ["scheduled", "scheduled", "scheduled", "waiting_for_queue"]
# A shift's ended attempts, on ended callbacks: ended between $1 (the shift's start) and $2, $3 of them.
SHIFT_ATTEMPTS = """
INSERT INTO attempts (id, callback_id, agent_id, owner, started_at, ended_at, interaction_state, completion_status,
                      dial_status, hangup_cause, queue_id, counted)
SELECT gen_random_uuid(), c.id, c.created_by, gen_random_uuid(), t.ended_at - interval '3 minutes', t.ended_at,
       'ended', (ARRAY['handled', 'no_answer', 'busy', 'answering_machine'])[c.n % 4 + 1],
       (ARRAY['ANSWER', 'NOANSWER', 'BUSY', 'ANSWER'])[c.n % 4 + 1], 16, c.queue_id, true
FROM (SELECT id, queue_id, created_by, row_number() OVER () AS n FROM callbacks
      WHERE state IN ('completed', 'failed', 'cancelled') LIMIT $3) AS c
CROSS JOIN LATERAL (SELECT $1::timestamptz + ($2::timestamptz - $1::timestamptz) * random() + c.n * interval '0'
                    AS ended_at) AS t"""
SHIFT_PURGES = """
INSERT INTO callback_events (callback_id, at, from_state, to_state, reason, actor)
SELECT id, $1::timestamptz + ($2::timestamptz - $1::timestamptz) * random(), 'scheduled', 'purged', 'purged',
       'bench'
FROM callbacks WHERE state = 'cancelled' LIMIT $3"""
API_POOL = 10  # the admin API's pool in the child process (cbdialer run's: cbdialer.app.API_POOL_SIZE)


def number(i: int) -> str:
    return f"+1212555{i % 10_000:04d}" if i % 2 else f"+4420794{i % 100_000:05d}"


def rows(start: int, count: int, now: datetime, rng: random.Random) -> list[tuple]:
    out = []
    for i in range(start, start + count):
        created = now - timedelta(seconds=rng.uniform(0, 90 * 86_400))
        active = rng.random() < 0.3
        state = rng.choice(ACTIVE) if active else rng.choice(list(TERMINAL))
        start_at = created + timedelta(seconds=rng.uniform(60, 7 * 86_400))
        if active:
            start_at = now + timedelta(seconds=rng.uniform(60, 30 * 86_400))
        kind = "agent" if rng.random() < 0.2 else "standard"
        agent = rng.choice(AGENTS)
        out.append((uuid.UUID(int=rng.getrandbits(128)), rng.choice(QUEUES), number(rng.randrange(200_000)), kind,
                    state, "created" if active else TERMINAL[state], start_at, start_at, start_at + timedelta(hours=5),
                    created, created, rng.choice(AGENTS), agent if kind == "agent" else None,
                    f"t{AGENTS.index(agent) % 10}" if rng.random() < 0.1 else None, ""))
    return out

async def prepare(args: argparse.Namespace, server_url: str, name: str) -> tuple[str, list[str]]:
    """The database (migrated, seeded, R callbacks loaded): its URL, and an admin's, a supervisor's and an
    agent's (a000) tokens."""
    token: list[str] = []

    async def seed(store) -> None:
        for queue_id in QUEUES:
            await store.save_queue(Queue(id=queue_id, name=f"Queue {queue_id}"))
        for t in range(10):
            await store.save_team(Team(id=f"t{t}", name=f"Team {t}"))
        for n, agent_id in enumerate(AGENTS):
            await store.upsert_agent(Agent(id=agent_id, dial_string=f"PJSIP/agent-{agent_id}",
                                           queues=frozenset({QUEUES[n % 10]}), teams=frozenset({f"t{n % 10}"})))
        tokens = Admin(store, lambda: datetime.now(UTC)).tokens
        token.append(await tokens.issue_token(Role.ADMIN))
        token.append(await tokens.issue_token(Role.SUPERVISOR))
        token.append(await tokens.issue_token(Role.AGENT, AGENTS[0]))

    url, _ = await migrated_database(server_url, name, max_size=2, seed=seed)
    conn = await asyncpg.connect(url)
    try:
        rng, now, t0 = random.Random(7), datetime.now(UTC), time.perf_counter()
        for start in range(0, args.rows, args.chunk):
            count = min(args.chunk, args.rows - start)
            await conn.copy_records_to_table("callbacks", records=rows(start, count, now, rng),
                                             columns=CALLBACK_COLUMNS)
            log(f"loaded {start + count:,} / {args.rows:,} callbacks")
        # The shift so far (the queues' zone is UTC: since midnight): attempts ended by the monitor's figures,
        # each status a quarter, and purges in the audit trail.
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        await conn.execute(SHIFT_ATTEMPTS, midnight, now, args.shift_attempts)
        await conn.execute(SHIFT_PURGES, midnight, now, args.shift_attempts // 20)
        log(f"{args.shift_attempts:,} attempts and {args.shift_attempts // 20:,} purges in today's shift")
        await conn.execute("VACUUM ANALYZE")  # as autovacuum leaves a table once loaded: visibility map set
        await conn.execute("CHECKPOINT")
        log(f"{args.rows:,} stored in {time.perf_counter() - t0:.0f} s; VACUUM ANALYZE; CHECKPOINT")
    finally:
        await conn.close()
    return url, token


# -- the server (a child process of its own, on one core) -----------------------------------------------------


async def run_server(url: str) -> None:
    """The daemon as build_daemon wires it, serving nothing but its admin API (on a pool of API_POOL
    connections), on port 0: the bound port goes to stdout."""
    os.sched_setaffinity(0, {0})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(sys.stdin.fileno(), stop.set)  # the bench closes our stdin to stop us
    settings = Settings(database_url=url, http_host="127.0.0.1", http_port=0, log_level="warning")
    async with build_daemon(settings, stop=stop, api_pool_size=API_POOL,
                            api_started=lambda port: print(port, flush=True)) as daemon:
        await daemon.run("admin-api", "page-changes")


# -- the load -----------------------------------------------------------------------------------------------


async def bench_create(args: argparse.Namespace, port: int, headers: dict[str, str], pid: int) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = defaultdict(int)
    counter = iter(range(10**9))
    clients = [RawClient(port, headers) for _ in range(args.workers)]
    for client in clients:
        await client.open()

    def body() -> bytes:
        i = next(counter)
        return json.dumps({"queue": QUEUES[i % 10], "destination": number(300_000 + i), "start_in": 3600 + i % 600,
                           "remark": "bench"}).encode()

    async def worker(client: RawClient, deadline: float) -> None:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            status, _ = await client.post("/api/v1/callbacks", body())
            statuses[status] += 1
            latencies.append((time.perf_counter() - t0) * 1000)

    # Warm-up (connections open, statements prepared), then the measured run.
    await asyncio.gather(*(worker(c, time.perf_counter() + 1.0) for c in clients))
    latencies.clear()
    statuses.clear()
    cpu0, own0, programs, t0 = cpu_seconds(pid), time.process_time(), cpu_by_program(), time.perf_counter()
    await asyncio.gather(*(worker(c, t0 + args.create_seconds) for c in clients))
    wall, cpu, own = time.perf_counter() - t0, cpu_seconds(pid) - cpu0, time.process_time() - own0
    busy = cpu_delta(programs, wall)
    for client in clients:
        client.close()
    created = statuses.get(201, 0)
    return {"rate": created / wall, "statuses": dict(statuses), "p50": pct(latencies, 50), "p99": pct(latencies, 99),
            "server_cores": cpu / wall, "client_cores": own / wall, "postgres_cores": busy["postgres"],
            "machine_cores": busy["machine"], "created": created, "wall": wall}


async def bench_search(args: argparse.Namespace, base: str, headers: dict[str, str]) -> dict:
    rng = random.Random(11)
    now = datetime.now(UTC)
    by_kind: dict[str, list[float]] = defaultdict(list)

    def query() -> tuple[str, dict[str, str]]:
        kind = rng.choice(["number", "creator", "agent", "queue+state", "time range", "newest", "page 2", "overdue",
                           "due in an hour"])
        params: dict[str, str] = {"limit": "50"}
        if kind == "number":
            params["destination"] = number(rng.randrange(200_000))
        elif kind == "creator":
            params["created_by"] = rng.choice(AGENTS)
        elif kind == "agent":
            params["agent"] = rng.choice(AGENTS)
        elif kind == "queue+state":
            params.update(queue=rng.choice(QUEUES), state=rng.choice(["scheduled", "completed", "failed"]))
        elif kind == "time range":
            start = now - timedelta(days=rng.uniform(1, 89))
            params.update(created_from=start.isoformat(), created_to=(start + timedelta(hours=6)).isoformat())
        elif kind == "overdue":  # the supervisor's "due before" now: few, among a history of past due times
            params["due_to"] = now.isoformat()
        elif kind == "due in an hour":  # an hour some days ahead
            start = now + timedelta(days=rng.uniform(1, 29))
            params.update(due_from=start.isoformat(), due_to=(start + timedelta(hours=1)).isoformat())
        return kind, params

    async def one(session: aiohttp.ClientSession, kind: str, params: dict[str, str]) -> None:
        t0 = time.perf_counter()
        async with session.get(f"{base}/api/v1/callbacks", params=params, headers=headers) as response:
            body = await response.json()
            assert response.status == 200, body
        if kind == "page 2" and body["next_cursor"]:  # the second page, by the first page's cursor
            t0 = time.perf_counter()
            async with session.get(f"{base}/api/v1/callbacks", headers=headers,
                                   params={**params, "cursor": body["next_cursor"]}) as response:
                await response.read()
        by_kind[kind].append((time.perf_counter() - t0) * 1000)

    async with aiohttp.ClientSession() as session:
        for _ in range(20):  # warm-up
            await one(session, *query())
        by_kind.clear()
        pending = [query() for _ in range(args.searches)]
        limit = asyncio.Semaphore(4)

        async def limited(kind: str, params: dict[str, str]) -> None:
            async with limit:
                await one(session, kind, params)
        await asyncio.gather(*(limited(k, p) for k, p in pending))
    everything = [x for values in by_kind.values() for x in values]
    return {"all": everything, "kinds": dict(by_kind)}


async def bench_pages(args: argparse.Namespace, base: str, supervisor: str, agent: str) -> dict[str, list[float]]:
    """Each screen loaded P times as its page loads it (the page, then its API reads at once), logged in. Before
    each supervisor's load the book changes (an agent made ready or not) and the load waits for its page's
    stream to say so: so every monitor read is the first of a new version (no viewer's shared read to
    reuse); a second viewer's monitor read then shares it. The first search row's history is opened."""
    by_request: dict[str, list[float]] = defaultdict(list)

    async def timed(session: aiohttp.ClientSession, label: str, path: str) -> Any:
        t0 = time.perf_counter()
        async with session.get(base + path) as response:
            body = await response.read()
            assert response.status == 200, (path, response.status)
        by_request[label].append((time.perf_counter() - t0) * 1000)
        return json.loads(body) if response.content_type == "application/json" else None

    async def logged_in(token: str) -> aiohttp.ClientSession:
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with session.post(base + "/login", data={"token": token}, allow_redirects=False) as response:
            assert response.status == 303, response.status
        return session

    boss, other, desk = await logged_in(supervisor), await logged_in(supervisor), await logged_in(agent)
    staff = {"Authorization": f"Bearer {supervisor}"}
    try:
        async with boss.get(base + "/events") as stream:
            seen = -1
            for round_ in range(args.page_loads + 5):
                if round_ == 5:
                    by_request.clear()  # the first rounds warm up
                async with boss.put(base + f"/api/v1/agents/{AGENTS[1]}/ready", json={"ready": round_ % 2 == 0},
                                    headers=staff) as response:
                    assert response.status == 200, response.status
                while True:  # the page's stream tells of the change (keepalives may come first)
                    event = await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 10)
                    if event.startswith(b"event: changed") and int(event.rsplit(b"data: ", 1)[1]) > seen:
                        seen = int(event.rsplit(b"data: ", 1)[1])
                        break
                await timed(boss, "supervisor page", "/supervisor")
                _, _, found, *_ = await asyncio.gather(
                    timed(boss, "queues", "/api/v1/queues"), timed(boss, "queue monitor", "/api/v1/monitor"),
                    timed(boss, "search, newest 50", "/api/v1/callbacks?limit=50"),
                    timed(boss, "due chart", f"/supervisor/due.svg?queue={QUEUES[0]}"),
                    timed(boss, "outcomes chart", f"/supervisor/outcomes.svg?queue={QUEUES[0]}"))
                first = found["items"][0]["id"]
                await asyncio.gather(timed(other, "queue monitor, shared", "/api/v1/monitor"),
                                     timed(boss, "history", f"/api/v1/callbacks/{first}/history"),
                                     timed(boss, "attempts", f"/api/v1/callbacks/{first}/attempts"))
                await timed(desk, "agent panel page", "/agent")
                await asyncio.gather(timed(desk, "agent's callbacks", f"/api/v1/agents/{AGENTS[0]}/callbacks"),
                                     timed(desk, "agent itself", f"/api/v1/agents/{AGENTS[0]}"))
    finally:
        for session in (boss, other, desk):
            await session.close()
    return dict(by_request)


async def bench_scrape(args: argparse.Namespace, base: str, url: str) -> dict[str, list[float]]:
    """/metrics scraped M times, one after another; and the book-figures read, 20 times."""
    scrape: list[float] = []
    async with aiohttp.ClientSession() as session:
        for n in range(args.scrapes + 5):
            t0 = time.perf_counter()
            async with session.get(base + "/metrics") as response:
                body = await response.read()
                assert response.status == 200 and b"cbdialer_http_request_seconds" in body, response.status
            if n >= 5:  # the first warm up
                scrape.append((time.perf_counter() - t0) * 1000)
    db = await Database.connect(url, max_size=1)
    figures: list[float] = []
    try:
        reports = Admin(db.store(), lambda: datetime.now(UTC)).reports
        for _ in range(20):
            t0 = time.perf_counter()
            await reports.book_figures(fold=True)  # as the daemon's book-figures task reads them
            figures.append((time.perf_counter() - t0) * 1000)
    finally:
        await db.close()
    return {"scrape": scrape, "figures": figures}


async def main(args: argparse.Namespace) -> int:
    name = f"cbdialer_bench_{os.getpid()}_api"
    server = None
    try:
        url, (token, supervisor, agent) = await prepare(args, args.server_url, name)
        server = subprocess.Popen([sys.executable, __file__, "--serve", url], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        port = int(server.stdout.readline())  # type: ignore[union-attr]
        os.sched_setaffinity(0, {1} if os.cpu_count() and os.cpu_count() > 1 else {0})
        base, headers = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}
        log(f"API served by pid {server.pid} on port {port}, pinned to core 0; the load runs on core 1")
        create = await bench_create(args, port, headers, server.pid)
        log(f"create: {create['created']:,} in {create['wall']:.1f} s, statuses {create['statuses']}")
        search = await bench_search(args, base, headers)
        log(f"search: {len(search['all']):,} searches")
        pages = await bench_pages(args, base, supervisor, agent)
        log(f"pages: {args.page_loads} loads of each screen")
        scraped = await bench_scrape(args, base, url)
        log(f"scrape: {args.scrapes} scrapes of /metrics")
    finally:
        if server is not None:
            server.stdin.close()  # type: ignore[union-attr]
            server.wait(30)
        if args.keep_database:
            log(f"kept database {name} (--keep-database)")
        else:
            await drop_databases(args.server_url, [name])
    ok_create = create["rate"] >= 1000
    p99 = pct(search["all"], 99)
    print()
    print(f"== bench/api: {args.rows:,} callbacks stored; cores {os.cpu_count()} ==")
    print(f"create-callback, {args.workers} connections, {args.create_seconds:g} s   {fmt_rate(create['rate']):>12}   "
          f"target >= 1000/s  {verdict(ok_create)}")
    print(f"  latency p50 / p99                              {fmt_ms(create['p50'])} / {fmt_ms(create['p99'])}; "
          f"server process {create['server_cores']:.2f} cores (one core allowed); load {create['client_cores']:.2f}; "
          f"PostgreSQL {create['postgres_cores']:.2f}; machine {create['machine_cores']:.2f} of {os.cpu_count()}")
    print(f"search over {args.rows:,}, {len(search['all']):,} requests, 4 at a time   p50 {fmt_ms(pct(search['all'], 50))}  "
          f"p99 {fmt_ms(p99)}   target p99 < 50 ms  {verdict(p99 < 50)}")
    for kind, values in sorted(search["kinds"].items()):
        print(f"  {kind:<14} {len(values):>5}   p50 {fmt_ms(pct(values, 50))}  p99 {fmt_ms(pct(values, 99))}")
    worst = max(pct(values, 99) for values in pages.values())
    print(f"pages, {args.page_loads} loads of each screen (its requests at once), {args.shift_attempts:,} attempts "
          f"in the shift   worst request p99 {fmt_ms(worst)}   "
          f"target < 100 ms  {verdict(worst < 100)}")
    for label, values in pages.items():
        print(f"  {label:<20} {len(values):>5}   p50 {fmt_ms(pct(values, 50))}  p99 {fmt_ms(pct(values, 99))}")
    p99 = pct(scraped["scrape"], 99)
    print(f"/metrics, {args.scrapes} scrapes one after another   p50 {fmt_ms(pct(scraped['scrape'], 50))}  "
          f"p99 {fmt_ms(p99)}   target p99 < 10 ms (no query)  {verdict(p99 < 10)}")
    print(f"  book-figures read (every 15 s by the daemon, never by a scrape)   p50 "
          f"{fmt_ms(pct(scraped['figures'], 50))}  p99 {fmt_ms(pct(scraped['figures'], 99))}")
    print(f"wall time {elapsed():.0f} s")
    return 0


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_server_url(p)
    p.add_argument("--rows", type=int, default=1_000_000, help="callbacks stored before measuring")
    p.add_argument("--chunk", type=int, default=100_000, help="rows per COPY")
    p.add_argument("--create-seconds", type=float, default=10.0)
    p.add_argument("--workers", type=int, default=32, help="concurrent create requests (keep-alive connections)")
    p.add_argument("--searches", type=int, default=2000)
    p.add_argument("--page-loads", type=int, default=200, help="loads of each screen")
    p.add_argument("--shift-attempts", type=int, default=20_000,
                   help="attempts ended in today's shift (the monitor's figures)")
    p.add_argument("--scrapes", type=int, default=200, help="scrapes of /metrics")
    p.add_argument("--keep-database", action="store_true", help="leave the database for a closer look")
    p.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)  # the child process: serve the API
    return p.parse_args()


if __name__ == "__main__":
    serve_or_measure(parse_args(), run_server, main)
