"""The operator's figures that are measured rather than observed (README "Operating cbdialer"): how late the
event loop runs, and the book's own figures (active callbacks, due now), read on a timer of their own. Rule: a
scrape never waits for either; each loop runs until `stop`, and a database outage is the caller's to ride
through (supervision.ride_through)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from cbdialer.ports.metrics import Metrics

log = structlog.get_logger("cbdialer.operating")

LAG_INTERVAL = 0.25  # seconds between the loop's measurements
BOOK_INTERVAL = 15.0  # seconds between reads of the book's figures (Prometheus's usual scrape interval)
READ_TIMEOUT = 5.0  # a read of the figures that takes longer is given up until the next turn


async def measure_loop_lag(metrics: Metrics, stop: asyncio.Event, interval: float = LAG_INTERVAL) -> None:
    """Ask the loop to wake us in `interval`; how much later it does is its lag."""
    while not stop.is_set():
        asked = time.perf_counter()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)  # the measuring timer itself
        if not stop.is_set():
            metrics.loop_lag(max(0.0, time.perf_counter() - asked - interval))


async def read_book_figures(read: Callable[[], Awaitable[dict[str, Any]]],
                            publish: Callable[[list[tuple[str, str, int]], list[tuple[str, int]]], None],
                            stop: asyncio.Event, interval: float = BOOK_INTERVAL) -> None:
    """Read the book's figures every `interval` seconds and hand them to the metrics. A read slower than
    READ_TIMEOUT is skipped (the figures keep their age); a database outage is the caller's to ride through."""
    while not stop.is_set():
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                figures = await read()
        except TimeoutError:  # never the daemon's health: only the metrics' figures wait
            log.warning("book_figures_slow", timeout=READ_TIMEOUT)
        else:
            publish(figures["callbacks"], figures["due_now"])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
