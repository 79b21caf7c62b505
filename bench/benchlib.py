"""Helpers shared by the benchmarks (bench/claim.py, bench/dialer.py, bench/api.py): logging with the run's
clock, database names and clean-up, percentiles, the verdict column, and CPU read from /proc. Rule: no
measuring of the product here, only the tools for it."""

from __future__ import annotations

import math
import os
import time
from datetime import datetime, timezone
from urllib.parse import urlsplit, urlunsplit

import asyncpg

UTC = timezone.utc
_START = time.monotonic()


def elapsed() -> float:
    """Seconds since the benchmark started."""
    return time.monotonic() - _START


def log(message: str) -> None:
    print(f"[{elapsed():7.1f}s] {message}", flush=True)


def database_url(server_url: str, name: str) -> str:
    return urlunsplit(urlsplit(server_url)._replace(path="/" + name))


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def now_utc() -> datetime:
    return datetime.now(UTC)


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile; math.inf entries stand for 'never happened before the deadline'."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100.0 * len(ordered)) - 1)]


def fmt_ms(value: float, floor: float | None = None) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return f">= {floor:,.0f} ms" if floor is not None else "never"
    return f"{value:,.1f} ms" if value < 100 else f"{value:,.0f} ms"


def fmt_rate(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:,.0f} /s"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("OK" if ok else "MISSED")


def kernel_dirty_mb() -> float:
    """Dirty + Writeback from /proc/meminfo (Linux), in MB: a bulk load's writes still to reach the disk."""
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
        return sum(int(fields[k].split()[0]) for k in ("Dirty", "Writeback")) / 1024.0
    except (OSError, KeyError, ValueError):
        return math.nan


async def drop_databases(server_url: str, names: list[str]) -> None:
    try:
        admin = await asyncpg.connect(server_url, timeout=10)
    except Exception as exc:  # noqa: BLE001 - clean-up reports and goes on
        log(f"could not connect to drop {names}: {exc!r}")
        return
    try:
        for name in names:
            try:
                await admin.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
                log(f"dropped database {name}")
            except Exception as exc:  # noqa: BLE001
                log(f"could not drop {name}: {exc!r}")
    finally:
        await admin.close()


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_by_program() -> dict[str, float]:
    """CPU seconds used so far by this process, by every `asterisk` and every `postgres` process, and the
    machine's busy time (all cores). Read from /proc; only looks."""
    out = {"bench+daemon": time.process_time(), "asterisk": 0.0, "postgres": 0.0, "machine": math.nan}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.find("(") + 1:stat.rfind(")")]
        if name in ("asterisk", "postgres"):
            fields = stat[stat.rfind(")") + 2:].split()
            out[name] += (int(fields[11]) + int(fields[12])) / _TICK
    try:
        with open("/proc/stat") as f:
            values = [int(x) for x in f.readline().split()[1:]]
        out["machine"] = (sum(values) - values[3] - values[4]) / _TICK
    except (OSError, ValueError, IndexError):
        pass
    return out


def cpu_delta(before: dict[str, float], seconds: float) -> dict[str, float]:
    """Cores busy on average since `before`, per program."""
    after = cpu_by_program()
    return {name: (after[name] - before[name]) / seconds for name in before}
