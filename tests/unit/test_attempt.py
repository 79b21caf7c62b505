"""The attempt's transition table (domain/attempt.py): every window of a fault named in the issue on faults is
a move of this table, tested here without any I/O."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, time, timedelta

import pytest

from cbdialer.domain.attempt import (
    EVENTS,
    FOREVER,
    MOVES,
    AgentAnswered,
    Call,
    CloseWrapUp,
    Closing,
    DeadlinePassed,
    DispositionRefused,
    Finish,
    HangUp,
    IllegalMove,
    LineChecked,
    NotDialled,
    OfferMissed,
    Progressed,
    RecordResult,
    ResultHeard,
    SetAgentNotReady,
    StoreState,
    WrapUpClosed,
    advance,
    closing,
    latest_dial,
    offered,
    parse_kept_result,
    taken_over,
)
from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import (
    Callback,
    CallbackType,
    CallingWindow,
    CompletionStatus,
    InteractionState,
    PreviewMode,
    QueueSettings,
)
from cbdialer.domain.outcomes import LineReport

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(seconds=5)
S = InteractionState
SETTINGS = QueueSettings(duration_for_no_answer=20, agent_offer_timeout=15, wrap_up_time=30,
                         recall_intervals=(600,), calling_window=CallingWindow(time(8), time(21)))


def callback(**changes: object) -> Callback:
    values: dict[str, object] = dict(
        id=uuid.uuid4(), queue_id="q", destination="+442079460012", type=CallbackType.STANDARD,
        state=CallbackState.IN_PROGRESS, due_at=NOW, start_at=NOW, end_at=NOW + timedelta(hours=5), created_at=NOW,
        customer_timezone="Europe/London")
    values.update(changes)
    return Callback(**values)  # type: ignore[arg-type]


def call(state: InteractionState = S.OFFERED, settings: QueueSettings = SETTINGS, **changes: object) -> Call:
    fresh = offered(uuid.uuid4(), callback(**changes), settings, now=NOW, grace=GRACE)
    return Call(fresh.id, fresh.callback, settings, state, fresh.deadline, GRACE, channel="PJSIP/agent-1001-0001")


def run(start: Call, *events: object, at: datetime = NOW) -> tuple[Call, list[object]]:
    effects: list[object] = []
    current = start
    for event in events:
        current, more = advance(current, event, now=at)  # type: ignore[arg-type]
        effects.extend(more)
    return current, effects


def finish_of(effects: list[object]) -> Finish:
    (done,) = [e for e in effects if isinstance(e, Finish)]
    return done


ANSWERED = LineReport("ANSWER", 16, "")


def test_the_table_only_moves_forward_and_ended_accepts_nothing() -> None:
    order = list(MOVES)
    for state, targets in MOVES.items():
        assert all(order.index(t) >= order.index(state) for t in targets)
    assert MOVES[S.ENDED] == frozenset() and EVENTS[S.ENDED] == frozenset()
    with pytest.raises(IllegalMove):
        advance(call(S.ENDED), DeadlinePassed(), now=NOW)
    with pytest.raises(IllegalMove):
        advance(call(S.HANDLING), OfferMissed(), now=NOW)  # the agent answered long ago
    with pytest.raises(IllegalMove):
        advance(call(S.HANDLING), WrapUpClosed(), now=NOW)


def test_a_handled_result_is_recorded_at_once_and_wrap_up_delays_only_the_callback() -> None:
    """Window 1: the line's result used to live in memory during wrap-up."""
    live, effects = run(call(S.HANDLING), ResultHeard(ANSWERED, NOW))
    assert live.state is S.WRAP_UP and live.deadline == NOW + timedelta(seconds=30)
    [record] = effects
    assert record == RecordResult(ANSWERED, CompletionStatus.HANDLED, NOW, NOW + timedelta(seconds=30))
    later = NOW + timedelta(seconds=31)
    live, effects = run(live, DeadlinePassed(), at=later)
    assert effects == [CloseWrapUp()] and live.state is S.WRAP_UP
    live, effects = run(live, WrapUpClosed(CompletionStatus.ANSWERING_MACHINE), at=later)
    done = finish_of(effects)
    assert live.state is S.ENDED
    assert (done.step.status, done.step.reason, done.report) == (CompletionStatus.ANSWERING_MACHINE,
                                                                 Reason.ANSWERING_MACHINE, ANSWERED)


def test_a_disposition_that_cannot_apply_leaves_the_line_result() -> None:
    live, _ = run(call(S.HANDLING), ResultHeard(ANSWERED, NOW), DeadlinePassed(), at=NOW + timedelta(minutes=1))
    live, effects = run(live, WrapUpClosed(CompletionStatus.CALLBACK_REQUESTED, NOW), at=NOW + timedelta(minutes=1))
    assert isinstance(effects[0], DispositionRefused)
    assert finish_of(effects).step.status is CompletionStatus.HANDLED


def test_a_taken_over_wrap_up_keeps_its_heard_time() -> None:
    """Window 2: a restarted process applies the recorded result; its wrap-up ends when it would have."""
    heard = NOW - timedelta(seconds=20)
    fresh = taken_over(uuid.uuid4(), callback(), SETTINGS, state=S.HANDLING, channel="", now=NOW, grace=GRACE)
    live, effects = run(fresh, ResultHeard(ANSWERED, heard))
    assert live.state is S.WRAP_UP and live.deadline == heard + timedelta(seconds=30)
    assert isinstance(effects[0], RecordResult)


def test_a_result_without_wrap_up_ends_the_attempt_with_it() -> None:
    live, effects = run(call(S.DIALING, settings=dataclasses.replace(SETTINGS, wrap_up_time=0)),
                        ResultHeard(LineReport("BUSY", 17, ""), NOW))
    done = finish_of(effects)
    assert live.state is S.ENDED and (done.step.status, done.step.state) == (CompletionStatus.BUSY,
                                                                              CallbackState.SCHEDULED)
    assert done.report.dial_status == "BUSY"
    # Trunk trouble is nobody's to dispose of: it ends at once, wrap-up time or not.
    live, effects = run(call(S.DIALING), ResultHeard(LineReport("CHANUNAVAIL", 34, ""), NOW))
    assert live.state is S.ENDED and finish_of(effects).step.status is CompletionStatus.NETWORK_FAILURE


@pytest.mark.parametrize("line", [LineReport("BUSY", 17, ""), LineReport("NOANSWER", 19, "")])
def test_after_no_answer_or_busy_the_agent_has_the_same_options_except_cancel(line: LineReport) -> None:
    """Seed 002: "If the callback is unanswered ... it will have the same options as above except for Cancel"."""
    later = NOW + timedelta(seconds=31)

    def closed_with(disposition: WrapUpClosed) -> Finish:
        live, effects = run(call(S.DIALING), ResultHeard(line, NOW))
        assert live.state is S.WRAP_UP and isinstance(effects[0], RecordResult)
        return finish_of(run(live, DeadlinePassed(), disposition, at=later)[1])

    no_answer = closed_with(WrapUpClosed(CompletionStatus.NO_ANSWER))
    assert (no_answer.step.status, no_answer.step.counted) == (CompletionStatus.NO_ANSWER, True)
    wrong = closed_with(WrapUpClosed(CompletionStatus.WRONG_DESTINATION))
    assert wrong.step.state is CallbackState.FAILED
    requested = closed_with(WrapUpClosed(CompletionStatus.CALLBACK_REQUESTED, later + timedelta(hours=2), "1002"))
    assert (requested.step.due_at, requested.step.agent_id, requested.step.counted) == (
        later + timedelta(hours=2), "1002", False)
    # Nobody answered: "handled" or "answering machine" cannot be said of it; the line's result stands.
    live, effects = run(call(S.DIALING), ResultHeard(line, NOW), DeadlinePassed(), at=later)
    live, effects = run(live, WrapUpClosed(CompletionStatus.HANDLED), at=later)
    assert isinstance(effects[0], DispositionRefused)
    assert finish_of(effects).step.status is not CompletionStatus.HANDLED


def test_the_reconcile_never_ends_a_live_call_and_reads_a_bridge_as_a_conversation() -> None:
    """Windows 3 and 6: live channels keep the attempt; bridged channels are a conversation, whatever the
    stored state said; the watchdog then never hangs it up."""
    for state in (S.OFFERED, S.PREVIEW, S.DIALING):
        live, effects = run(call(state), LineChecked(live=True, bridged=False))
        assert (live.state, effects) == (state, [])
        live, effects = run(call(state), LineChecked(live=True, bridged=True))
        assert live.state is S.HANDLING and live.deadline == FOREVER and effects == [StoreState(S.HANDLING)]
        _, effects = run(live, DeadlinePassed(), at=NOW + timedelta(days=1))
        assert effects == []


def test_only_a_call_that_left_no_trace_is_of_unknown_outcome() -> None:
    live, effects = run(call(S.DIALING), LineChecked(live=False))
    done = finish_of(effects)
    assert live.state is S.ENDED and done.step.reason is Reason.OUTCOME_UNKNOWN
    assert done.step.due_at == NOW + timedelta(seconds=600)  # never before its recall interval
    # The customer had answered: reached, whatever cut the call (an Asterisk restart); not called again.
    live, effects = run(call(S.HANDLING, dataclasses.replace(SETTINGS, wrap_up_time=0)), LineChecked(live=False))
    assert finish_of(effects).step.status is CompletionStatus.HANDLED
    live, effects = run(call(S.HANDLING), LineChecked(live=False))
    assert live.state is S.WRAP_UP and isinstance(effects[0], RecordResult)
    # In wrap-up the result is on record: a check of the line changes nothing.
    wrapping, _ = run(call(S.HANDLING), ResultHeard(ANSWERED, NOW))
    assert run(wrapping, LineChecked(live=False)) == (wrapping, [])


def test_a_refused_originate_fails_the_attempt_as_not_dialled_and_counts_nothing() -> None:
    """Window 4 and an error answer: nobody was called, so nothing is counted."""
    live, effects = run(call(S.OFFERED), NotDialled("Permission denied"))
    step = finish_of(effects).step
    assert live.state is S.ENDED
    assert (step.status, step.reason, step.counted, step.attempts_count, step.network_failures) == \
        (CompletionStatus.NOT_DIALLED, Reason.NOT_DIALLED, False, 0, 0)
    assert step.state is CallbackState.SCHEDULED and step.due_at is not None and step.due_at > NOW


def test_a_missed_offer_is_not_counted_and_may_set_the_agent_not_ready() -> None:
    settings = QueueSettings(not_ready_after_missed_offer=True)
    _, effects = run(call(S.OFFERED, settings), OfferMissed())
    assert isinstance(effects[0], SetAgentNotReady)
    assert finish_of(effects).step.reason is Reason.AGENT_MISSED


def test_the_no_answer_watchdog_hangs_up_then_ends() -> None:
    live, _ = run(call(S.OFFERED), Progressed(S.DIALING))
    assert live.deadline == NOW + timedelta(seconds=20) + GRACE
    late = live.deadline
    live, effects = run(live, DeadlinePassed(), at=late)
    assert effects == [HangUp("PJSIP/agent-1001-0001")] and live.timed_out
    live, effects = run(live, DeadlinePassed(), at=late + GRACE)
    assert finish_of(effects).step.status is CompletionStatus.NO_ANSWER
    # The Result of the hang-up, if it comes first, is classified as our timeout.
    hung, _ = run(call(S.DIALING), DeadlinePassed(), at=FOREVER - timedelta(days=1))
    _, effects = run(hung, ResultHeard(LineReport("CANCEL", 16, ""), NOW))
    [record] = effects  # the agent then wraps up, as after any unanswered call
    assert isinstance(record, RecordResult) and record.status is CompletionStatus.NO_ANSWER


def test_progress_reports_move_forward_only() -> None:
    live, effects = run(call(S.OFFERED), AgentAnswered("PJSIP/agent-1001-0002"), Progressed(S.HANDLING),
                        Progressed(S.DIALING))
    assert live.state is S.HANDLING and live.channel == "PJSIP/agent-1001-0002"
    assert effects == [StoreState(S.HANDLING)]


def test_a_closing_before_the_dial_aborts_until_the_next_opening() -> None:
    """Window 10: the window closes while the agent's phone rings or they preview: aborted, not dialled."""
    evening = datetime(2026, 12, 1, 21, 0, 5, tzinfo=UTC)  # 21:00:05 in London
    ringing = call(S.PREVIEW)
    event = closing(ringing, contact_zone="Europe/London", now=evening)
    assert event == Closing(datetime(2026, 12, 2, 8, 0, tzinfo=UTC))
    live, effects = run(ringing, event, at=evening)
    step = finish_of(effects).step
    assert effects[0] == HangUp(ringing.channel)
    assert (step.status, step.reason, step.state, step.due_at, step.counted) == \
        (CompletionStatus.ABORTED, Reason.EXPIRED, CallbackState.EXPIRED, None, False)  # its end comes first
    long_lived = call(S.OFFERED, end_at=NOW + timedelta(days=2))
    _, effects = run(long_lived, Closing(datetime(2026, 12, 2, 8, 0, tzinfo=UTC)), at=evening)
    assert finish_of(effects).step.due_at == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    # Dialled already: a conversation is never cut short, and no Closing is even produced.
    assert closing(call(S.HANDLING), contact_zone="Europe/London", now=evening) is None
    assert run(call(S.DIALING), Closing(None), at=evening)[1] == []
    assert closing(call(S.OFFERED), contact_zone="Europe/London", now=NOW) is None


def test_the_latest_dial_counts_ring_and_preview() -> None:
    assert latest_dial(SETTINGS, NOW) == NOW + timedelta(seconds=15)
    preview = QueueSettings(agent_offer_timeout=15, preview_mode=PreviewMode.ALWAYS, max_preview_time=40)
    assert latest_dial(preview, NOW) == NOW + timedelta(seconds=55)


def test_the_result_asterisk_keeps_is_read_back() -> None:
    found = parse_kept_result("ANSWER:16:MACHINE:1764590400")
    assert found == ResultHeard(LineReport("ANSWER", 16, "MACHINE"), datetime(2025, 12, 1, 12, 0, tzinfo=UTC))
    for junk in ("", "ANSWER", ":16::1764590400", "ANSWER:x::1", "ANSWER:16::soon"):
        assert parse_kept_result(junk) is None


def test_a_closing_while_the_agents_phone_rings_aborts_once_the_originate_answers() -> None:
    """No channel to hang up yet: the attempt stays until the OriginateResponse, then hangs up or ends."""
    reopen = Closing(datetime(2026, 12, 2, 8, 0, tzinfo=UTC))
    ringing = dataclasses.replace(call(S.OFFERED, end_at=NOW + timedelta(days=2)), channel="")
    live, effects = run(ringing, reopen)
    assert live.state is S.OFFERED and live.aborting == reopen
    assert effects == [HangUp(str(ringing.id))]  # the ringing leg, by its Uniqueid (the attempt id)
    assert closing(live, contact_zone="Europe/London", now=NOW + timedelta(hours=10)) is None  # once
    answered, effects = run(live, AgentAnswered("PJSIP/agent-1001-0003"))
    assert effects[0] == HangUp("PJSIP/agent-1001-0003") and answered.state is S.ENDED
    assert finish_of(effects).step.status is CompletionStatus.ABORTED
    # Whatever comes first of it ends it as aborted: the dialplan's Dialing may beat the Originate's answer.
    for event in (OfferMissed(), Progressed(S.DIALING), DeadlinePassed(), ResultHeard(LineReport("CANCEL"), NOW)):
        ended, effects = run(live, event, at=FOREVER - timedelta(days=1))
        assert ended.state is S.ENDED and finish_of(effects).step.status is CompletionStatus.ABORTED


def test_a_taken_over_conversation_has_no_deadline() -> None:
    talking = taken_over(uuid.uuid4(), callback(), SETTINGS, state=S.HANDLING, channel="c", now=NOW, grace=GRACE)
    assert talking.deadline == FOREVER
    ringing = taken_over(uuid.uuid4(), callback(), SETTINGS, state=S.PREVIEW, channel="c", now=NOW, grace=GRACE)
    assert ringing.deadline == offered(uuid.uuid4(), callback(), SETTINGS, now=NOW, grace=GRACE).deadline
