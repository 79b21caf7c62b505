"""bench/dialer, phase 5: the same burst through two `cbdialer run` processes on one database (the latency
phase's, with its 1,000,000 stored): the total rate, the share each process took, that no agent was offered
two calls at once, the claims per callback, and each process's resident memory idle and after the burst."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import asyncpg

from support.databases import CALLBACK_COLUMNS, TERMINAL, records_due
from support.isolated import DaemonProcess, daemon_env, wait_for_log
from support.output import fmt_rate, log, now_utc

from dialer_path import QUEUE, customer_number


class _Owner:
    """What DaemonProcess reports to: here, an exit it did not expect is a failed phase."""

    def __init__(self) -> None:
        self.stopping, self.restarts, self.exits = False, 0, []
        self.tasks: set[asyncio.Task] = set()

    def background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def two_daemons(args: argparse.Namespace, url: str, results: dict) -> None:
    owner = _Owner()
    ami = {"CBDIALER_AMI_HOST": args.ami_host, "CBDIALER_AMI_PORT": str(args.ami_port),
           "CBDIALER_AMI_USERNAME": args.ami_username, "CBDIALER_AMI_SECRET": args.ami_secret}
    conn = await asyncpg.connect(url)
    await conn.execute("UPDATE agents SET reserved_for = NULL, reserved_until = NULL, wrap_up_until = NULL")
    with tempfile.TemporaryDirectory(prefix="cbdialer-bench-two-") as tmp:
        daemons = [DaemonProcess(name, daemon_env(ami, url, CBDIALER_LOG_LEVEL="info"), Path(tmp), owner)
                   for name in ("one", "two")]
        try:
            for daemon in daemons:
                await daemon.start()
            await wait_for_log(daemons, '"agents_presence"', timeout=30)  # linked, presence read, reconciled
            idle = [rss_mb(d.proc.pid) for d in daemons]  # type: ignore[union-attr]
            log(f"two daemons: up (pids {', '.join(str(d.proc.pid) for d in daemons)}); RSS idle with "  # type: ignore[union-attr]
                f"{args.rows:,} stored: {', '.join(f'{m:.0f} MB' for m in idle)}")
            now = now_utc()
            records, ids = records_due([customer_number(i, 7) for i in range(args.callbacks)],
                                       [now] * args.callbacks, QUEUE, now)
            await conn.copy_records_to_table("callbacks", records=records, columns=CALLBACK_COLUMNS)
            started, last_done, last_change = time.monotonic(), -1, time.monotonic()
            while time.monotonic() - started < args.full_path_timeout:
                await asyncio.sleep(0.2)
                done = await conn.fetchval("SELECT count(*) FROM callbacks WHERE id = ANY($1::uuid[]) "
                                           "AND state = ANY($2::text[])", ids, list(TERMINAL))
                if done != last_done:
                    last_done, last_change = done, time.monotonic()
                if done >= args.callbacks or time.monotonic() - last_change > args.stall_seconds:
                    break
                if owner.exits:
                    raise RuntimeError(f"a daemon exited during the burst: {owner.exits}")
            after = [rss_mb(d.proc.pid) for d in daemons]  # type: ignore[union-attr]
        finally:
            owner.stopping = True
            for daemon in daemons:
                await daemon.kill(15)  # SIGTERM: a clean stop
        figures = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE c.state = 'completed') AS completed, "
            "min(a.started_at) AS first, max(c.updated_at) FILTER (WHERE c.state = 'completed') AS last "
            "FROM callbacks c LEFT JOIN attempts a ON a.callback_id = c.id WHERE c.id = ANY($1::uuid[])", ids)
        shares = await conn.fetch(
            "SELECT actor, count(*) AS n FROM callback_events WHERE reason = 'dialing' AND callback_id = ANY($1::uuid[]) "
            "GROUP BY actor ORDER BY n DESC", ids)
        claims = await conn.fetchval(
            "SELECT count(*) FROM callback_events WHERE reason = 'due' AND callback_id = ANY($1::uuid[])", ids)
        twice = await conn.fetchval(
            "SELECT count(*) FROM attempts a JOIN attempts b ON a.agent_id = b.agent_id AND a.id < b.id "
            "AND a.started_at < COALESCE(b.ended_at, 'infinity') AND b.started_at < COALESCE(a.ended_at, 'infinity') "
            "WHERE a.callback_id = ANY($1::uuid[]) AND b.callback_id = ANY($1::uuid[])", ids)
        await conn.close()
    span = (figures["last"] - figures["first"]).total_seconds() if figures["last"] and figures["first"] else float("nan")
    rate = figures["completed"] / span if span and span > 0 else float("nan")
    total = sum(r["n"] for r in shares) or 1
    results["two"] = {"rate": rate, "completed": figures["completed"], "shares": [r["n"] / total for r in shares],
                      "twice": twice, "claims": claims / max(args.callbacks, 1), "rss_idle": idle, "rss_after": after}
    log(f"two daemons: {figures['completed']:,} of {args.callbacks:,} completed in {span:.1f} s: {fmt_rate(rate)}; "
        f"shares {', '.join(f'{s:.0%}' for s in results['two']['shares'])}; agents offered two calls at once: "
        f"{twice}; due lines per callback {results['two']['claims']:.2f}; RSS after the burst "
        f"{', '.join(f'{m:.0f} MB' for m in after)}")
