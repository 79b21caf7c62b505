"""Helpers shared by the benchmarks (bench/claim.py, bench/dialer.py): logging with the run's clock,
database names and clean-up, percentiles, and the verdict column. Rule: no measuring here."""

from __future__ import annotations

import math
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
