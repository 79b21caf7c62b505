"""Callbacks before inbound queue calls, and callers' places kept through a crash (seed 004, docs/design.md
section 14), against the sandbox: only agent 1001 answers the Asterisk queue cbdialer-sandbox (the test pauses
1002-1004 there, as a supervisor would, with a reason of its own that cbdialer leaves alone). Everything waits
for events (the daemon's log lines, the book's NOTIFY), never for time."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cbdialer.adapters.ami import AttemptReport, DialBegin
from cbdialer.dialer.turns import pausing_node
from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import Callback, CallbackOrigin, PreviewMode, Queue
from cbdialer.ports import CallbackQuery
from cbdialer.ports.telephony import TelephonyError
from tests.e2e.conftest import Book, Events, sandbox
from tests.support.daemon import Daemon

ANSWERING = "1001"
AWAY = ("1002", "1003", "1004")
AWAY_REASON = "test: away"


@pytest.fixture
async def one_agent(pbx: dict[str, str], crash_book: Book, watcher: Events) -> AsyncIterator[Queue]:
    """The queue 'inbound' serving cbdialer-sandbox with agent 1001, the only member not paused; once the sandbox
    is quiet: no call at all (an earlier test's caller may still be in the IVR, waiting or talking)."""
    phones = {f"PJSIP/agent-{a}" for a in (*AWAY, ANSWERING)}
    async with asyncio.timeout(90):
        while True:  # read again after each event the PBX sends (a call hung up, a phone going idle)
            heard = len(watcher.seen)
            if not (await watcher.link.core_show_channels()
                    or any(state != "NOT_INUSE" for device, state in (await watcher.link.device_states()).items()
                           if device in phones)):
                break
            await watcher.wait_past(heard)
    for agent in AWAY:
        await watcher.link.pause_member("cbdialer-sandbox", f"PJSIP/agent-{agent}", paused=True, reason=AWAY_REASON)
    # A wrap-up after each callback: app_queue, which knows nothing of it, must not ring the agent meanwhile.
    queue = await crash_book.queue("inbound", [ANSWERING], asterisk_queue="cbdialer-sandbox", wrap_up_time=4)
    await crash_book.store.set_agent_ready(ANSWERING, True)
    try:
        yield queue
    finally:
        for agent in (*AWAY, ANSWERING):
            await watcher.link.pause_member("cbdialer-sandbox", f"PJSIP/agent-{agent}", paused=False,
                                            reason=AWAY_REASON)


async def call_in(*args: str) -> str:
    result = await asyncio.to_thread(sandbox, "call-in", *args, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def index_of(daemon: Daemon, **fields: Any) -> int:
    return next(i for i, line in enumerate(daemon.lines) if all(line.get(k) == v for k, v in fields.items()))


async def logged(daemon: Daemon, timeout: float = 40, **fields: Any) -> dict[str, Any]:
    return await daemon.wait_for_log(lambda line: all(line.get(k) == v for k, v in fields.items()), timeout=timeout)


async def test_a_free_agent_with_a_due_callback_and_an_inbound_caller_waiting_gets_the_callback(
        pbx: dict[str, str], database_url: str, crash_book: Book, one_agent: Queue) -> None:
    daemon = await Daemon.start(pbx, database_url)
    try:
        await logged(daemon, event="ami_link_up", timeout=20)
        talking = await call_in("+442079460125", "--queue", "--hang-up-after", "8")
        await logged(daemon, event="agent_call_answered", caller_uniqueid=talking, agent=ANSWERING)
        # Due now, and its agent busy: it waits in 1001's own callback queue, and 1001 is paused for it.
        callback = await crash_book.callback(one_agent, "+442079460181")
        await logged(daemon, event="member_paused", interface=f"PJSIP/agent-{ANSWERING}")
        waiting = await call_in("+442079460126", "--queue")
        # The first caller hangs up: 1001 is free, and the callback gets it, not the caller waiting.
        await logged(daemon, event="attempt_started", callback_id=str(callback.id), agent=ANSWERING)
        assert not any(line.get("caller_uniqueid") == waiting and line.get("event") == "agent_call_answered"
                       for line in daemon.lines)
        # The callback's call and its wrap-up over (the customer hangs up after 2 s), 1001 is unpaused and takes
        # the caller.
        await logged(daemon, event="member_unpaused", interface=f"PJSIP/agent-{ANSWERING}")
        await logged(daemon, event="agent_call_answered", caller_uniqueid=waiting, agent=ANSWERING)
        assert index_of(daemon, event="attempt_ended", callback_id=str(callback.id)) < \
            index_of(daemon, event="agent_call_answered", caller_uniqueid=waiting)
        done = await crash_book.wait_until(callback.id, lambda c: c.state is CallbackState.COMPLETED)
        assert done.attempts_count == 1
    finally:
        assert await daemon.stop() == 0
    assert not any(line.get("level") in ("error", "critical") for line in daemon.lines), daemon.tail()


async def test_a_crash_while_callers_wait_and_callbacks_are_pending_keeps_every_request_and_the_order(
        pbx: dict[str, str], database_url: str, crash_book: Book, one_agent: Queue) -> None:
    first = await Daemon.start(pbx, database_url)
    second: Daemon | None = None
    try:
        await logged(first, event="ami_link_up", timeout=20)
        talking = await call_in("+442079460127", "--queue", "--hang-up-after", "15")
        await logged(first, event="agent_call_answered", caller_uniqueid=talking, agent=ANSWERING)
        joined = datetime.now(UTC)
        waiting = await call_in("+442079460128", "--queue")
        # Two callers' callbacks, as the offer leaves them: one whose caller joined before the caller now waiting,
        # one after.
        ahead = await crash_book.callback(one_agent, "+442079460182", origin=CallbackOrigin.CALLER,
                                          joined_at=joined - timedelta(seconds=5))
        behind = await crash_book.callback(one_agent, "+442079460183", origin=CallbackOrigin.CALLER,
                                           joined_at=datetime.now(UTC))
        await logged(first, event="member_paused", interface=f"PJSIP/agent-{ANSWERING}")
        held = await crash_book.wait_until(behind.id, lambda c: c.reason is Reason.WAITING_FOR_PLACE)
        assert held.state is CallbackState.QUEUED
        first.kill()
        await asyncio.wait_for(first.process.wait(), 10)
        second = await Daemon.start(pbx, database_url)
        await logged(second, event="queue_callers_read", timeout=20)
        # 1001 frees: the callback ahead, then the caller waiting, then the callback behind that caller.
        await logged(second, event="attempt_started", callback_id=str(ahead.id), agent=ANSWERING, timeout=60)
        await logged(second, event="agent_call_answered", caller_uniqueid=waiting, agent=ANSWERING, timeout=60)
        await logged(second, event="attempt_started", callback_id=str(behind.id), agent=ANSWERING, timeout=60)
        assert index_of(second, event="attempt_started", callback_id=str(ahead.id)) \
            < index_of(second, event="agent_call_answered", caller_uniqueid=waiting) \
            < index_of(second, event="attempt_started", callback_id=str(behind.id))
        for callback in (ahead, behind):
            done = await crash_book.wait_until(callback.id, lambda c: c.state is CallbackState.COMPLETED)
            assert done.attempts_count == 1 and len(await crash_book.store.attempts(callback.id)) == 1
    finally:
        first.kill()
        if second is not None:
            assert await second.stop() == 0


async def hang_up(watcher: Events, *uniqueids: str) -> None:
    """Hang those callers up now, if still on the line (a test ends its long callers itself)."""
    for channel in await watcher.link.core_show_channels():
        if channel.uniqueid in uniqueids:
            with contextlib.suppress(TelephonyError):  # gone meanwhile
                await watcher.link.hangup(channel.channel)


async def caller_callbacks(book: Book) -> list[Callback]:
    found = await book.store.search_callbacks(CallbackQuery(queue_id="inbound"), limit=10)
    return [c for c in found if c.origin is CallbackOrigin.CALLER]


@pytest.mark.parametrize("asks", [1, 2])
async def test_a_caller_who_asks_for_a_callback_is_called_back_between_the_callers_before_and_after(
        pbx: dict[str, str], database_url: str, crash_book: Book, one_agent: Queue, watcher: Events,
        asks: int) -> None:
    """Seed 004's callback: three callers wait while the agent is busy; the second asks for a callback (once, or
    twice) and hangs up; the agent then frees up after each call. The queue answers the first caller, the
    callback comes next (before the third caller), and its customer is dialled once."""
    asking = "+442079460113"  # a simulated customer who answers and talks (asterisk/sandbox)
    daemon = await Daemon.start(pbx, database_url)
    talking = first = ""
    try:
        await logged(daemon, event="ami_link_up", timeout=20)
        await logged(daemon, event="agi_listening", timeout=20)
        # Long callers, hung up by the test when the agent is to free up.
        talking = await call_in("+442079460131", "--queue", "--hang-up-after", "300")
        await logged(daemon, event="agent_call_answered", caller_uniqueid=talking, agent=ANSWERING)
        first = await call_in("+442079460132", "--queue", "--hang-up-after", "300")
        for n in range(1, asks + 1):
            second = await call_in(asking, "--queue", "--callback-after", "5")
            await logged(daemon, event="caller_request_stored", uniqueid=second, timeout=90)
            assert len(await caller_callbacks(crash_book)) == 1, f"request {n}"
        third = await call_in("+442079460134", "--queue")
        [callback] = await caller_callbacks(crash_book)
        # The first caller joined earlier and still waits: the callback keeps its place behind them.
        await crash_book.wait_until(callback.id, lambda c: c.reason is Reason.WAITING_FOR_PLACE)
        await hang_up(watcher, talking)
        await logged(daemon, event="agent_call_answered", caller_uniqueid=first, agent=ANSWERING)
        # The first caller has left the queue: the callback's place is reached, and it waits for 1001, paused
        # for it so that the third caller does not get 1001 first. (Nothing paused 1001 before.)
        await logged(daemon, event="member_paused", interface=f"PJSIP/agent-{ANSWERING}")
        await hang_up(watcher, first)
        await logged(daemon, event="attempt_started", callback_id=str(callback.id), agent=ANSWERING)
        await logged(daemon, event="agent_call_answered", caller_uniqueid=third, agent=ANSWERING, timeout=60)
        assert index_of(daemon, event="agent_call_answered", caller_uniqueid=first) \
            < index_of(daemon, event="attempt_started", callback_id=str(callback.id)) \
            < index_of(daemon, event="agent_call_answered", caller_uniqueid=third)
        done = await crash_book.wait_until(callback.id, lambda c: c.state is CallbackState.COMPLETED)
        assert done.attempts_count == 1 and done.destination == asking
        # Dialled from an agent's channel (the callback's); the sandbox's own originates of callers have none.
        dialled = [e for e in watcher.seen if isinstance(e, DialBegin) and asking in e.dial_string
                   and e.channel.startswith("PJSIP/agent-")]
        assert len(dialled) == 1, dialled
        assert [c.id for c in await caller_callbacks(crash_book)] == [callback.id]
    finally:
        await hang_up(watcher, talking, first)
        assert await daemon.stop() == 0
    assert not any(line.get("level") in ("error", "critical") for line in daemon.lines), daemon.tail()


async def test_the_agents_preview_plays_the_callers_recording(
        pbx: dict[str, str], database_url: str, crash_book: Book, one_agent: Queue, watcher: Events) -> None:
    settings = dataclasses.replace(one_agent.settings, preview_mode=PreviewMode.WITH_RECORDING, max_preview_time=2)
    await crash_book.store.save_queue(dataclasses.replace(one_agent, settings=settings))
    daemon = await Daemon.start(pbx, database_url)
    talking = ""
    try:
        await logged(daemon, event="ami_link_up", timeout=20)
        await logged(daemon, event="agi_listening", timeout=20)
        talking = await call_in("+442079460135", "--queue", "--hang-up-after", "300")
        await logged(daemon, event="agent_call_answered", caller_uniqueid=talking, agent=ANSWERING)
        # 5 s of speech: well past the 1.5 s a recording needs to be kept, should the IVR's prompt lag behind
        # the simulated caller's timed keys on a busy machine.
        asking = await call_in("+442079460114", "--queue", "--callback-after", "2", "--record", "5")
        await logged(daemon, event="caller_request_stored", uniqueid=asking, timeout=90)
        [callback] = await caller_callbacks(crash_book)
        assert callback.recording is not None
        await hang_up(watcher, talking)
        started = await logged(daemon, event="attempt_started", callback_id=str(callback.id), agent=ANSWERING)
        attempt = started["attempt_id"]

        def reports() -> list[AttemptReport]:
            return [e for e in watcher.seen if isinstance(e, AttemptReport) and e.attempt_id == attempt]
        # Played on the agent's channel, after the preview began and before the customer is dialled: Playback
        # opened the caller's file (PLAYBACKSTATUS is FAILED for a file it cannot open).
        await watcher.wait_for(lambda e: isinstance(e, AttemptReport) and e.attempt_id == attempt
                               and e.kind == "Dialing", timeout=40)
        kinds = [r.kind for r in reports()]
        assert kinds[:4] == ["AgentAnswered", "Preview", "RecordingPlayed", "Dialing"], kinds
        assert next(r for r in reports() if r.kind == "RecordingPlayed").status == "SUCCESS"
        await logged(daemon, event="recording_played", attempt_id=attempt)
        await crash_book.wait_until(callback.id, lambda c: c.state is CallbackState.COMPLETED)
    finally:
        await hang_up(watcher, talking)
        assert await daemon.stop() == 0
    assert not any(line.get("level") in ("error", "critical") for line in daemon.lines), daemon.tail()


async def test_a_clean_stop_lifts_the_pauses_it_made(
        pbx: dict[str, str], database_url: str, crash_book: Book, one_agent: Queue, watcher: Events) -> None:
    daemon = await Daemon.start(pbx, database_url)
    talking = ""
    interface = f"PJSIP/agent-{ANSWERING}"
    try:
        await logged(daemon, event="ami_link_up", timeout=20)
        talking = await call_in("+442079460136", "--queue", "--hang-up-after", "300")
        await logged(daemon, event="agent_call_answered", caller_uniqueid=talking, agent=ANSWERING)
        await crash_book.callback(one_agent, "+442079460184")  # due, its agent busy: 1001 is paused for it
        await logged(daemon, event="member_paused", interface=interface)
        [member] = await watcher.link.queue_members("cbdialer-sandbox", interface)
        assert member.paused and pausing_node(member.paused_reason) is not None
    finally:
        try:
            assert await daemon.stop() == 0
        finally:
            await hang_up(watcher, talking)
    [member] = await watcher.link.queue_members("cbdialer-sandbox", interface)
    assert not member.paused, member
    assert any(line.get("event") == "member_unpaused" and line.get("interface") == interface
               for line in daemon.lines), daemon.tail()
