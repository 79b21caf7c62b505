"""What the benchmarks print: log lines on the run's clock, percentiles and units, and the report table with
its verdict column."""

from __future__ import annotations

import math
import sys
import time
from datetime import datetime, timezone

UTC = timezone.utc
_START = time.monotonic()


def elapsed() -> float:
    """Seconds since the benchmark started."""
    return time.monotonic() - _START


def log(message: str) -> None:
    print(f"[{elapsed():7.1f}s] {message}", flush=True)


def now_utc() -> datetime:
    return datetime.now(UTC)


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile; math.inf entries stand for 'never happened before the deadline'."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100.0 * len(ordered)) - 1)]


def maxv(values: list[float]) -> float:
    return max(values) if values else math.nan


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


class Table:
    """The report: one row per figure (figure, measured, target, verdict), printed in aligned columns.
    `ok` is a verdict (True, False, None for n/a) or a word of its own ("info", "peer")."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, str, str]] = []

    def row(self, figure: str, measured: str, target: str = "", ok: bool | None | str = "") -> None:
        self.lines.append((figure, measured, target, ok if isinstance(ok, str) else verdict(ok)))

    @property
    def last_verdict(self) -> str:
        return self.lines[-1][3]

    def print(self, title: str) -> None:
        widths = [max(len(line[i]) for line in self.lines) for i in range(4)]
        print()
        print(f"== {title} ==")
        header = ("figure", "measured", "target", "")
        print("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
        print("  ".join("-" * w for w in widths))
        for line in self.lines:
            print("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip())
        sys.stdout.flush()
