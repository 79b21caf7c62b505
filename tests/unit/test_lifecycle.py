"""The lifecycle transition table (docs/design.md section 3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cbdialer.domain.lifecycle import (
    ACTIVE_STATES,
    TERMINAL_STATES,
    TRANSITIONS,
    CallbackState,
    IllegalTransition,
    Reason,
    sources_of,
    transition,
)

S, R = CallbackState, Reason


def test_the_happy_path() -> None:
    state = S.SCHEDULED
    for reason, expected in ((R.DUE, S.QUEUED), (R.DIALING, S.IN_PROGRESS), (R.HANDLED, S.COMPLETED)):
        state = transition(state, reason)
        assert state is expected


def test_requeue_and_failure_paths() -> None:
    assert transition(S.IN_PROGRESS, R.NO_ANSWER) is S.SCHEDULED
    assert transition(S.IN_PROGRESS, R.CANCEL) is S.QUEUED  # back to the queue at once
    assert transition(S.IN_PROGRESS, R.WRONG_DESTINATION) is S.FAILED
    assert transition(S.IN_PROGRESS, R.ATTEMPTS_EXHAUSTED) is S.FAILED
    assert transition(S.QUEUED, R.RESTRICTED_TIME) is S.SCHEDULED
    assert transition(S.SCHEDULED, R.QUEUE_STOPPED) is S.WAITING_FOR_QUEUE
    assert transition(S.WAITING_FOR_QUEUE, R.QUEUE_STARTED) is S.SCHEDULED


def test_a_live_call_is_left_alone_by_people_and_inbound_calls() -> None:
    for reason in (R.INBOUND_CALL, R.CANCELLED, R.PURGED, R.OVERWRITTEN):
        with pytest.raises(IllegalTransition, match="in state in_progress cannot change state"):
            transition(S.IN_PROGRESS, reason)


def test_every_waiting_state_can_end_for_people_and_rules() -> None:
    for state in (S.SCHEDULED, S.QUEUED, S.WAITING_FOR_QUEUE):
        assert transition(state, R.INBOUND_CALL) is S.CANCELLED_BY_INBOUND
        assert transition(state, R.CANCELLED) is S.CANCELLED
        assert transition(state, R.EXPIRED) is S.EXPIRED


def test_sources_of_a_reason() -> None:
    assert sources_of(R.INBOUND_CALL) == {S.SCHEDULED, S.QUEUED, S.WAITING_FOR_QUEUE}
    assert sources_of(R.DIALING) == {S.QUEUED}


def test_states_partition() -> None:
    assert ACTIVE_STATES | TERMINAL_STATES == set(CallbackState)
    assert ACTIVE_STATES == {S.SCHEDULED, S.QUEUED, S.IN_PROGRESS, S.WAITING_FOR_QUEUE}


@given(st.sampled_from(sorted(TERMINAL_STATES)), st.sampled_from(list(Reason)))
def test_nothing_leaves_a_terminal_state(state: CallbackState, reason: Reason) -> None:
    with pytest.raises(IllegalTransition):
        transition(state, reason)


@given(st.lists(st.sampled_from(list(Reason)), max_size=40))
def test_any_walk_through_the_table_stays_in_it(reasons: list[Reason]) -> None:
    state = S.SCHEDULED
    for reason in reasons:
        if (state, reason) in TRANSITIONS:
            new = transition(state, reason)
            assert state not in TERMINAL_STATES
            state = new
        else:
            with pytest.raises(IllegalTransition):
                transition(state, reason)
