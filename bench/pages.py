"""bench/pages: the screens left open (docs/design.md section 15, issue 12: "a page open for an hour keeps one
connection and no growing memory").

One run:
  1. a fresh database, migrated; two queues, three agents, a supervisor's and an agent's token;
  2. the daemon as build_daemon wires it, serving its admin API and the pages' change listener (nothing else),
     in a child process;
  3. Debian's Chromium opens the supervisor's page and agent a000's panel, logged in, and leaves them open for
     M minutes (10; `--minutes 60` for the hour itself) while the book changes every C seconds (0.5: a
     callback for a000 scheduled, the oldest purged once five wait), so that both pages refresh as often as
     the stream allows (its coalescing: twice a second);
  4. every S seconds, for each page after a forced garbage collection: its JavaScript heap, DOM nodes and
     event listeners (Chrome's own metrics, over CDP); the event streams it opened; the daemon's RSS and its
     established connections; then the supervisor opens the newest search row's history (closing the last).

It prints each page's refreshes and, over the samples after the first minute (the pages' lists filled): the
growth per hour (a least-squares slope) of the JS heap and of the daemon's RSS, and the medians of DOM nodes
and listeners in the run's second half against its first; against the limits: one event stream per page for
the whole run, JS heap growth < 1 MB per hour, DOM nodes and listeners flat (the later median within 10 % of
the earlier), the daemon's RSS growth < 10 MB per hour, and at least one refresh per 2 s on each page.

Run: bench/pages [--minutes M] [--change-every C] [--sample-every S]   (--help for all)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from playwright.async_api import CDPSession, Page, async_playwright

from cbdialer.adapters.db import Database
from cbdialer.app import build_daemon
from cbdialer.domain.access import COMMAND_LINE, Role
from cbdialer.domain.models import Agent, CallbackType, Queue
from cbdialer.services import Admin
from cbdialer.settings import Settings

from support.cli import add_server_url, serve_or_measure
from support.databases import drop_databases, migrated_database
from support.output import elapsed, log, verdict

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
AGENT = "a000"
HEAP_LIMIT = 1.0  # MB per hour
RSS_LIMIT = 10.0  # MB per hour
FLAT = 0.10  # DOM nodes and listeners: within 10 % of the first sample
REFRESHES = 0.5  # per second at least: the pages follow the book (it changes twice a second by default)


async def run_server(url: str) -> None:
    """The daemon's admin API and the pages' change listener, on port 0: the bound port goes to stdout."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_reader(sys.stdin.fileno(), stop.set)  # the bench closes our stdin to stop us
    settings = Settings(database_url=url, http_host="127.0.0.1", http_port=0, log_level="warning")
    async with build_daemon(settings, stop=stop, api_started=lambda port: print(port, flush=True)) as daemon:
        await daemon.run("admin-api", "page-changes")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def established(port: int) -> int:
    """Established TCP connections to the daemon's port (its side of them), from /proc/net/tcp."""
    count = 0
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            local, state = line.split()[1], line.split()[3]
            if int(local.split(":")[1], 16) == port and state == "01":
                count += 1
    return count


@dataclass
class Watched:
    name: str
    page: Page
    cdp: CDPSession
    refresh_path: str  # a read each refresh makes once
    streams: int = 0
    refreshes: int = 0
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)

    async def sample(self, at: float) -> None:
        await self.cdp.send("HeapProfiler.collectGarbage")
        metrics = {m["name"]: m["value"] for m in (await self.cdp.send("Performance.getMetrics"))["metrics"]}
        self.samples.append((at, {"heap": metrics["JSHeapUsedSize"] / 2**20, "nodes": metrics["Nodes"],
                                  "listeners": metrics["JSEventListeners"]}))


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per hour."""
    n = len(points)
    if n < 2:
        return float("nan")
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    den = sum((x - mx) ** 2 for x, _ in points)
    return 3600 * sum((x - mx) * (y - my) for x, y in points) / den if den else float("nan")


async def open_page(browser: Any, base: str, token: str, name: str, path: str, refresh_path: str) -> Watched:
    context = await browser.new_context(viewport={"width": 1280, "height": 800} if name == "supervisor"
                                        else {"width": 420, "height": 800})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(base + "/login")
    await page.get_by_label("API token").fill(token)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url("**" + path)
    cdp = await context.new_cdp_session(page)
    await cdp.send("Performance.enable")
    watched = Watched(name, page, cdp, refresh_path)

    def seen(request: Any) -> None:
        if request.resource_type == "eventsource":
            watched.streams += 1
        elif request.url.split("?")[0].endswith(refresh_path):
            watched.refreshes += 1
    page.on("request", seen)
    watched.streams = 1  # the one it opened while loading, before we listened
    page.on("pageerror", lambda error: log(f"{name}: page error {error}"))
    if errors:
        raise SystemExit(f"{name}: page errors while loading: {errors}")
    return watched


async def open_a_history(page: Page) -> None:
    """The supervisor reads a callback's history: the newest row's is opened (and the one open before closed,
    when it is still listed), so that refreshes carry an open history along as a person's would."""
    await page.locator("#results button.history[aria-expanded='true']").evaluate_all("bs => bs.forEach(b => b.click())")
    button = page.locator("#results tbody tr[data-id] button.history").first
    if await button.count():
        await button.click()


async def churn(admin: Admin, every: float, stop: asyncio.Event) -> int:
    """The book changing: a callback for the agent scheduled each turn, the oldest purged once five wait."""
    waiting: list[Any] = []
    changes = 0
    while not stop.is_set():
        created, _ = await admin.callbacks.create_callback(
            COMMAND_LINE, queue="q0", destination=f"+4420794{changes % 100000:05d}", type=CallbackType.AGENT,
            agent=AGENT, start_in=3600, remark="bench/pages")
        waiting.append(created.id)
        changes += 1
        if len(waiting) > 5:
            await admin.callbacks.purge(COMMAND_LINE, waiting.pop(0))
            changes += 1
        try:
            await asyncio.wait_for(stop.wait(), every)
        except TimeoutError:
            pass
    return changes


async def main(args: argparse.Namespace) -> int:
    name = f"cbdialer_bench_{os.getpid()}_pages"
    tokens: list[str] = []

    async def seed(store: Any) -> None:
        for queue_id in ("q0", "q1"):
            await store.save_queue(Queue(id=queue_id, name=f"Queue {queue_id}"))
        for agent_id in (AGENT, "a001", "a002"):
            await store.upsert_agent(Agent(id=agent_id, dial_string=f"PJSIP/agent-{agent_id}",
                                           queues=frozenset({"q0"})))
        issued = Admin(store, lambda: datetime.now(UTC)).tokens
        tokens.extend([await issued.issue_token(Role.SUPERVISOR), await issued.issue_token(Role.AGENT, AGENT)])

    server = None
    db = None
    try:
        url, _ = await migrated_database(args.server_url, name, seed=seed)
        server = subprocess.Popen([sys.executable, __file__, "--serve", url], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        port = int(server.stdout.readline())  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        log(f"daemon (admin API and page-changes) pid {server.pid} on port {port}")
        db = await Database.connect(url, max_size=2)
        admin = Admin(db.store(), lambda: datetime.now(UTC))
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
            pages = [await open_page(browser, base, tokens[0], "supervisor", "/supervisor", "/api/v1/queues"),
                     await open_page(browser, base, tokens[1], "agent panel", "/agent",
                                     f"/api/v1/agents/{AGENT}/callbacks")]
            log(f"both pages open; the book changes every {args.change_every:g} s for {args.minutes:g} minutes")
            stop = asyncio.Event()
            changing = asyncio.create_task(churn(admin, args.change_every, stop), name="bench-churn")
            daemon: list[tuple[float, float, int]] = []
            t0 = time.monotonic()
            end = t0 + args.minutes * 60
            while True:
                at = time.monotonic() - t0
                for watched in pages:
                    await watched.sample(at)
                await open_a_history(pages[0].page)
                daemon.append((at, rss_mb(server.pid), established(port)))
                last = {w.name: w.samples[-1][1] for w in pages}
                log(f"{at / 60:5.1f} min: " + "; ".join(
                    f"{n} heap {m['heap']:.2f} MB, {m['nodes']:.0f} nodes, {m['listeners']:.0f} listeners, "
                    f"{w.refreshes} refreshes, {w.streams} stream(s)" for w, (n, m) in zip(pages, last.items(),
                                                                                            strict=True))
                    + f"; daemon RSS {daemon[-1][1]:.1f} MB, {daemon[-1][2]} connections")
                if time.monotonic() >= end:
                    break
                await asyncio.sleep(min(args.sample_every, max(0.0, end - time.monotonic())))  # the sampling pace
            stop.set()
            changes = await changing
            await browser.close()
    finally:
        if db is not None:
            await db.close()
        if server is not None:
            server.stdin.close()  # type: ignore[union-attr]
            server.wait(30)
        await drop_databases(args.server_url, [name])
    minutes = args.minutes
    print()
    print(f"== bench/pages: two pages open {minutes:g} min, {changes:,} changes (one each {args.change_every:g} s) ==")
    ok_all = True
    for w in pages:
        settled = [(t, m) for t, m in w.samples if t >= min(60.0, w.samples[-1][0] / 2)]
        first, final = settled[0][1], settled[-1][1]
        heap = slope_per_hour([(t, m["heap"]) for t, m in settled])
        # The lists' contents vary from one refresh to the next, and a sample may catch one mid-render (a peak
        # of twice the usual): growth is the later half's median over the earlier half's.
        half = len(settled) // 2
        peaks = {k: (statistics.median(m[k] for _, m in settled[:max(half, 1)]),
                     statistics.median(m[k] for _, m in settled[half:])) for k in ("nodes", "listeners")}
        flat = {k: late <= (1 + FLAT) * early for k, (early, late) in peaks.items()}
        rate = w.refreshes / (minutes * 60)
        checks = (w.streams == 1, heap < HEAP_LIMIT, flat["nodes"], flat["listeners"], rate >= REFRESHES)
        ok_all &= all(checks)
        print(f"{w.name}:")
        print(f"  refreshes                       {w.refreshes:>10,} ({rate:.2f}/s)   target >= {REFRESHES:g}/s  "
              f"{verdict(checks[4])}")
        print(f"  event streams opened            {w.streams:>10}          target 1          {verdict(checks[0])}")
        print(f"  JS heap after GC                {first['heap']:7.2f} -> {final['heap']:.2f} MB; "
              f"{heap:+.2f} MB/h   target < {HEAP_LIMIT:g} MB/h  {verdict(checks[1])}")
        for n, (key, label) in enumerate((("nodes", "DOM nodes, median"), ("listeners", "event listeners, median"))):
            early, late = peaks[key]
            print(f"  {label:<31} {early:7.0f} -> {late:.0f} (first half, second half)   within {FLAT:.0%}  "
                  f"{verdict(checks[2 + n])}")
    settled_daemon = [(t, r) for t, r, _ in daemon if t >= min(60.0, daemon[-1][0] / 2)]  # the same samples
    rss = slope_per_hour(settled_daemon)
    ok_all &= rss < RSS_LIMIT
    print(f"daemon: RSS {daemon[0][1]:.1f} -> {daemon[-1][1]:.1f} MB; {rss:+.1f} MB/h   target < {RSS_LIMIT:g} MB/h  "
          f"{verdict(rss < RSS_LIMIT)}")
    print(f"  established connections (both pages)   {min(c for *_, c in daemon)} to {max(c for *_, c in daemon)}"
          f" over the run (the streams and the browser's keep-alive pool; info)")
    print(f"wall time {elapsed():.0f} s; {'all OK' if ok_all else 'a target MISSED'}")
    return 0 if ok_all else 1


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_server_url(p)
    p.add_argument("--minutes", type=float, default=10.0, help="how long the pages stay open")
    p.add_argument("--change-every", type=float, default=0.5, help="seconds between changes to the book")
    p.add_argument("--sample-every", type=float, default=15.0, help="seconds between samples")
    p.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)  # the child process: serve the pages
    return p.parse_args()


if __name__ == "__main__":
    serve_or_measure(parse_args(), run_server, main)
