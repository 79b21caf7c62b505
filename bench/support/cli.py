"""The benchmarks' command line and measuring run: the shared options, SIGTERM and SIGINT turned into a
cancellation, the time limit, and the databases dropped whatever happened."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import traceback
from collections.abc import Awaitable, Callable

from support.databases import drop_databases
from support.output import log

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def add_server_url(p: argparse.ArgumentParser, help: str | None = None) -> None:
    p.add_argument("--server-url", default=os.environ.get("CBDIALER_TEST_DATABASE_URL", DEFAULT_SERVER), help=help)


def cancel_on_signals() -> None:
    """SIGTERM and SIGINT cancel the running task (which then reports what it measured and cleans up)."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)


async def measure(phases: Callable[[], Awaitable[None]], *, max_seconds: float, server_url: str,
                  databases: list[str]) -> bool:
    """Run the phases within `max_seconds`; a signal, the time limit or a failure stops them early (what was
    measured is kept for the report). The databases are dropped at the end in any case. True if stopped early."""
    failed = False
    try:
        async with asyncio.timeout(max_seconds):
            await phases()
    except (asyncio.CancelledError, TimeoutError) as exc:
        failed = True
        log(f"stopped early ({'time limit' if isinstance(exc, TimeoutError) else 'signal'}): reporting what was measured")
    except Exception as exc:  # noqa: BLE001 - reported, then cleaned up
        failed = True
        log(f"FAILED: {exc!r}")
        traceback.print_exc()
    finally:
        await asyncio.shield(drop_databases(server_url, databases))
    return failed


def serve_or_measure(arguments: argparse.Namespace, serve: Callable[[str], Awaitable[None]],
                     measure: Callable[[argparse.Namespace], Awaitable[int]]) -> None:
    """A bench whose server is a child process of the same file: `--serve URL` makes this the child (serving
    until its stdin closes), otherwise this is the bench's run."""
    from cbdialer.logs import configure_logging  # the product's logging, as the daemon configures it

    configure_logging("console", "warning")
    if arguments.serve:
        asyncio.run(serve(arguments.serve))
    else:
        raise SystemExit(asyncio.run(measure(arguments)))
