"""Callers who ask for a callback from the Asterisk queue (docs/design.md section 14), against the sandbox PBX:
`deploy/sandbox call-in NUMBER --queue --callback-after S` presses the offer key in the queue cbdialer-sandbox,
reaches `cbdialer run`'s IVR (FastAGI) and keys its way through it. The queue's members are paused meanwhile, so
that the callers wait. Everything waits for events (the daemon's log lines, AMI events), never for time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cbdialer.adapters.db import Database
from cbdialer.domain.access import COMMAND_LINE, Role
from cbdialer.domain.models import CallbackOrigin, Queue, QueueSettings, Schedule, SlotCapacity
from cbdialer.domain.timing import contact_zone, open_within
from cbdialer.ports import CallbackQuery
from cbdialer.ports.telephony import QueueCallerJoined, TelephonyError
from cbdialer.services import Admin
from tests.e2e.conftest import Events, sandbox
from tests.support.daemon import Daemon

pytestmark = pytest.mark.e2e

MEMBERS = ("1001", "1002", "1003", "1004")
QUEUE = "cbdialer-sandbox"
PAUSE_REASON = "cbdialer-e2e-caller-offer"
IVR_TIMEOUT = 90  # the offer key after S s, then about 15 s of prompts and keys


def asterisk(command: str) -> None:
    result = sandbox("cli", command, timeout=10)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def paused(pbx: dict[str, str]) -> Any:
    """The queue's members paused, so that callers wait (and can press the offer key); unpaused after."""
    for member in MEMBERS:
        asterisk(f"queue pause member PJSIP/agent-{member} queue {QUEUE} reason {PAUSE_REASON}")
    yield
    for member in MEMBERS:
        asterisk(f"queue unpause member PJSIP/agent-{member} queue {QUEUE} reason {PAUSE_REASON}")


@pytest.fixture
async def daemon(pbx: dict[str, str], database_url: str, paused: Any) -> AsyncIterator[Daemon]:
    started = await Daemon.start(pbx, database_url)
    try:
        await started.wait_for_log(lambda line: line.get("event") == "agi_listening", timeout=20)
        yield started
    finally:
        await started.stop()


async def inbound(database_url: str, **settings: Any) -> tuple[Database, Queue]:
    db = await Database.connect(database_url)
    queue = Queue(id="inbound", name="Inbound", settings=QueueSettings(asterisk_queue=QUEUE.upper(), **settings))
    await db.store().save_queue(queue)
    return db, queue


async def call_in(*args: str) -> str:
    result = await asyncio.to_thread(sandbox, "call-in", *args, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


async def stored(daemon: Daemon, uniqueid: str, count: int = 1) -> dict[str, Any]:
    """The daemon's `caller_request_stored` line for that caller (the `count`-th one)."""
    def match(line: dict[str, Any]) -> bool:
        return line.get("event") == "caller_request_stored" and line.get("uniqueid") == uniqueid
    await daemon.wait_for_log(match, timeout=IVR_TIMEOUT)
    return [line for line in daemon.lines if match(line)][count - 1]


async def callers(db: Database, queue_id: str = "inbound") -> list[Any]:
    found = await db.store().search_callbacks(CallbackQuery(queue_id=queue_id), limit=50)
    return [c for c in found if c.origin is CallbackOrigin.CALLER]


async def test_a_caller_asks_for_a_callback_keeping_its_place(database_url: str, daemon: Daemon) -> None:
    db, _ = await inbound(database_url)
    try:
        before = datetime.now(UTC)
        uniqueid = await call_in("+442079460012", "--queue", "--callback-after", "3")
        after = datetime.now(UTC)
        line = await stored(daemon, uniqueid)
        (callback,) = await callers(db)
        assert str(callback.id) == line["callback_id"]
        assert callback.destination == "+442079460012"
        assert callback.slot is None and callback.recording is None and callback.remark == "Asked in the IVR"
        assert callback.joined_at is not None
        assert before - timedelta(seconds=1) <= callback.joined_at <= after + timedelta(seconds=1)
    finally:
        await db.close()


async def test_the_same_caller_asking_twice_has_one_pending_callback(database_url: str, daemon: Daemon) -> None:
    db, _ = await inbound(database_url)
    try:
        first = await call_in("+442079460014", "--queue", "--callback-after", "2")
        await stored(daemon, first)
        second = await call_in("+442079460014", "--queue", "--callback-after", "2")
        await stored(daemon, second)
        pending = [c for c in await callers(db) if c.state.value in ("scheduled", "queued", "waiting_for_queue")]
        assert len(pending) == 1
    finally:
        await db.close()


async def test_a_caller_picks_the_first_free_slot(database_url: str, daemon: Daemon) -> None:
    every_day = tuple(SlotCapacity(weekday=d, start=time(0, 0), end=time.max, capacity=2) for d in range(7))
    db, queue = await inbound(database_url, slot_capacity=every_day, schedule=Schedule(timezone="UTC"))
    try:
        now = datetime.now(UTC)
        admin = Admin(db.store(), lambda: datetime.now(UTC))
        listed = await admin.callbacks.slots(COMMAND_LINE, queue.id, now, now + timedelta(days=1))
        # The first with room that the caller can be called in (the UK number's calling window open).
        zone = contact_zone("+442079460015", customer_timezone=None, queue_timezone="UTC")
        first_free = next(s for s, booked in listed if s.start > now and booked < s.capacity
                          and open_within(s.start, s.end, queue.settings, zone))
        uniqueid = await call_in("+442079460015", "--queue", "--callback-after", "2", "--slot", "1")
        await stored(daemon, uniqueid)
        (callback,) = await callers(db)
        assert callback.slot == first_free.start
    finally:
        await db.close()


async def test_a_withheld_caller_keys_a_number_in(database_url: str, daemon: Daemon) -> None:
    db, _ = await inbound(database_url)
    try:
        uniqueid = await call_in("withheld", "--queue", "--callback-after", "2", "--key-number", "442079460016")
        await stored(daemon, uniqueid)
        (callback,) = await callers(db)
        assert callback.destination == "+442079460016"
    finally:
        await db.close()


async def test_a_caller_records_a_reason(pbx: dict[str, str], database_url: str, daemon: Daemon) -> None:
    db, _ = await inbound(database_url)
    try:
        uniqueid = await call_in("+442079460017", "--queue", "--callback-after", "2", "--record", "3")
        await stored(daemon, uniqueid)
        (callback,) = await callers(db)
        assert callback.recording is not None
        wav = Path(pbx["CBDIALER_RECORDINGS_DIR"]) / (Path(callback.recording).name + ".wav")
        assert wav.stat().st_size > 8000  # more than the header: a second and more of speech
        admin = Admin(db.store(), lambda: datetime.now(UTC))
        token = await admin.tokens.issue_token(Role.SUPERVISOR)
        listening = await daemon.wait_for_log(lambda line: line.get("event") == "admin_api_listening", timeout=20)
        base = f"http://127.0.0.1:{listening['port']}"
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
            async with session.get(f"{base}/api/v1/callbacks/{callback.id}") as response:
                url = (await response.json())["recording"]
            assert url == f"/api/v1/callbacks/{callback.id}/recording"
            async with session.get(base + url) as response:
                assert response.status == 200
                assert response.content_type == "audio/wav"
                body = await response.read()
        assert body[:4] == b"RIFF" and body == wav.read_bytes()
    finally:
        await db.close()


async def test_past_the_limit_the_caller_goes_back_into_the_queue(database_url: str, daemon: Daemon,
                                                                   watcher: Events) -> None:
    db, _ = await inbound(database_url, max_caller_callbacks=0)
    uniqueid = ""
    try:
        uniqueid = await call_in("+442079460018", "--queue", "--callback-after", "2", "--hang-up-after", "40")
        refused = await daemon.wait_for_log(lambda line: line.get("event") == "caller_request_refused"
                                            and line.get("uniqueid") == uniqueid, timeout=IVR_TIMEOUT)
        assert refused["why"] == "max_caller_callbacks"

        def joins() -> int:
            return sum(1 for e in watcher.seen if isinstance(e, QueueCallerJoined) and e.uniqueid == uniqueid)

        # The watcher saw the first join; the dialplan's way back (Queue at QUEUEPOSITION) is the second.
        await watcher.wait_for(lambda e: joins() >= 2, timeout=30)
        assert await callers(db) == []
    finally:
        await db.close()
        for channel in await watcher.link.core_show_channels():  # the caller waits on: not into the next test
            if channel.uniqueid == uniqueid:
                with contextlib.suppress(TelephonyError):  # gone meanwhile
                    await watcher.link.hangup(channel.channel)
