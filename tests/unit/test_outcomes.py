"""The outcome table (docs/design.md section 6): every row, dispositions, and the counting rules."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import Callback, CallbackType, CompletionStatus, InvalidValue, QueueSettings
from cbdialer.domain.outcomes import (
    LineReport,
    after_attempt,
    after_disposition,
    after_unknown_outcome,
    classify,
)

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
SETTINGS = QueueSettings(attempts_before_failure=3, recall_intervals=(60, 600), network_failure_delay=30,
                         max_network_failures=2)
C = CompletionStatus


def in_progress(**changes: object) -> Callback:
    values: dict[str, object] = dict(
        id=uuid.uuid4(), queue_id="sales", destination="+442079460012", type=CallbackType.STANDARD,
        state=CallbackState.IN_PROGRESS, due_at=NOW, start_at=NOW - timedelta(hours=1),
        end_at=NOW + timedelta(hours=4), created_at=NOW - timedelta(hours=2))
    values.update(changes)
    return Callback(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("report", "status"), [
    (LineReport("ANSWER", 16, ""), C.HANDLED),
    (LineReport("ANSWER", 16, "HUMAN"), C.HANDLED),
    (LineReport("ANSWER", 16, "NOTSURE"), C.HANDLED),
    (LineReport("ANSWER", 16, "MACHINE"), C.ANSWERING_MACHINE),
    (LineReport("NOANSWER", 0, ""), C.NO_ANSWER),
    (LineReport("", 0, "", timed_out=True), C.NO_ANSWER),
    (LineReport("BUSY", 17, ""), C.BUSY),
    (LineReport("CHANUNAVAIL", 1, ""), C.WRONG_DESTINATION),
    (LineReport("CONGESTION", 3, ""), C.WRONG_DESTINATION),
    (LineReport("CHANUNAVAIL", 22, ""), C.WRONG_DESTINATION),
    (LineReport("CHANUNAVAIL", 28, ""), C.WRONG_DESTINATION),
    (LineReport("CONGESTION", 34, ""), C.NETWORK_FAILURE),
    (LineReport("CHANUNAVAIL", 38, ""), C.NETWORK_FAILURE),
    (LineReport("CANCEL", 16, ""), C.CANCEL),
])
def test_classify_every_row(report: LineReport, status: CompletionStatus) -> None:
    assert classify(report) is status


def test_handled_completes_and_counts() -> None:
    step = after_attempt(in_progress(), SETTINGS, C.HANDLED, now=NOW)
    assert (step.state, step.reason, step.counted, step.attempts_count, step.due_at) == (
        CallbackState.COMPLETED, Reason.HANDLED, True, 1, None)


@pytest.mark.parametrize("status", [C.NO_ANSWER, C.BUSY, C.ANSWERING_MACHINE])
def test_counted_outcomes_requeue_after_the_recall_interval(status: CompletionStatus) -> None:
    first = after_attempt(in_progress(), SETTINGS, status, now=NOW)
    assert (first.state, first.counted, first.attempts_count, first.due_at) == (
        CallbackState.SCHEDULED, True, 1, NOW + timedelta(seconds=60))
    second = after_attempt(in_progress(attempts_count=1), SETTINGS, status, now=NOW)
    assert second.due_at == NOW + timedelta(seconds=600)
    last = after_attempt(in_progress(attempts_count=2), SETTINGS, status, now=NOW)
    assert (last.state, last.reason, last.attempts_count) == (CallbackState.FAILED, Reason.ATTEMPTS_EXHAUSTED, 3)


def test_wrong_destination_fails_at_once() -> None:
    step = after_attempt(in_progress(), SETTINGS, C.WRONG_DESTINATION, now=NOW)
    assert (step.state, step.reason, step.counted) == (CallbackState.FAILED, Reason.WRONG_DESTINATION, True)


def test_network_failure_is_retried_soon_uncounted_and_bounded() -> None:
    first = after_attempt(in_progress(), SETTINGS, C.NETWORK_FAILURE, now=NOW)
    assert (first.state, first.counted, first.attempts_count, first.network_failures, first.due_at) == (
        CallbackState.SCHEDULED, False, 0, 1, NOW + timedelta(seconds=30))
    third = after_attempt(in_progress(network_failures=2), SETTINGS, C.NETWORK_FAILURE, now=NOW)
    assert (third.counted, third.attempts_count, third.due_at) == (True, 1, NOW + timedelta(seconds=60))


def test_cancel_goes_back_to_the_queue_at_once_uncounted() -> None:
    step = after_attempt(in_progress(attempts_count=1), SETTINGS, C.CANCEL, now=NOW)
    assert (step.state, step.reason, step.counted, step.attempts_count, step.due_at) == (
        CallbackState.QUEUED, Reason.CANCEL, False, 1, NOW)
    missed = after_attempt(in_progress(), SETTINGS, C.CANCEL, now=NOW, agent_missed=True)
    assert missed.reason is Reason.AGENT_MISSED


def test_a_recall_after_the_end_expires_now() -> None:
    step = after_attempt(in_progress(end_at=NOW + timedelta(seconds=30)), SETTINGS, C.BUSY, now=NOW)
    assert (step.state, step.reason, step.due_at, step.attempts_count) == (
        CallbackState.EXPIRED, Reason.EXPIRED, None, 1)


def test_an_unknown_outcome_counts_and_waits_the_recall_interval() -> None:
    step = after_unknown_outcome(in_progress(), SETTINGS, now=NOW)
    assert (step.state, step.reason, step.counted, step.due_at) == (
        CallbackState.SCHEDULED, Reason.OUTCOME_UNKNOWN, True, NOW + timedelta(seconds=60))


def test_dispositions_override_the_line() -> None:
    voicemail = after_disposition(in_progress(), SETTINGS, C.ANSWERING_MACHINE, now=NOW)
    assert (voicemail.state, voicemail.status) == (CallbackState.SCHEDULED, C.ANSWERING_MACHINE)
    later = NOW + timedelta(days=1)
    requested = after_disposition(in_progress(), SETTINGS, C.CALLBACK_REQUESTED, now=NOW, new_start=later)
    assert (requested.state, requested.due_at, requested.counted) == (CallbackState.SCHEDULED, later, False)
    assert requested.end_at == later + timedelta(seconds=SETTINGS.default_end_offset)
    with pytest.raises(InvalidValue, match="start_at"):
        after_disposition(in_progress(), SETTINGS, C.CALLBACK_REQUESTED, now=NOW, new_start=NOW)
    with pytest.raises(InvalidValue, match="disposition"):
        after_disposition(in_progress(), SETTINGS, C.BUSY, now=NOW)


def test_outcomes_apply_only_to_live_attempts() -> None:
    with pytest.raises(InvalidValue, match="state"):
        after_attempt(dataclasses.replace(in_progress(), state=CallbackState.QUEUED), SETTINGS, C.HANDLED, now=NOW)


@given(st.integers(1, 6), st.lists(st.sampled_from([C.NO_ANSWER, C.BUSY, C.ANSWERING_MACHINE, C.NETWORK_FAILURE,
                                                    C.CANCEL]), min_size=1, max_size=30))
def test_counted_attempts_never_exceed_attempts_before_failure(limit: int, outcomes: list[CompletionStatus]) -> None:
    settings = dataclasses.replace(SETTINGS, attempts_before_failure=limit)
    callback = in_progress(end_at=NOW + timedelta(days=365))
    for status in outcomes:
        step = after_attempt(callback, settings, status, now=NOW)
        assert step.attempts_count <= limit
        if step.state is not CallbackState.SCHEDULED and step.state is not CallbackState.QUEUED:
            assert step.state is CallbackState.FAILED and step.attempts_count == limit
            break
        callback = dataclasses.replace(callback, attempts_count=step.attempts_count,
                                       network_failures=step.network_failures)
