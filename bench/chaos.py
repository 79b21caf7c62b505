"""bench/chaos: does cbdialer keep its promises while it is being crashed? (docs/design.md sections 4, 8 and 11)

Two `cbdialer run` processes on one database dial a few hundred callbacks on a sandbox PBX with Local-channel
agents, while the bench SIGKILLs one daemon (and restarts it) several times, SIGKILLs both at once, restarts
PostgreSQL twice and Asterisk once. The calling window of a third of the contacts closes during the run. Then it
lets everything settle and counts, each of which should be 0:
  - callbacks lost (created, missing from the database) and callbacks not in an end state after settling;
  - attempts that dialled their customer twice (more than one customer leg whose Linkedid is the attempt id);
  - numbers dialled twice at once (two customer legs of one number live at the same time);
  - answering customers called again: a customer leg of the number was answered, and a later one began;
  - dials outside the calling window: customer legs that began after the contact's window had closed;
  - daemon exits the bench did not cause (PostgreSQL's restart, say), with the end of each one's log.
Customer legs are the `Local/{number}@cbdialer-sim-customers-...;1` channels, seen on an AMI session of the
bench's own (Newchannel, DialBegin, DialEnd, Hangup; timed on receipt); events during the Asterisk restart are
lost with the calls. The database is read at the end. A daemon that exits by itself is restarted after 3 s, as
deploy/cbdialer.service would.

Isolation: its own PostgreSQL server (initdb into a temp dir, a free port, run as `postgres`) and its own sandbox
PBX instance (deploy/sandbox with CBDIALER_SANDBOX_INSTANCE, _STATE, _AMI_PORT, _SIP_PORT and _SIPP=no); it never
touches the server on 5432 or the default sandbox, and stops what it started, by pid, at the end.

Run (as root): .venv/bin/python bench/chaos.py [--callbacks N] [--agents K] ...
The daemons run the cbdialer that .venv imports (the working tree); PYTHONPATH=DIR/src runs another copy.
Exit status 0 when every count is 0, 1 otherwise or when it could not run.

Why this file is a little over 350 lines: the run is one scenario, read top to bottom (start, faults, settle,
count); its plumbing (processes, databases, the AMI watcher) is in bench/support.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime, time as dtime, timedelta
from pathlib import Path

from cbdialer.adapters.db import Database
from cbdialer.domain.access import Principal, Role
from cbdialer.domain.models import Agent, CallbackType, CallingWindow, PreviewMode, Queue, QueueSettings, Schedule
from cbdialer.logs import configure_logging
from cbdialer.services import Admin

from support.ami import AmiTarget, LegWatch  # the bench's own AMI session
from support.databases import TERMINAL
from support.isolated import CBDIALER, DaemonProcess, Postgres, Sandbox, command, daemon_env, wait_for_log
from support.output import UTC, elapsed, log

QUEUE = "chaos"
CUSTOMER_LEG = re.compile(r"^Local/(\+\d+)@cbdialer-sim-customers-[0-9a-f]+;1$")
# docs/design.md section 10: the last two digits of the number choose what the simulated customer does.
BEHAVIOURS = {"answer (10 s call)": range(0, 20), "answer (2 s call)": range(80, 100), "never answer": range(30, 40),
              "busy": range(40, 50)}
MIX = (0.4, 0.4, 0.1, 0.1)
ANSWERING = set(range(0, 20)) | set(range(80, 100))
# (seconds after T0, the first due time; action). A, B, A+B: SIGKILL (restarted after --restart-delay);
# pg-fast, pg-immediate: pg_ctl restart -m fast / immediate; asterisk: deploy/sandbox down, then up.
CHAOS = [(10, "A"), (22, "B"), (34, "pg-fast"), (46, "A+B"), (60, "asterisk"), (75, "B"), (88, "A+B"),
         (100, "pg-immediate"), (112, "A")]


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args, self.tmp = args, Path(tempfile.mkdtemp(prefix="cbdialer-chaos-"))
        os.chmod(self.tmp, 0o711)  # the postgres user reaches its directory inside
        (self.tmp / "logs").mkdir()
        self.pg, self.sandbox = Postgres(self.tmp, "cbdialer_chaos"), Sandbox(self.tmp, f"chaos-{os.getpid()}")
        self.daemons: list[DaemonProcess] = []
        self.tasks: set[asyncio.Task] = set()
        self.exits: list[tuple] = []
        self.stopping, self.restarts, self.done = False, 0, Counter()

    def background(self, coro) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def fetch(self, sql: str, *params) -> list | None:
        return await self.pg.fetch(sql, *params)

    async def states(self, ids: list[uuid.UUID]) -> str:
        rows = await self.fetch("SELECT state, count(*) AS n FROM callbacks WHERE id = ANY($1) GROUP BY 1 ORDER BY 2 DESC", ids)
        return "database away" if rows is None else ", ".join(f"{r['n']} {r['state']}" for r in rows)

    async def setup(self) -> LegWatch:
        await self.pg.start()
        log(f"own PostgreSQL up on 127.0.0.1:{self.pg.port}")
        await self.sandbox.up()
        ami = self.sandbox.ami()
        log(f"own sandbox PBX '{self.sandbox.name}' up, AMI on 127.0.0.1:{ami['CBDIALER_AMI_PORT']}")
        env = daemon_env(ami, self.pg.url(), CBDIALER_LEASE_SECONDS=str(self.args.lease))
        if await command(CBDIALER, "migrate", env=env, out=self.tmp / "migrate.log"):
            raise RuntimeError(f"cbdialer migrate failed: {(self.tmp / 'migrate.log').read_text()[-500:]}")
        watch = LegWatch(AmiTarget.from_env(ami), CUSTOMER_LEG)
        self.background(watch.link.run(asyncio.Event()))
        self.background(watch.consume())
        await watch.link.wait_connected(20)
        self.daemons = [DaemonProcess(name, env, self.tmp / "logs", self) for name in ("A", "B")]
        for d in self.daemons:
            await d.start()
        await wait_for_log(self.daemons, "ami_link_up", 30)
        return watch

    def plan(self, t0: float) -> tuple[list[tuple], float, QueueSettings]:
        """(number, due, zone, closing) per callback, the closing instant and the queue settings. The window
        [06:00, HH:MM) is local time: HH:MM is the first whole minute at least 60 s after T0 in the closing
        contacts' zone (an Etc/GMT zone where that is about noon); the others' zone is 3 hours behind it."""
        a, rng = self.args, random.Random(self.args.seed)
        close = datetime.fromtimestamp(t0 + 60, UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        k_close = (24 - close.hour) % 24 - 12  # hours east of UTC, -12..11: local time about 12:00
        k_open = k_close - 3 if k_close >= -9 else k_close + 21
        zone = lambda k: "UTC" if k == 0 else f"Etc/GMT{-k:+d}"  # POSIX signs: Etc/GMT-5 is UTC+5
        window = CallingWindow(dtime(6, 0), (close + timedelta(hours=k_close)).time())
        pools = [[f"+442079460{h}{d:02d}" for h in range(10) for d in digits] for digits in BEHAVIOURS.values()]
        counts = [round(a.callbacks * share) for share in MIX]
        counts[0] += a.callbacks - sum(counts)
        numbers = [n for pool, c in zip(pools, counts) for n in rng.sample(pool, c)]
        rng.shuffle(numbers)
        c = close.timestamp() - t0  # closing contacts fall due from a minute before the close to 15 s after it
        calls = [(n, t0 + rng.uniform(max(0, c - 60), c + 15), zone(k_close), True) if i < a.callbacks * a.closing_share
                 else (n, t0 + rng.uniform(0, a.spread), zone(k_open), False) for i, n in enumerate(numbers)]
        settings = QueueSettings(
            customer_dial_string="Local/{number}@cbdialer-sim-customers", amd=False, preview_mode=PreviewMode.DISABLED,
            calling_window=window, schedule=Schedule(), apply_dnc=False, duration_for_no_answer=8,
            attempts_before_failure=3, recall_intervals=(10,), retry_interval=2, network_failure_delay=5,
            wrap_up_time=3, agent_offer_timeout=10, max_concurrent_calls=a.agents, calls_per_second=10.0)
        return calls, close.timestamp(), settings

    async def seed(self, calls: list[tuple], close: float, settings: QueueSettings) -> dict[uuid.UUID, tuple]:
        """The queue, the agents, and the callbacks through the product's own create (Admin.create_callback);
        a closing contact ends 10 minutes after its window closes, so that it expires rather than wait a day."""
        db = await Database.connect(self.pg.url(), max_size=2)
        try:
            store = db.store()
            await store.save_queue(Queue(id=QUEUE, name="Chaos", settings=settings))
            for i in range(1, self.args.agents + 1):
                await store.upsert_agent(Agent(id=f"9{i:04d}", dial_string=f"Local/9{i:04d}@cbdialer-bench-agents",
                                               queues=frozenset({QUEUE})))
            admin, who = Admin(store, lambda: datetime.now(UTC)), Principal(token_id=uuid.uuid4(), role=Role.ADMIN)
            created = {}
            for number, due, zone, closing in calls:
                cb, _ = await admin.callbacks.create_callback(
                    who, queue=QUEUE, destination=number, type=CallbackType.STANDARD, customer_timezone=zone,
                    start_at=datetime.fromtimestamp(due, UTC).isoformat(),
                    end_at=datetime.fromtimestamp(close + 600, UTC) if closing else None)
                created[cb.id] = (number, closing)
            return created
        finally:
            await db.close()

    async def chaos(self, action: str, ids: list) -> None:
        rows = await self.fetch("SELECT interaction_state AS s, count(*) AS n FROM attempts WHERE ended_at IS NULL "
                                "GROUP BY 1 ORDER BY 1")
        open_attempts = "database away" if rows is None else ", ".join(f"{r['n']} {r['s']}" for r in rows) or "none"
        log(f"CHAOS {action} (attempts not ended in the database: {open_attempts})")
        if action in ("A", "B", "A+B"):
            victims = [d for d in self.daemons if d.name in action.split("+")]
            await asyncio.gather(*(d.kill() for d in victims))
            self.done["kill -9 of both daemons" if len(victims) == 2 else "kill -9 of one daemon"] += 1

            async def restart() -> None:
                await asyncio.sleep(self.args.restart_delay)
                await asyncio.gather(*(d.start() for d in victims))
            self.background(restart())
        elif action.startswith("pg-"):
            await self.pg.restart(action[3:])
            self.done[f"PostgreSQL restart ({action[3:]})"] += 1
        else:
            await self.sandbox.restart()
            self.done["Asterisk restart"] += 1
        log(f"CHAOS {action} done; callbacks: {await self.states(ids)}")

    async def main(self) -> int:
        a = self.args
        watch = await self.setup()
        t0 = time.time() + 8  # creating the callbacks takes a moment, and each must start in the future
        calls, close, settings = self.plan(t0)
        created = await self.seed(calls, close, settings)
        ids = list(created)
        log(f"daemons A and B up; {len(created)} callbacks created; the calling window "
            f"({settings.calling_window.start:%H:%M}-{settings.calling_window.end:%H:%M} local) closes for "
            f"{sum(c for _, c in created.values())} of them ({calls[0][2]}) at T0+{close - t0:.0f} s")

        async def progress() -> None:
            while True:
                await asyncio.sleep(10)
                down = [d.name for d in self.daemons if not d.alive()]
                log(f"T0{time.time() - t0:+.0f} s: callbacks {await self.states(ids)}; customer legs {len(watch.legs)} "
                    f"({watch.live()} live){'; down: ' + ' '.join(down) if down else ''}")
        self.background(progress())
        for at, action in CHAOS:
            await asyncio.sleep(max(0.0, t0 + at - time.time()))
            await self.chaos(action, ids)
        log(f"chaos over; settling (at most {a.settle_timeout:g} s)")
        settle_end = time.monotonic() + a.settle_timeout
        while time.monotonic() < settle_end:
            rows = await self.fetch("SELECT count(*) AS n FROM callbacks WHERE id = ANY($1) AND state <> ALL($2)",
                                    ids, list(TERMINAL))
            if rows is not None and rows[0]["n"] == 0 and watch.live() == 0:
                break
            await asyncio.sleep(2)
        await asyncio.sleep(2)  # the last Hangup events
        self.stopping = True
        await asyncio.gather(*(d.kill(signal.SIGTERM) for d in self.daemons))
        return await self.report(created, watch, close, t0)

    async def report(self, created: dict, watch: LegWatch, close: float, t0: float) -> int:
        ids, tolerance = list(created), self.args.tolerance
        rows = await self.fetch("SELECT id, state FROM callbacks WHERE id = ANY($1)", ids)
        attempts = await self.fetch("SELECT id, completion_status FROM attempts WHERE callback_id = ANY($1)", ids)
        if rows is None or attempts is None:
            raise RuntimeError("PostgreSQL did not answer at the end: nothing to count")
        state = {r["id"]: r["state"] for r in rows}
        closing = {number for number, is_closing in created.values() if is_closing}
        by_attempt, by_number = defaultdict(list), defaultdict(list)
        for leg in sorted(watch.legs.values(), key=lambda leg: leg.begin):
            by_attempt[leg.attempt].append(leg)
            by_number[leg.number].append(leg)
        at = lambda t: f"T0{t - t0:+.1f}"
        legs_text = lambda legs: "; ".join(f"{at(l.begin)}-{at(l.end) if l.end else '?'}{' (cut)' if l.cut else ''} "
                                           f"attempt {l.attempt[:8]}{' answered' if l.answered else ''}" for l in legs)
        twice, together, again, late, after_cut = [], [], [], [], 0
        for attempt, legs in by_attempt.items():
            if len(legs) > 1 and attempt:
                twice.append(f"attempt {attempt}: {legs_text(legs)}")
        for number, legs in by_number.items():
            if any(later.begin < (earlier.end or float("inf")) for i, earlier in enumerate(legs) for later in legs[i + 1:]):
                together.append(f"{number}: {legs_text(legs)}")
            answered = [leg.answered for leg in legs if leg.answered]
            if int(number[-2:]) in ANSWERING and answered and legs[-1].begin > min(answered):
                again.append(f"{number}: {legs_text(legs)}")
                after_cut += next(leg for leg in legs if leg.answered == min(answered)).cut
            late += [f"{number}: began {leg.begin - close:.1f} s after the close (attempt {leg.attempt})"
                     for leg in legs if number in closing and leg.begin > close + tolerance]
        counts = [
            ("callbacks lost (created, missing from the database)", [str(i) for i in ids if i not in state]),
            ("callbacks not in an end state after settling",
             [f"{i}: {s}" for i, s in state.items() if s not in TERMINAL]),
            ("attempts that dialled their customer twice", twice),
            ("numbers dialled twice at once", together),
            ("answering customers called again after a customer leg answered", again),
            (f"dials outside the calling window (> {tolerance:g} s after it closed)", late),
            ("daemon exits the bench did not cause (PostgreSQL restart, ...)",
             [f"{name} at {t:.0f} s, status {rc}: {lines[-1] if lines else ''}" for name, rc, t, _, lines in self.exits]),
        ]
        print("\nbench/chaos: counts (each should be 0)")
        for label, found in counts:
            print(f"  {label:<70} {len(found):>5}  {'OK' if not found else 'MISSED'}")
        mix = [sum(1 for n, _ in created.values() if int(n[-2:]) in digits) for digits in BEHAVIOURS.values()]
        outcomes = Counter(r["completion_status"] or "none (never ended)" for r in attempts)
        print("figures")
        print(f"  callbacks created {len(created)}: {', '.join(f'{c} {b}' for b, c in zip(BEHAVIOURS, mix))}; "
              f"{len(closing)} with the window closing at T0+{close - t0:.0f} s")
        print(f"  callbacks by state: {', '.join(f'{n} {s}' for s, n in Counter(state.values()).most_common())}")
        print(f"  attempts {len(attempts)}, by completion status: {', '.join(f'{n} {s}' for s, n in outcomes.most_common())}")
        known = {str(r["id"]) for r in attempts}
        print(f"  customer legs {len(watch.legs)} ({sum(1 for l in watch.legs.values() if l.answered)} answered) of "
              f"{len(by_attempt)} attempts; legs whose Linkedid is no attempt in the database: "
              f"{sum(len(legs) for attempt, legs in by_attempt.items() if attempt not in known)}")
        window_legs = [leg for leg in watch.legs.values() if leg.number in closing]
        last = max((leg.begin for leg in window_legs if leg.begin <= close + tolerance), default=t0)
        print(f"  customer legs of the contacts whose window closed: {len(window_legs)}, the last one that began in "
              f"time at T0{last - t0:+.1f} s; answering customers called again after a leg cut by the Asterisk "
              f"restart: {after_cut}")
        print(f"  chaos: {', '.join(f'{n} {k}' for k, n in self.done.items())}; daemon restarts {self.restarts}")
        print(f"  wall time {elapsed():.0f} s")
        for label, found in counts:
            if found:
                print(f"\n{label}: {len(found)}, e.g.")
                for example in found[:3]:
                    print(f"  {example}")
        for name, rc, t, path, lines in self.exits:
            print(f"\ndaemon {name} exited with status {rc} at {t:.0f} s; the end of {path}:")
            print("\n".join("    " + line for line in lines))
        return 0 if not any(found for _, found in counts) else 1

    def cleanup(self) -> None:
        self.stopping = True
        for d in self.daemons:
            d.kill_now()
        self.sandbox.stop()
        self.pg.stop()
        if self.args.logs:
            shutil.copytree(self.tmp / "logs", self.args.logs, dirs_exist_ok=True)
            log(f"daemon logs copied to {self.args.logs}")
        shutil.rmtree(self.tmp, ignore_errors=True)
        log("cleaned up: daemons, own sandbox PBX, own PostgreSQL, temp dir")


async def amain(run: Run) -> int:
    for sig in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a shell may start it with SIGINT ignored
        asyncio.get_running_loop().add_signal_handler(sig, asyncio.current_task().cancel)
    try:
        return await asyncio.wait_for(run.main(), run.args.max_seconds)
    finally:
        run.stopping = True
        await asyncio.gather(*(d.kill() for d in run.daemons))  # no-op for those already stopped
        for task in list(run.tasks):
            task.cancel()
        await asyncio.gather(*run.tasks, return_exceptions=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="\n".join(__doc__.splitlines()[2:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--callbacks", type=int, default=300, help="callbacks created, 10..1000 (default 300)")
    p.add_argument("--agents", type=int, default=40, help="Local-channel agents (default 40)")
    p.add_argument("--spread", type=float, default=90.0, help="the others' due times spread over this many s (90)")
    p.add_argument("--closing-share", type=float, default=1 / 3, help="share of contacts whose window closes (1/3)")
    p.add_argument("--lease", type=float, default=3.0, help="CBDIALER_LEASE_SECONDS of the daemons (default 3)")
    p.add_argument("--restart-delay", type=float, default=2.0, help="seconds before a killed daemon restarts (2)")
    p.add_argument("--settle-timeout", type=float, default=180.0, help="seconds allowed to settle afterwards (180)")
    p.add_argument("--tolerance", type=float, default=1.0, help="seconds after the close a leg may still begin (1)")
    p.add_argument("--seed", type=int, default=1, help="random seed of the plan (numbers, due times)")
    p.add_argument("--logs", type=Path, help="copy the daemons' logs into this directory at the end")
    p.add_argument("--max-seconds", type=float, default=600.0, help="hard limit on the whole run (600)")
    args = p.parse_args(argv)
    if not 10 <= args.callbacks <= 1000 or args.agents < 1:
        p.error("--callbacks must be 10..1000 and --agents at least 1")
    return args


def main() -> int:
    args = parse_args()
    if os.geteuid() != 0:
        print("bench/chaos: run it as root (deploy/sandbox needs root)", file=sys.stderr)
        return 1
    configure_logging("console", "error")  # the bench's own AmiLink: its link changes are logged here instead
    run = Run(args)
    log(f"bench/chaos: {args.callbacks} callbacks, {args.agents} Local agents, 2 daemons, lease {args.lease:g} s; "
        f"chaos at T0 {', '.join(f'+{t}s {a}' for t, a in CHAOS)}; work dir {run.tmp}")
    rc = 1
    try:
        rc = asyncio.run(amain(run))
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted")
    except TimeoutError:
        log(f"FAILED: the run took more than --max-seconds ({args.max_seconds:g} s)")
    except Exception as exc:  # noqa: BLE001 - reported, then cleaned up
        log(f"FAILED: {exc!r}")
        import traceback
        traceback.print_exc()
    finally:
        run.cleanup()
    return rc


if __name__ == "__main__":
    sys.exit(main())
