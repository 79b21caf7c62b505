"""The dialer end to end: the daemon (scheduler, dialer, AMI) against the sandbox PBX and PostgreSQL, one
test per row of the outcome table, checking the stored status, counted attempts, next due time or end state,
and the audit trail."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cbdialer.adapters.ami import AttemptReport, Newchannel
from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import Attempt, CallbackType, CompletionStatus, InteractionState, PreviewMode
from tests.e2e.conftest import Book, Events, sandbox


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
    queue = await book.queue("q-missed", ["1006"], agent_offer_timeout=2, not_ready_after_missed_offer=True)
    created = await book.callback(queue, "+442079460012")
    done = await book.wait_until(created.id, lambda c: c.reason is Reason.AGENT_MISSED)
    assert done.attempts_count == 0 and done.completion_status is CompletionStatus.CANCEL
    # Not offered again and again: the agent who missed it is set not ready, so the callback is postponed.
    postponed = await book.wait_until(created.id, lambda c: c.reason is Reason.POSTPONED)
    assert postponed.attempts_count == 0
    agent = await book.store.get_agent("1006")
    assert agent is not None and not agent.ready


async def test_a_late_customer_is_no_answer_under_5s_and_handled_under_15s(book: Book) -> None:
    short = await book.queue("q-late-5", ["1001"], duration_for_no_answer=5, recall_intervals=(600,))
    long = await book.queue("q-late-15", ["1002"], duration_for_no_answer=15)
    missed = await book.callback(short, "+442079460075")
    reached = await book.callback(long, "+442079460076")
    first = await book.wait_until(missed.id, lambda c: c.attempts_count == 1)
    assert first.completion_status is CompletionStatus.NO_ANSWER
    second = await book.wait_until(reached.id, lambda c: c.state is CallbackState.COMPLETED, timeout=60)
    assert second.completion_status is CompletionStatus.HANDLED


async def test_a_never_answering_customer_fails_after_exactly_three_dials(book: Book, watcher: Events) -> None:
    queue = await book.queue("q-three", ["1003"], duration_for_no_answer=3, recall_intervals=(2,),
                             attempts_before_failure=3)
    created = await book.callback(queue, "+442079460038")
    done = await book.wait_until(created.id, lambda c: c.state is CallbackState.FAILED, timeout=60)
    assert (done.reason, done.attempts_count) == (Reason.ATTEMPTS_EXHAUSTED, 3)
    customer_legs = [e for e in watcher.seen if isinstance(e, Newchannel)
                     and e.channel.startswith("Local/+442079460038@cbdialer-sim-customers") and e.channel.endswith(";1")]
    assert len(customer_legs) == 3
    attempts = await book.store.attempts(created.id)
    assert [a.dial_status for a in attempts] == ["NOANSWER"] * 3


async def test_calling_in_cancels_the_contacts_pending_callback(book: Book) -> None:
    queue = await book.queue("q-inbound", ["1001"])
    later = datetime.now(UTC) + timedelta(hours=1)
    pending = await book.callback(queue, "+442079460019", due_at=later, start_at=later,
                                  end_at=later + timedelta(hours=1))
    result = await asyncio.to_thread(sandbox, "call-in", "+442079460019")
    assert result.returncode == 0, result.stderr
    done = await book.wait_until(pending.id, lambda c: c.state is not CallbackState.SCHEDULED)
    assert (done.state, done.reason) == (CallbackState.CANCELLED_BY_INBOUND, Reason.INBOUND_CALL)


async def test_an_agent_callback_whose_agent_is_logged_off_goes_to_another_agent(book: Book) -> None:
    queue = await book.queue("q-agent", ["1007", "1002"])  # 1007 has no phone: logged off
    created = await book.callback(queue, "+442079460081", type=CallbackType.AGENT, agent_id="1007")
    done = await book.wait_until(created.id, lambda c: c.state is CallbackState.COMPLETED)
    [attempt] = await book.store.attempts(created.id)
    assert (done.completion_status, attempt.agent_id) == (CompletionStatus.HANDLED, "1002")


async def test_a_strict_agent_callback_waits_for_its_busy_agent(book: Book) -> None:
    queue = await book.queue("q-strict", ["1004", "1001"])
    talking = await book.callback(queue, "+442079460014", type=CallbackType.AGENT, agent_id="1004")
    await book.wait_until(talking.id, lambda c: c.state is CallbackState.IN_PROGRESS)
    strict = await book.callback(queue, "+442079460082", type=CallbackType.STRICT_AGENT, agent_id="1004")
    done = await book.wait_until(strict.id, lambda c: c.state is CallbackState.COMPLETED, timeout=60)
    [first] = await book.store.attempts(talking.id)
    [second] = await book.store.attempts(strict.id)
    assert (first.agent_id, second.agent_id) == ("1004", "1004")  # 1001 was idle all along, and never used
    assert first.ended_at is not None and second.started_at >= first.ended_at
    assert done.completion_status is CompletionStatus.HANDLED and done.strict_retries == 0


async def test_preview_lets_the_agent_hear_the_callback_before_the_customer_is_dialled(
    book: Book, watcher: Events
) -> None:
    queue = await book.queue("q-preview", ["1001"], preview_mode=PreviewMode.ALWAYS, max_preview_time=2)
    created = await book.callback(queue, "+442079460089")
    done = await book.wait_until(created.id, lambda c: c.state is CallbackState.COMPLETED)
    [attempt] = await book.store.attempts(created.id)
    kinds = [e.kind for e in watcher.seen if isinstance(e, AttemptReport) and e.attempt_id == str(attempt.id)]
    assert kinds[:3] == ["AgentAnswered", "Preview", "Dialing"]
    assert done.completion_status is CompletionStatus.HANDLED


async def test_callbacks_for_a_busy_agent_wait_in_its_own_queue_up_to_the_cap(book: Book) -> None:
    # POM: "Number of Callbacks in Queue" = 2 here. Agent 1004 talks; three agent callbacks for it mature:
    # two wait in its queue, the third becomes a standard callback and goes to the idle 1001.
    queue = await book.queue("q-cap", ["1004", "1001"], callbacks_in_agent_queue=2)
    talking = await book.callback(queue, "+442079460015", type=CallbackType.AGENT, agent_id="1004")
    await book.wait_until(talking.id, lambda c: c.state is CallbackState.IN_PROGRESS)
    later = [await book.callback(queue, f"+44207946008{i}", type=CallbackType.AGENT, agent_id="1004")
             for i in (3, 4, 5)]
    finished = [await book.wait_until(c.id, lambda c: c.state is CallbackState.COMPLETED, timeout=90) for c in later]
    agents = [(await book.store.attempts(c.id))[0].agent_id for c in finished]
    assert sorted(agents) == ["1001", "1004", "1004"]


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CBDIALER_DATABASE_URL": database_url}
    return subprocess.run([str(Path(sys.executable).with_name("cbdialer")), *args], env=env, capture_output=True,
                          text=True, timeout=60)


async def test_the_agents_disposition_in_wrap_up_overrides_the_line(book: Book) -> None:
    queue = await book.queue("q-dispose", ["1001"], wrap_up_time=4)
    created = await book.callback(queue, "+442079460091")  # answers, hangs up after 2 s: handled on the line
    await book.wait_for_attempt(created.id, lambda a: a.interaction_state is InteractionState.WRAP_UP)
    result = await asyncio.to_thread(cli, book.url, "disposition", str(created.id), "callback_requested",
                                     "--start-in", "2h")
    assert result.returncode == 0, result.stderr
    done = await book.wait_until(created.id, lambda c: c.state is not CallbackState.IN_PROGRESS)
    [attempt] = await book.store.attempts(created.id)
    assert attempt.ended_at is not None
    assert (done.state, done.reason, done.completion_status, done.attempts_count) == (
        CallbackState.SCHEDULED, Reason.CALLBACK_REQUESTED, CompletionStatus.CALLBACK_REQUESTED, 0)
    assert timedelta(hours=2) - timedelta(seconds=30) < done.due_at - attempt.ended_at <= timedelta(hours=2)
    assert done.end_at > done.due_at
    # Outside wrap-up there is nothing to dispose of; a bad status is refused by name.
    late = await asyncio.to_thread(cli, book.url, "disposition", str(created.id), "handled")
    assert late.returncode == 2 and "has no call in wrap-up" in late.stderr
    bad = await asyncio.to_thread(cli, book.url, "disposition", "not-an-id", "handled")
    assert bad.returncode == 2 and "callback_id" in bad.stderr


async def pace(book: Book, queue_id: str, numbers: tuple[str, ...], **settings: object) -> list[Attempt]:
    queue = await book.queue(queue_id, ["1001", "1002", "1003"], **settings)
    created = [await book.callback(queue, number) for number in numbers]  # each call lasts about 3 s
    for callback in created:
        await book.wait_until(callback.id, lambda c: c.state is CallbackState.COMPLETED, timeout=60)
    attempts = sorted([a for c in created for a in await book.store.attempts(c.id)], key=lambda a: a.started_at)
    assert len(attempts) == len(numbers)
    return attempts


async def test_pacing_never_exceeds_max_concurrent_calls(book: Book) -> None:
    attempts = await pace(book, "q-concurrent", ("+442079460092", "+442079460093", "+442079460094"),
                          max_concurrent_calls=1, calls_per_second=50)
    for earlier, later in zip(attempts, attempts[1:]):
        assert earlier.ended_at is not None and later.started_at >= earlier.ended_at  # one call at a time


async def test_pacing_never_exceeds_calls_per_second(book: Book) -> None:
    attempts = await pace(book, "q-rate", ("+442079460095", "+442079460096", "+442079460097"),
                          max_concurrent_calls=10, calls_per_second=0.5)
    for earlier, later in zip(attempts, attempts[1:]):
        assert later.started_at - earlier.started_at >= timedelta(seconds=1.9)  # 0.5 per second
