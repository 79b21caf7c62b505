"""bench/claim's report: the table of figures, cbdialer's against their targets and against the peer's
(bench/README.md tells what each line means)."""

from __future__ import annotations

import argparse
import math
import os

from support.output import Table, fmt_ms, fmt_rate, maxv, pct

from claim_measure import Phase, mb


def report(args: argparse.Namespace, results: dict, wall: float, server_version: str) -> None:
    table = Table()
    row = table.row

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
        ratios_ok.append(table.last_verdict == "OK")
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

    table.print(f"bench/claim: {args.rows:,} callbacks stored; {server_version}; cores {os.cpu_count()}")
