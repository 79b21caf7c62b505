"""The dialer end to end: the daemon (scheduler, dialer, AMI) against the sandbox PBX and PostgreSQL, one
test per row of the outcome table, checking the stored status, counted attempts, next due time or end state,
and the audit trail."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, time, timedelta

import asyncpg
import pytest

from cbdialer.adapters.ami import AmiLink, Newchannel
from cbdialer.adapters.db import Database
from cbdialer.app import run_daemon
from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import (
    Agent,
    Callback,
    CallbackType,
    CallingWindow,
    CompletionStatus,
    Queue,
    QueueSettings,
    Schedule,
)
from cbdialer.settings import Settings
from tests.e2e.conftest import Events, ami_config, sandbox

SETTINGS = QueueSettings(
    duration_for_no_answer=5, attempts_before_failure=3, recall_intervals=(2,), retry_interval=5,
    network_failure_delay=3, agent_offer_timeout=5, wrap_up_time=0, amd=True,
    calling_window=CallingWindow(time(0, 0), time.max), schedule=Schedule(), apply_dnc=True,
    max_concurrent_calls=5, calls_per_second=5)


class Book:
    """The daemon's database, seen from the test: set things up, then wait for what the daemon does."""

    def __init__(self, db: Database, url: str) -> None:
        self.db = db
        self.store = db.store()
        self.url = url
        self.changed = asyncio.Event()

    async def queue(self, queue_id: str, agents: list[str], **settings: object) -> Queue:
        queue = Queue(id=queue_id, name=queue_id, settings=dataclasses.replace(SETTINGS, **settings))
        await self.store.save_queue(queue)
        for agent in agents:
            await self.store.upsert_agent(Agent(id=agent, dial_string=f"PJSIP/agent-{agent}",
                                                queues=frozenset({queue_id})))
        return queue

    async def callback(self, queue: Queue, number: str, **changes: object) -> Callback:
        now = datetime.now(UTC)
        values: dict[str, object] = dict(
            id=uuid.uuid4(), queue_id=queue.id, destination=number, type=CallbackType.STANDARD,
            state=CallbackState.SCHEDULED, due_at=now, start_at=now, end_at=now + timedelta(hours=1), created_at=now)
        values.update(changes)
        return await self.store.add_callback(Callback(**values), actor="test")  # type: ignore[arg-type]

    async def wait_until(self, callback_id: uuid.UUID, done: Callable[[Callback], bool],
                         timeout: float = 40) -> Callback:
        async with asyncio.timeout(timeout):
            while True:
                self.changed.clear()
                callback = await self.store.get_callback(callback_id)
                assert callback is not None
                if done(callback):
                    return callback
                await self.changed.wait()

    async def trail(self, callback_id: uuid.UUID) -> list[tuple[str | None, str, str]]:
        return [(h.from_state.value if h.from_state else None, h.to_state.value, h.reason.value)
                for h in await self.store.history(callback_id)]


@pytest.fixture
async def book(pbx: dict[str, str], database_url: str) -> AsyncIterator[Book]:
    settings = Settings(database_url=database_url, ami_host=pbx["CBDIALER_AMI_HOST"],
                        ami_port=int(pbx["CBDIALER_AMI_PORT"]), ami_username=pbx["CBDIALER_AMI_USERNAME"],
                        ami_secret=pbx["CBDIALER_AMI_SECRET"])
    db = await Database.connect(database_url)
    result = Book(db, database_url)
    listener = await asyncpg.connect(database_url)
    await listener.add_listener("cbdialer_changed", lambda *_: result.changed.set())
    stop = asyncio.Event()
    daemon = asyncio.create_task(run_daemon(settings, stop), name="daemon")
    try:
        yield result
    finally:
        stop.set()
        await asyncio.wait_for(daemon, 15)
        await listener.close()
        await db.close()


def ended(callback: Callback) -> bool:
    return callback.state not in (CallbackState.SCHEDULED, CallbackState.QUEUED, CallbackState.IN_PROGRESS) or (
        callback.state is CallbackState.SCHEDULED and callback.reason is not Reason.CREATED)


async def test_handled(book: Book) -> None:
    queue = await book.queue("q-handled", ["1001"])
    created = await book.callback(queue, "+442079460012")
    done = await book.wait_until(created.id, lambda c: c.state is CallbackState.COMPLETED)
    assert (done.completion_status, done.attempts_count, done.reason) == (CompletionStatus.HANDLED, 1, Reason.HANDLED)
    assert await book.trail(created.id) == [
        (None, "scheduled", "created"), ("scheduled", "queued", "due"), ("queued", "in_progress", "dialing"),
        ("in_progress", "completed", "handled")]
    [attempt] = await book.store.attempts(created.id)
    assert (attempt.agent_id, attempt.dial_status, attempt.amd_status, attempt.counted) == (
        "1001", "ANSWER", "HUMAN", True)


@pytest.mark.parametrize(("number", "status", "reason"), [
    ("+442079460045", CompletionStatus.BUSY, Reason.BUSY),
    ("+442079460024", CompletionStatus.ANSWERING_MACHINE, Reason.ANSWERING_MACHINE),
    ("+442079460033", CompletionStatus.NO_ANSWER, Reason.NO_ANSWER),
])
async def test_counted_outcomes_are_requeued_after_the_recall_interval(
    book: Book, number: str, status: CompletionStatus, reason: Reason
) -> None:
    queue = await book.queue("q-requeue", ["1001"], attempts_before_failure=5, recall_intervals=(600,))
    created = await book.callback(queue, number)
    done = await book.wait_until(created.id, lambda c: c.attempts_count == 1 and c.state is CallbackState.SCHEDULED)
    assert (done.completion_status, done.reason) == (status, reason)
    [attempt] = await book.store.attempts(created.id)
    assert attempt.ended_at is not None
    assert timedelta(seconds=599) <= done.due_at - attempt.ended_at <= timedelta(seconds=601)


async def test_wrong_destination_fails_at_once(book: Book) -> None:
    queue = await book.queue("q-wrong", ["1002"])
    created = await book.callback(queue, "+442079460051")
    done = await book.wait_until(created.id, lambda c: c.state is CallbackState.FAILED)
    assert (done.completion_status, done.reason, done.attempts_count) == (
        CompletionStatus.WRONG_DESTINATION, Reason.WRONG_DESTINATION, 1)


async def test_network_failure_is_retried_soon_and_not_counted(book: Book) -> None:
    queue = await book.queue("q-network", ["1002"], network_failure_delay=600)
    created = await book.callback(queue, "+442079460066")
    done = await book.wait_until(created.id, lambda c: c.reason is Reason.NETWORK_FAILURE)
    assert (done.state, done.completion_status, done.attempts_count) == (
        CallbackState.SCHEDULED, CompletionStatus.NETWORK_FAILURE, 0)


async def test_an_agent_who_hangs_up_first_sends_it_back_to_the_queue(book: Book) -> None:
    queue = await book.queue("q-cancel", ["1008"], duration_for_no_answer=30)
    created = await book.callback(queue, "+442079460030")
    done = await book.wait_until(created.id, lambda c: c.completion_status is CompletionStatus.CANCEL)
    assert done.attempts_count == 0 and done.reason is Reason.CANCEL


async def test_an_agent_who_does_not_answer_sends_it_back_uncounted(book: Book) -> None:
    queue = await book.queue("q-missed", ["1006"], agent_offer_timeout=2)
    created = await book.callback(queue, "+442079460012")
    done = await book.wait_until(created.id, lambda c: c.reason is Reason.AGENT_MISSED)
    assert done.attempts_count == 0 and done.completion_status is CompletionStatus.CANCEL


async def test_a_late_customer_is_no_answer_under_5s_and_handled_under_15s(book: Book) -> None:
    short = await book.queue("q-late-5", ["1001"], duration_for_no_answer=5, recall_intervals=(600,))
    long = await book.queue("q-late-15", ["1002"], duration_for_no_answer=15)
    missed = await book.callback(short, "+442079460075")
    reached = await book.callback(long, "+442079460076")
    first = await book.wait_until(missed.id, lambda c: c.attempts_count == 1)
    assert first.completion_status is CompletionStatus.NO_ANSWER
    second = await book.wait_until(reached.id, lambda c: c.state is CallbackState.COMPLETED, timeout=60)
    assert second.completion_status is CompletionStatus.HANDLED


async def test_a_never_answering_customer_fails_after_exactly_three_dials(book: Book, pbx: dict[str, str]) -> None:
    link = AmiLink(ami_config(pbx))
    events = Events(link)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(link.run(stop)), asyncio.create_task(events.pump())]
    try:
        await link.wait_connected(10)
        queue = await book.queue("q-three", ["1003"], duration_for_no_answer=3, recall_intervals=(2,),
                                 attempts_before_failure=3)
        created = await book.callback(queue, "+442079460038")
        done = await book.wait_until(created.id, lambda c: c.state is CallbackState.FAILED, timeout=60)
        assert (done.reason, done.attempts_count) == (Reason.ATTEMPTS_EXHAUSTED, 3)
        customer_legs = [e for e in events.seen if isinstance(e, Newchannel)
                         and e.channel.startswith("Local/+442079460038@cbdialer-sim-customers") and e.channel.endswith(";1")]
        assert len(customer_legs) == 3
        attempts = await book.store.attempts(created.id)
        assert [a.dial_status for a in attempts] == ["NOANSWER"] * 3
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_calling_in_cancels_the_contacts_pending_callback(book: Book) -> None:
    queue = await book.queue("q-inbound", ["1001"])
    later = datetime.now(UTC) + timedelta(hours=1)
    pending = await book.callback(queue, "+442079460019", due_at=later, start_at=later,
                                  end_at=later + timedelta(hours=1))
    result = await asyncio.to_thread(sandbox, "call-in", "+442079460019")
    assert result.returncode == 0, result.stderr
    done = await book.wait_until(pending.id, lambda c: c.state is not CallbackState.SCHEDULED)
    assert (done.state, done.reason) == (CallbackState.CANCELLED_BY_INBOUND, Reason.INBOUND_CALL)
