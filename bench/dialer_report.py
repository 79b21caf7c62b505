"""bench/dialer's report: the table of figures with their targets and verdicts, and the findings drawn from
the timings and the CPU used (what bounds the full path). bench/README.md tells what each line means."""

from __future__ import annotations

import argparse
import math
import os
import sys

from support.ami import Round
from support.output import Table, fmt_ms, fmt_rate, pct

from dialer_path import Steady


def report(args: argparse.Namespace, results: dict, wall: float, server_version: str, asterisk_version: str) -> None:
    table = Table()
    row = table.row
    findings: list[str] = []
    peer = math.nan
    for key, label in (("bare_adapter", "bare AMI, cbdialer's AmiLink"), ("bare_raw", "bare AMI, raw asyncio socket")):
        runs: list[Round] = results.get(key, [])
        if runs:
            best = max(runs, key=lambda b: b.done_rate if not math.isnan(b.done_rate) else -1)
            peer = best.done_rate if math.isnan(peer) else max(peer, best.done_rate)
            row(f"{label}: completed (queued)",
                f"{fmt_rate(best.done_rate)} ({fmt_rate(best.queued_rate)}); rounds: "
                + ", ".join(fmt_rate(b.done_rate) for b in runs), "", "info")
    if not math.isnan(peer):
        row(f"bare-AMI originate rate (peer: the better client; {args.originates:,} Originates, {args.window} in flight)",
            fmt_rate(peer), "800-950/s (docs/design.md 10)", "info")
    flow: Round | None = results.get("flow_raw")
    if flow:
        row(f"Asterisk alone, cbdialer's call flow, {args.agents} in flight, no database",
            f"{fmt_rate(flow.done_rate)} ({flow.ok:,} calls)", "ceiling", "info")
    if "presence_list" in results:
        total, known, techs = results["presence_list"]
        row("Local agents in DeviceStateList", f"{len(known)} of {args.agents} ({total} devices: {', '.join(techs)})",
            "", "info")
    if "probe" in results:
        attempts, summary, n = results["probe"]
        row("cbdialer.app.run_daemon unchanged, Local agents", f"{attempts} attempts for {n} due; {summary}", "dialled",
            attempts > 0)
        if attempts == 0 and "presence_list" in results and not results["presence_list"][1]:
            findings.append(
                "Local-channel agents count as logged off: Asterisk's DeviceStateList lists no Local/... devices, so "
                "Dialer.agents_for sees device state UNKNOWN for every Local agent and route() postpones each callback "
                f"by the retry interval; run_daemon as it is dials nobody ({summary}). Worked around IN THE BENCH ONLY: "
                "the full path runs run_daemon's wiring with a telephony wrapper whose device_states() adds NOT_INUSE "
                "for the bench agents; DeviceStateChange events then keep them current (INUSE/NOT_INUSE per call).")
    full = results.get("full")
    if full:
        ratio = full["rate"] / peer if peer and not math.isnan(peer) and not math.isnan(full["rate"]) else math.nan
        row(f"full path: completed callbacks/s ({full['completed']:,} of {args.callbacks:,}, {args.agents} Local agents)",
            f"{fmt_rate(full['rate'])} in {full['span']:.1f} s; Originates {fmt_rate(full['originate_rate'])}",
            "", "info")
        row("full path / bare-AMI originate rate", "n/a" if math.isnan(ratio) else f"{ratio:.2f}", ">= 0.80",
            None if math.isnan(ratio) else ratio >= 0.8)
        if flow and not math.isnan(flow.done_rate):
            alone = full["rate"] / flow.done_rate
            row("full path / Asterisk-alone call flow", f"{alone:.2f}", ">= 0.80 (issue 14)",
                None if math.isnan(alone) else alone >= 0.8)
        busy = results.get("full_cpu_d", {}).get("bench+daemon", math.nan)
        per = busy * results.get("full_wall", math.nan) / max(full["completed"], 1) * 1000
        row("  daemon CPU per callback (this process: the daemon and the bench's 0.1 s polling)",
            f"{per:.2f} ms ({busy:.2f} cores)", "<= 2 ms", None if math.isnan(per) else per <= 2)
        claims = results.get("full_claimed", 0) / max(args.callbacks, 1)
        row("  claims per callback in the burst", f"{claims:.2f} ({results.get('full_claimed', 0):,} claimed)",
            "<= 1.2", claims <= 1.2)
        gap = results.get("full_longest_gap", math.nan) * 1000
        row("  longest gap between Originates while callbacks waited", f"{gap:.0f} ms", "", "info")
        mean_hold, n_att, handled = results.get("full_hold", (math.nan, 0, 0))
        early = results.get("full_stamped_early", [])
        row("  attempt.started_at before its Originate was sent, p50 / max",
            f"{fmt_ms(pct(early, 50))} / {fmt_ms(max(early) if early else math.nan)}", "", "info")
        row("  attempts (handled); mean call (Originate to end); agent ceiling K / mean",
            f"{n_att:,} ({handled:,}); {mean_hold * 1000:.0f} ms; {fmt_rate(args.agents / mean_hold) if mean_hold else 'n/a'}",
            "", "info")
        row("  CPU during the full path", results.get("full_cpu", ""), "", "info")
        row("  holds written (audit reasons)", ", ".join(f"{k} {v:,}" for k, v in results.get("full_reasons", {}).items()),
            "", "info")
        row("  max AMI events waiting for the consumer", f"{results.get('full_backlog', 0):,}", "", "info")
        if "full_lag" in results:
            lag = results["full_lag"]
            p99 = lag.p99()
            row("  event-loop lag (5 ms sleep, late by)", lag.text(), "p99 <= 20 ms",
                None if math.isnan(p99) else p99 <= 20)
    two = results.get("two")
    if two:
        row(f"two `cbdialer run` processes, the same burst ({args.callbacks:,}), {args.rows:,} stored",
            f"{fmt_rate(two['rate'])}; shares {', '.join(f'{s:.0%}' for s in two['shares'])}; "
            f"due lines per callback {two['claims']:.2f}", "", "info")
        row("  agents offered two calls at once", f"{two['twice']}", "0", two["twice"] == 0)
        row("  RSS of each process, idle / after the burst",
            ", ".join(f"{a:.0f} / {b:.0f} MB" for a, b in zip(two["rss_idle"], two["rss_after"])), "", "info")
    hi: Steady | None = results.get("lat_high")
    lo: Steady | None = results.get("lat_low")
    if hi is not None:
        p99 = pct(hi.lat, 99)
        row(f"due-to-Originate-sent, {hi.rate:g}/s for {hi.seconds:g} s, {args.rows:,} stored",
            f"p50 {fmt_ms(pct(hi.lat, 50))}  p99 {fmt_ms(p99)}  max {fmt_ms(max(hi.lat) if hi.lat else math.nan)}",
            "p99 <= 50 ms (issue 14)", p99 <= 50)
        row("  due-to-claim / claim-to-sent p50, p99",
            f"{fmt_ms(pct(hi.claim, 50))}, {fmt_ms(pct(hi.claim, 99))} / "
            f"{fmt_ms(pct(hi.claim_to_sent, 50))}, {fmt_ms(pct(hi.claim_to_sent, 99))}", "", "info")
        row("  originated / due; CPU", f"{sum(1 for x in hi.lat if not math.isinf(x)):,} / {len(hi.lat):,}; {hi.cpu}",
            "", "info")
    if lo is not None:
        row(f"due-to-Originate-sent at {lo.rate:g}/s for {lo.seconds:g} s (below the full-path rate)",
            f"p50 {fmt_ms(pct(lo.lat, 50))}  p99 {fmt_ms(pct(lo.lat, 99))}  max {fmt_ms(max(lo.lat) if lo.lat else math.nan)}"
            f"; due-to-claim p99 {fmt_ms(pct(lo.claim, 99))}", "", "info")
    if hi is not None or lo is not None:
        row("  1M load; CHECKPOINT; database size",
            f"{results.get('load_s', math.nan):.0f} s; {results.get('checkpoint_s', math.nan):.1f} s; "
            f"{results.get('lat_size', 0) / 1048576:,.0f} MB", "", "info")
    row("wall time of the whole run", f"{wall:.0f} s", "~8 min", wall <= 480)

    findings.extend(results.get("findings", []))
    table.print(f"bench/dialer: {server_version}; {asterisk_version}; cores {os.cpu_count()}")
    if findings:
        print()
        print("Findings:")
        for text in findings:
            print(f"- {text}")
    sys.stdout.flush()


def where_the_time_goes(results: dict, args: argparse.Namespace) -> None:
    """Findings from the figures: what bounds the full path, from the timed calls and the CPU used."""
    full, flow = results.get("full"), results.get("flow_raw")
    if not full or not full["completed"]:
        return
    notes = results.setdefault("findings", [])
    runs = results.get("bare_raw", []) + results.get("bare_adapter", [])
    peer = max((b.done_rate for b in runs if not math.isnan(b.done_rate)), default=math.nan)
    mean_hold = results.get("full_hold", (math.nan,))[0]
    if flow and not math.isnan(flow.done_rate) and not math.isnan(peer):
        notes.append(
            f"Asterisk's own ceiling: driven by raw AMI with no database, cbdialer's call flow (agent Local pair, "
            f"[cbdialer-callback], Dial of a customer Local pair, hangup handler, 4 UserEvents) runs at "
            f"{fmt_rate(flow.done_rate)} with {args.agents} in flight, {flow.done_rate / peer:.2f} of the bare-AMI "
            f"originate rate ({fmt_rate(peer)}; a bare Originate is one Local pair hung up at once). So on this machine "
            f"the full path cannot reach 0.8 of the bare rate even with a dialer that costs nothing; "
            f"{flow.done_rate / peer:.2f} is the most any dialer could show. (Each call holds its agent about "
            f"{mean_hold * 1000:.0f} ms: Answer() on the customer's Local channel waits up to 500 ms for a media frame.)")
    stats = results.get("full_stats", {})
    n = full["completed"]

    def per(name: str) -> float:
        calls, total = stats.get(name, (0, 0.0))
        return total / n * 1000.0 if n else math.nan

    tick = per("scheduler.tick (claim + handle batch)")
    routing = per("dialer.pool_for (routing input)")
    agents_sql = per("store.agents_of_queue")
    present = per("dialer.present (reserve..Originate)")
    start = per("store.start_attempt")
    consumer = sum(total for name, (_, total) in stats.items() if name.startswith("consumer:")) / n * 1000.0
    state_writes = stats.get("store.set_attempt_states", (0, 0.0))[0]
    if not math.isnan(tick) and tick > 0:
        notes.append(
            f"Scheduler: a claimed batch is decided and routed one callback at a time, in due order, then its "
            f"writes and Originates run side by side (4 at a time); Scheduler.tick takes {tick:.1f} ms of wall time "
            f"per callback (so about {1000 / tick:,.0f} callbacks/s at most, against {fmt_rate(full['rate'])} "
            f"measured; claims are sized to the free agents, so a tick is as small as the agents freed since the last). "
            f"Routing input {routing:.2f} ms per callback (the queue's sorted pool of agents, O(log agents); "
            f"store.agents_of_queue {agents_sql:.1f} ms, read at most every 0.25 s); each "
            f"present's I/O {present:.1f} ms (start_attempt {start:.1f} ms: one statement reserves the agent, writes "
            "the attempt and moves the callback; then the Originate), overlapping the others.")
    if consumer > 0:
        notes.append(
            f"AMI event consumer: {consumer:.1f} ms of wall time per call, run in lanes: an attempt's events in order, "
            f"up to 8 attempts side by side (consumer.Lanes), so that is not a ceiling; one write per call on its "
            f"path (end_attempt: attempt, callback, audit line and agent in one statement, then the wake of the "
            f"callback waiting for that agent); "
            f"interaction states are stored in the background, coalesced ({int(state_writes):,} statements for "
            f"{n:,} calls). Most events waiting at once: {results.get('full_backlog', 0):,}.")
    if not math.isnan(mean_hold) and mean_hold > 0:
        notes.append(
            f"Agents: each call holds its agent {mean_hold * 1000:.0f} ms on average, so {args.agents} agents "
            f"can take at most {args.agents / mean_hold:,.0f} calls/s; the burst waits in the database in due order, "
            "claimed as agents free up, rather than postponed by the queue's retry interval.")
    busy = results.get("full_cpu_d")
    wall = results.get("full_wall")
    lag_text = results["full_lag"].text() if "full_lag" in results else "n/a"
    if busy and wall:
        py = busy["bench+daemon"] * wall / n * 1000.0
        notes.append(
            f"CPU: the Python process (daemon plus this bench's 100 ms poll) used {busy['bench+daemon']:.2f} of a core "
            f"during the full path, about {py:.1f} ms of CPU per callback (so one process could not pass about "
            f"{1000 / py:,.0f}/s even if nothing waited); PostgreSQL {busy['postgres']:.2f} and Asterisk "
            f"{busy['asterisk']:.2f} cores. The event loop woke a 5 ms sleep late by {lag_text}. "
            "Use --profile for a cProfile of the full path.")
    hi: Steady | None = results.get("lat_high")
    if hi is not None and hi.lat and pct(hi.lat, 99) > 100:
        notes.append(
            f"Latency at {hi.rate:g}/s: the arrival rate is above what the scheduler completes per second, so a "
            f"backlog builds (due-to-claim p50 {fmt_ms(pct(hi.claim, 50))}): the scheduler claims the next batch only "
            f"after the previous one's I/O is done. The claim itself is not the problem (bench/claim: p99 about "
            "6 ms with 1M stored).")
