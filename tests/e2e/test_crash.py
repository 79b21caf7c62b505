"""Crashes mid-call (docs/design.md section 8): kill -9 of the daemon, then a restart, and an Asterisk restart
under a running daemon. The callback is never lost, and the customer never dialled twice for one attempt."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from cbdialer.adapters.ami import AttemptReport, Newchannel
from cbdialer.domain.lifecycle import CallbackState
from cbdialer.domain.models import CompletionStatus, InteractionState
from tests.e2e.conftest import Book, Events, sandbox

CBDIALER = str(Path(sys.executable).with_name("cbdialer"))
CUSTOMER = "+442079460013"  # answers after ~1 s and talks for 10 s


async def start_daemon(pbx: dict[str, str], url: str) -> asyncio.subprocess.Process:
    env = {**os.environ, **pbx, "CBDIALER_DATABASE_URL": url, "CBDIALER_LEASE_SECONDS": "3",
           "CBDIALER_LOG_FORMAT": "json", "CBDIALER_HTTP_PORT": "0"}
    return await asyncio.create_subprocess_exec(CBDIALER, "run", env=env, stderr=asyncio.subprocess.DEVNULL)


async def test_kill_9_during_a_live_call_loses_nothing_and_dials_once(
    pbx: dict[str, str], database_url: str, watcher: Events, crash_book: Book
) -> None:
    queue = await crash_book.queue("q-crash", ["1001"], amd=False, duration_for_no_answer=15)
    first = await start_daemon(pbx, database_url)
    second = None
    try:
        created = await crash_book.callback(queue, CUSTOMER)
        await watcher.wait_for(lambda e: isinstance(e, AttemptReport) and e.kind == "CustomerAnswered")
        first.send_signal(signal.SIGKILL)  # mid-conversation
        await first.wait()
        second = await start_daemon(pbx, database_url)
        done = await crash_book.wait_until(created.id, lambda c: c.state is CallbackState.COMPLETED, timeout=60)
        assert (done.completion_status, done.attempts_count) == (CompletionStatus.HANDLED, 1)
        [attempt] = await crash_book.store.attempts(created.id)
        assert attempt.dial_status == "ANSWER"
        legs = [e for e in watcher.seen if isinstance(e, Newchannel)
                and e.channel.startswith(f"Local/{CUSTOMER}@cbdialer-sim-customers") and e.channel.endswith(";1")]
        assert len(legs) == 1
    finally:
        for process in (first, second):
            if process is not None and process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(process.wait(), 15)


async def test_an_asterisk_restart_mid_conversation_counts_the_customer_as_reached_and_never_redials(
    pbx: dict[str, str], book: Book
) -> None:
    """Asterisk dies (by pid) with the call, so no Result is ever sent; but the customer had answered, and the
    dialer heard it: that trace stands for the result (handled), so the customer is not called again."""
    queue = await book.queue("q-restart", ["1001"], amd=False, recall_intervals=(1800,), attempts_before_failure=5)
    created = await book.callback(queue, "+442079460016")  # talks for 10 s
    await book.wait_for_attempt(created.id, lambda a: a.interaction_state is InteractionState.HANDLING)
    for command in ("down", "up"):  # the daemon's AMI link reconnects, and reconciles
        result = await asyncio.to_thread(sandbox, command)
        assert result.returncode == 0, result.stderr
    done = await book.wait_until(created.id, lambda c: c.state is CallbackState.COMPLETED)
    [attempt] = await book.store.attempts(created.id)
    assert (done.completion_status, done.attempts_count) == (CompletionStatus.HANDLED, 1)
    assert attempt.ended_at is not None and attempt.dial_status == "ANSWER"
