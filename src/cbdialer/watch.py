"""`cbdialer watch`: the live table of callbacks for a person at a terminal. Rule: it only reads; it
redraws when the book changes (NOTIFY) or every second, whichever comes first. It reads through the
callbacks service (`rows`) and hears of changes from `listen`; it knows no database."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

Rows = Callable[[datetime], Awaitable[list[dict[str, Any]]]]
Listen = Callable[[asyncio.Event, asyncio.Event], Awaitable[None]]

COLUMNS = ("callback", "queue", "destination", "agent", "interaction", "state", "status", "tries", "next due")


def _row(r: dict[str, object], now: datetime) -> tuple[str, ...]:
    state = str(r["state"])
    due = r["due_at"]
    next_due = ""
    if state in ("scheduled", "queued") and isinstance(due, datetime):
        seconds = (due - now).total_seconds()
        next_due = "now" if seconds <= 0 else f"in {int(seconds)}s" if seconds < 3600 else due.strftime("%H:%M:%S")
    interaction = str(r["interaction_state"] or "") if state == "in_progress" else ""
    return (str(r["id"])[:8], str(r["queue_id"]), str(r["destination"]), str(r["agent_id"] or ""), interaction,
            state, str(r["completion_status"] or ""), str(r["attempts_count"]), next_due)


def render(rows: list[dict[str, object]], now: datetime) -> str:
    table = [COLUMNS, *(_row(r, now) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    stamp = now.astimezone().strftime("%H:%M:%S")
    return f"cbdialer: callbacks at {stamp} (active, and changed in the last 10 minutes)\n" + "\n".join(lines)


async def watch(rows: Rows, listen: Listen, stop: asyncio.Event, out: TextIO = sys.stdout, *, window: timedelta = timedelta(minutes=10),
                interval: float = 1.0) -> None:
    changed = asyncio.Event()
    listener = asyncio.create_task(listen(changed, stop), name="watch-listener")
    redraw = out.isatty()
    last = ""
    try:
        while not stop.is_set():
            now = datetime.now(UTC)
            text = render(await rows(now - window), now)
            if text.split("\n", 1)[1] != last.split("\n", 1)[-1] or redraw:
                out.write(("\x1b[H\x1b[2J" if redraw else "\n") + text + "\n")
                out.flush()
                last = text
            changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await changed.wait()
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await listener
