"""Faults under real calls (docs/design.md section 8; the issue on faults): a kill -9 during a wrap-up, the AMI link
dropped while callbacks fall due, and two dialer processes sharing one queue's pacing. Daemons are `cbdialer
run` processes (tests/support/daemon.py); what reached the customer is counted on the test's own AMI link."""

from __future__ import annotations

import asyncio
import contextlib

from cbdialer.adapters.ami import Newchannel
from cbdialer.domain.lifecycle import CallbackState
from cbdialer.domain.models import Callback, CompletionStatus, InteractionState
from tests.e2e.conftest import Book, Events
from tests.support.daemon import Daemon
from tests.support.link_cutter import LinkCutter

SHORT_CALL = "+44207946008"  # + a last digit: answers after ~1 s and hangs up after 2 s (handled)


def legs_to(watcher: Events, number: str) -> list[Newchannel]:
    return [e for e in watcher.seen if isinstance(e, Newchannel)
            and e.channel.startswith(f"Local/{number}@cbdialer-sim-customers") and e.channel.endswith(";1")]


async def stop_all(*daemons: Daemon | None) -> None:
    for daemon in daemons:
        if daemon is not None:
            with contextlib.suppress(ProcessLookupError):
                await daemon.stop()


async def test_kill_9_during_a_wrap_up_keeps_the_result_and_the_next_process_applies_the_disposition_once(
    pbx: dict[str, str], database_url: str, watcher: Events, crash_book: Book
) -> None:
    book = crash_book
    queue = await book.queue("q-wrap-up-kill", ["1001"], amd=False, duration_for_no_answer=15, wrap_up_time=12)
    number = SHORT_CALL + "1"
    first = await Daemon.start(pbx, database_url, CBDIALER_LEASE_SECONDS="3")
    second = None
    try:
        created = await book.callback(queue, number)
        attempt = await book.wait_for_attempt(created.id, lambda a: a.interaction_state is InteractionState.WRAP_UP)
        # Heard and on record before the wrap-up ends: what the agent said on the line is not in memory only.
        assert attempt.result_at is not None and attempt.dial_status == "ANSWER" and attempt.ended_at is None
        assert await book.store.set_disposition(created.id, CompletionStatus.WRONG_DESTINATION, agent_id="1001")
        first.kill()
        await first.process.wait()
        second = await Daemon.start(pbx, database_url, CBDIALER_LEASE_SECONDS="3")
        done = await book.wait_until(created.id, lambda c: c.state is CallbackState.FAILED, timeout=60)
        assert (done.completion_status, done.attempts_count) == (CompletionStatus.WRONG_DESTINATION, 1)
        [row] = await book.store.attempts(created.id)
        assert (row.completion_status, row.dial_status, row.result_at) == \
            (CompletionStatus.WRONG_DESTINATION, "ANSWER", attempt.result_at)
        ends = [t for t in await book.trail(created.id) if t[0] == "in_progress"]
        assert ends == [("in_progress", "failed", "wrong_destination")]  # applied once
        assert len(legs_to(watcher, number)) == 1
    finally:
        await stop_all(first, second)


async def test_callbacks_due_while_the_ami_link_is_down_wait_uncounted_and_are_dialled_once_it_is_back(
    pbx: dict[str, str], database_url: str, watcher: Events, crash_book: Book
) -> None:
    book = crash_book
    queue = await book.queue("q-ami-down", ["1001", "1002", "1003"], amd=False)
    cutter = LinkCutter("127.0.0.1", int(pbx["CBDIALER_AMI_PORT"]))
    await cutter.start()
    daemon = await Daemon.start({**pbx, "CBDIALER_AMI_PORT": str(cutter.listen_port)}, database_url)
    try:
        await daemon.wait_for_log(lambda line: line.get("event") == "ami_link_up", timeout=15)
        cutter.cut()
        await daemon.wait_for_log(lambda line: line.get("event") == "ami_link_lost", timeout=15)
        numbers = [SHORT_CALL + str(i) for i in (2, 3, 4)]
        created: list[Callback] = [await book.callback(queue, n) for n in numbers]
        await cutter.wait_refused(4)  # the daemon tried to reconnect four times meanwhile (over a second)
        for callback in created:
            assert await book.store.attempts(callback.id) == []  # no agent reserved, no attempt written
            stored = await book.store.get_callback(callback.id)
            assert stored is not None and (stored.state, stored.attempts_count) == (CallbackState.SCHEDULED, 0)
        assert all(legs_to(watcher, n) == [] for n in numbers)
        cutter.restore()
        for callback in created:
            done = await book.wait_until(callback.id, lambda c: c.state is CallbackState.COMPLETED, timeout=60)
            assert (done.completion_status, done.attempts_count) == (CompletionStatus.HANDLED, 1)
            assert len(await book.store.attempts(callback.id)) == 1
        assert [len(legs_to(watcher, n)) for n in numbers] == [1, 1, 1]
        assert daemon.process.returncode is None
    finally:
        await stop_all(daemon)
        await cutter.stop()


async def test_two_processes_share_one_queues_max_concurrent_calls(
    pbx: dict[str, str], database_url: str, watcher: Events, crash_book: Book
) -> None:
    book = crash_book
    queue = await book.queue("q-shared-pacing", ["1001", "1002", "1003", "1004"], amd=False,
                             max_concurrent_calls=1, calls_per_second=5)
    daemons = [await Daemon.start(pbx, database_url), await Daemon.start(pbx, database_url)]
    try:
        await asyncio.gather(*(d.wait_for_log(lambda line: line.get("event") == "ami_link_up", timeout=15)
                               for d in daemons))
        created = [await book.callback(queue, SHORT_CALL + str(i)) for i in (5, 6, 7, 8)]
        for callback in created:
            await book.wait_until(callback.id, lambda c: c.state is CallbackState.COMPLETED, timeout=90)
        attempts = sorted([a for c in created for a in await book.store.attempts(c.id)], key=lambda a: a.started_at)
        assert len(attempts) == 4
        for before, after in zip(attempts, attempts[1:]):
            assert before.ended_at is not None and after.started_at >= before.ended_at, "two calls were live at once"
    finally:
        await stop_all(*daemons)
