"""bench/dialer: cbdialer's full path against the bare-AMI originate rate, and due-to-Originate latency with
1,000,000 callbacks stored (docs/design.md sections 4, 8, 10 and 11).

Measures, in one run on one Asterisk (the sandbox) and one PostgreSQL server:
  1. the bare-AMI originate rate: N Originates of Local/{n}@cbdialer-bench-customers (answers at once) into a
     context that hangs up at once, W in flight, through cbdialer's AmiLink and through a raw asyncio socket;
     the rate of OriginateResponse events is the peer figure (the better of the two clients). Beside it, for
     information, the rate at which Asterisk alone runs cbdialer's whole call flow (agent, callback context,
     customer, result) with K calls in flight and no database: what the full path could reach at most;
  2. whether Local-channel agents are seen as present (device state), first with cbdialer's own run_daemon;
  3. full-path throughput: M callbacks due now, K Local agents, the daemon in-process (built by
     cbdialer.app.build_daemon, as `cbdialer run` builds it); from the first Originate to the last `completed`;
  4. due-to-Originate-sent latency at a steady 100 callbacks due per second with 1,000,000 stored;
  5. the same burst through two `cbdialer run` processes on that database (dialer_two.py): the total rate, each
     one's share, no agent offered two calls at once, and each process's RSS idle and after the burst.

The product is used as it is: build_daemon's AmiLink, Database, Dialer, Scheduler and supervised tasks, with
bench-only wrappers around the store and the telephony object that time each call (and, for Local agents, fill
in their presence; see the output). Phases 3 and 4 are in dialer_path.py, the report in dialer_report.py, the
plumbing in support/. Bench code may hold SQL (loading, counting, cleaning up); the product's SQL is never copied.

Run: bench/dialer [--originates N] [--callbacks M] [--rows R] [--steady-seconds S] ...
     (or .venv/bin/python bench/dialer.py --server-url URL with the CBDIALER_AMI_* variables of `deploy/sandbox env`)
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
import uuid

import asyncpg

from cbdialer.adapters.ami import AmiLink, OriginateRequest, OriginateResponse
from cbdialer.app import run_daemon
from cbdialer.domain.presence import device_of
from cbdialer.logs import configure_logging

from support.ami import AmiTarget, RawAmi, Round, add_ami_arguments, banner
from support.cli import add_server_url, cancel_on_signals, measure
from support.daemon import daemon_settings
from support.databases import CALLBACK_COLUMNS, drop_databases, records_due, server_version
from support.machine import cpu_by_program, cpu_since
from support.output import elapsed, fmt_rate, log, now_utc

from dialer_path import (AGENT_CONTEXT, CALLBACK_CONTEXT, CUSTOMER_CONTEXT, HANGUP_CONTEXT, PROBE_QUEUE, QUEUE,
                         agent_dial_string, agent_id, bench_latency, create_bench_database, customer_number, full_path)
from dialer_report import report, where_the_time_goes
from dialer_two import two_daemons


# -- 1. bare AMI ---------------------------------------------------------------------------------------------

async def bare_adapter(args: argparse.Namespace, link: AmiLink) -> Round:
    """N Originates through cbdialer's AmiLink, W workers, each waiting for its OriginateResponse."""
    result = Round("cbdialer AmiLink", args.originates, args.window)
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


def raw_originate(i: int) -> tuple[bytes, str]:
    channel_id = str(uuid.uuid4())
    return RawAmi.frame([("Action", "Originate"), ("ActionID", f"rawo-{i}"),
                         ("Channel", f"Local/{customer_number(i, 8)}@{CUSTOMER_CONTEXT}"),
                         ("Context", HANGUP_CONTEXT), ("Exten", "s"), ("Priority", "1"), ("Timeout", "10000"),
                         ("ChannelId", channel_id), ("Async", "true")]), channel_id


def raw_full_flow(agents: int):
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


async def bench_bare(args: argparse.Namespace, results: dict) -> None:
    target = AmiTarget.from_args(args)
    link = AmiLink(target.config())
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
        log(f"AmiLink.actions_sent['Originate'] = {link.actions_sent['Originate']:,}")
    finally:
        stop.set()
        await asyncio.gather(runner, return_exceptions=True)

    raw = RawAmi(target)
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


# -- 2. presence with the product's own run_daemon ----------------------------------------------------------

async def probe_run_daemon(args: argparse.Namespace, url: str, conn: asyncpg.Connection, results: dict) -> None:
    """cbdialer's run_daemon as it is, with a few callbacks due in a queue of Local agents: are they dialled?"""
    now = now_utc()
    numbers = [customer_number(i, 6) for i in range(args.probe_callbacks)]
    records, _ = records_due(numbers, [now] * len(numbers), PROBE_QUEUE, now)
    stop = asyncio.Event()
    task = asyncio.create_task(run_daemon(daemon_settings(url, AmiTarget.from_args(args)), stop),
                               name="probe-run-daemon")
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


async def bench_full_path(args: argparse.Namespace, server_url: str, name: str, results: dict) -> None:
    url = await create_bench_database(server_url, name, args, [QUEUE, PROBE_QUEUE], frozenset({QUEUE, PROBE_QUEUE}))
    conn = await asyncpg.connect(url)
    try:
        if args.probe_seconds > 0:
            await probe_run_daemon(args, url, conn, results)
        await full_path(args, url, conn, results)
    finally:
        await conn.close()


# -- main ----------------------------------------------------------------------------------------------------

async def main(args: argparse.Namespace) -> int:
    server_url = args.server_url
    names = [f"cbdialer_bench_{os.getpid()}_dialer", f"cbdialer_bench_{os.getpid()}_dialer_latency"]
    results: dict = {}
    cancel_on_signals()
    version = await server_version(server_url)
    ami = await banner(AmiTarget.from_args(args))
    log(f"bench/dialer: originates {args.originates:,} ({args.window} in flight), agents {args.agents}, callbacks "
        f"{args.callbacks:,}, stored {args.rows:,}, steady {args.steady_rate:g}/s for {args.steady_seconds:g} s; "
        f"{version}; {ami} on {args.ami_host}:{args.ami_port}")

    async def phases() -> None:
        await bench_bare(args, results)
        await bench_full_path(args, server_url, names[0], results)
        await drop_databases(server_url, names[:1])
        if args.rows >= 0 and args.steady_seconds > 0:
            await bench_latency(args, server_url, names[1], results)
            if args.two_daemons:
                await two_daemons(args, results["lat_url"], results)

    failed = await measure(phases, max_seconds=args.max_seconds, server_url=server_url, databases=names)
    where_the_time_goes(results, args)
    report(args, results, elapsed(), version, ami)
    return 1 if failed else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_server_url(p, "a PostgreSQL server URL where we may create databases (its path is ignored)")
    add_ami_arguments(p)
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
    p.add_argument("--no-two-daemons", dest="two_daemons", action="store_false",
                   help="skip the burst through two `cbdialer run` processes (after the latency phase)")
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
