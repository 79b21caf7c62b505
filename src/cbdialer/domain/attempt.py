"""The attempt: one try to connect agent and customer, as a transition table (docs/design.md sections 4, 6 and 8),
in the manner of the callback's lifecycle.

Rule: a live attempt moves only through `advance(call, event, now=...)`. The pair (state, kind of event) is
looked up in EVENTS; a pair that is not there raises IllegalMove, and so does a move to a state that
MOVES does not allow. `advance` returns the call as it is after the event and the effects the move asks
for (store the result, hang up, end the attempt, ...); it does nothing itself, and the dialer carries the
effects out in order.

Two guarantees live here, so that each window of a fault is a unit test of this table:
- a result heard on the line is recorded at once (RecordResult or Finish); a wrap-up delays only the
  callback's move, never the record;
- an attempt whose channels are live, or whose result can be found, is never ended as of unknown outcome:
  only `LineChecked(live=False)` with no result found, before the customer answered, ends it so (a customer
  who answered was reached: that is the trace the call left).

Why one file of this length (~400 lines): the table (MOVES, EVENTS), its events, its effects and the handler
of each pair are read together, top to bottom, as h11's _state.py is; split, a reader would have to hold
three files to check one move.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from cbdialer.domain.models import (
    Callback,
    CompletionStatus,
    InteractionState,
    InvalidValue,
    PreviewMode,
    QueueSettings,
)
from cbdialer.domain.outcomes import (
    DISPOSITIONS_AFTER,
    LineReport,
    NextStep,
    after_attempt,
    after_disposition,
    after_unknown_outcome,
    classify,
)
from cbdialer.domain.timing import hold_reason, next_dialable

A = InteractionState
FOREVER = datetime.max.replace(tzinfo=UTC)

# Where a live attempt may go from each state: only forward (docs/design.md section 4, step 3).
MOVES: dict[InteractionState, frozenset[InteractionState]] = {
    A.OFFERED: frozenset({A.OFFERED, A.PREVIEW, A.DIALING, A.HANDLING, A.WRAP_UP, A.ENDED}),
    A.PREVIEW: frozenset({A.PREVIEW, A.DIALING, A.HANDLING, A.WRAP_UP, A.ENDED}),
    A.DIALING: frozenset({A.DIALING, A.HANDLING, A.WRAP_UP, A.ENDED}),
    A.HANDLING: frozenset({A.HANDLING, A.WRAP_UP, A.ENDED}),
    A.WRAP_UP: frozenset({A.WRAP_UP, A.ENDED}),
    A.ENDED: frozenset(),
}
# The same order as one sequence.
FORWARD = tuple(MOVES)
# What the store's writer of interaction states may write, in that order: an end is written by the end alone.
WRITTEN_FORWARD = tuple(state for state in FORWARD if state is not A.ENDED)
# The line's result when only the customer's answer is known (the call was cut before its Result).
REACHED = LineReport("ANSWER", 16, "")
# Before the customer is dialled: the only states a closing of the window or schedule may cut short.
NOT_YET_DIALLED = frozenset({A.OFFERED, A.PREVIEW})


# -- events ------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AgentAnswered:
    """OriginateResponse Success: the agent's phone answered; `channel` is the agent leg."""

    channel: str


@dataclass(frozen=True, slots=True)
class OfferMissed:
    """OriginateResponse Failure: the agent did not answer, rejected, or could not be reached."""


@dataclass(frozen=True, slots=True)
class NotDialled:
    """Asterisk refused the Originate, or it could not be sent: nobody was called."""

    why: str


@dataclass(frozen=True, slots=True)
class Progressed:
    """One of the dialplan's UserEvents: preview, dialing (the customer is being dialled), handling."""

    state: InteractionState


@dataclass(frozen=True, slots=True)
class ResultHeard:
    """The line's result: the dialplan's CbdialerResult, or the same found where it was kept (the attempt
    row, Asterisk's AstDB) after a crash or a lost link. `heard_at` is when it happened."""

    report: LineReport
    heard_at: datetime


@dataclass(frozen=True, slots=True)
class DeadlinePassed:
    """The watchdog: the call's deadline is behind `now`."""


@dataclass(frozen=True, slots=True)
class WrapUpClosed:
    """The wrap-up was closed to dispositions; the agent's disposition, if one was set."""

    disposition: CompletionStatus | None = None
    new_start: datetime | None = None
    new_agent: str | None = None


@dataclass(frozen=True, slots=True)
class LineChecked:
    """What Asterisk shows of the attempt now (CoreShowChannels after a reconnect, or at a takeover), when no
    result of it could be found: its channels are live or gone, and agent and customer are bridged or not."""

    live: bool
    bridged: bool = False


@dataclass(frozen=True, slots=True)
class Closing:
    """The calling window or the queue's schedule closed; it opens again at `reopens_at`."""

    reopens_at: datetime | None


AttemptEvent = (AgentAnswered | OfferMissed | NotDialled | Progressed | ResultHeard | DeadlinePassed | WrapUpClosed
                | LineChecked | Closing)


# -- effects -----------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StoreState:
    """Write the interaction state (for watchers and a takeover; no decision waits for it)."""

    state: InteractionState


@dataclass(frozen=True, slots=True)
class RecordResult:
    """Write the line's result on the attempt, move it to wrap_up and release the agent into wrap-up until
    `wrap_up_until`, in one statement; the callback waits for the wrap-up's end."""

    report: LineReport
    status: CompletionStatus
    heard_at: datetime
    wrap_up_until: datetime


@dataclass(frozen=True, slots=True)
class HangUp:
    channel: str


@dataclass(frozen=True, slots=True)
class SetAgentNotReady:
    """The queue says an agent who misses an offer is set not ready (before the callback is requeued)."""


@dataclass(frozen=True, slots=True)
class CloseWrapUp:
    """Close the wrap-up to dispositions and feed back what the agent set, as WrapUpClosed."""


@dataclass(frozen=True, slots=True)
class DispositionRefused:
    """The agent's disposition could not be applied (e.g. its new start has passed); the line's result stands."""

    error: str


@dataclass(frozen=True, slots=True)
class Finish:
    """End the attempt with the line's report and move its callback by `step`, freeing the agent (into
    wrap-up until `wrap_up_until`), in one statement."""

    step: NextStep
    report: LineReport
    wrap_up_until: datetime


Effect = StoreState | RecordResult | HangUp | SetAgentNotReady | CloseWrapUp | DispositionRefused | Finish


# -- the live attempt --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Call:
    """A live attempt as the table sees it."""

    id: UUID
    callback: Callback
    settings: QueueSettings
    state: InteractionState
    deadline: datetime  # no progress by then, and the watchdog acts
    grace: timedelta
    channel: str = ""
    timed_out: bool = False
    result: tuple[NextStep, LineReport] | None = None  # heard, waiting for the wrap-up's end
    closing: bool = False  # the wrap-up is being closed: the deadline fired once
    aborting: Closing | None = None  # the window closed while the agent's phone rang: abort once it answers


def offer_ceiling(settings: QueueSettings, now: datetime, grace: timedelta) -> datetime:
    """The latest an offer can still be alive: ringing, preview and the customer's no-answer time."""
    preview = settings.max_preview_time if settings.preview_mode is not PreviewMode.DISABLED else 0
    return now + timedelta(seconds=settings.agent_offer_timeout + preview + settings.duration_for_no_answer) + 2 * grace


def latest_dial(settings: QueueSettings, now: datetime) -> datetime:
    """The latest moment the customer of an offer made now can be dialled: after the agent's ring and any
    preview (docs/design.md section 8: the window and schedule must hold then too)."""
    preview = settings.max_preview_time if settings.preview_mode is not PreviewMode.DISABLED else 0
    return now + timedelta(seconds=settings.agent_offer_timeout + preview)


def offered(attempt_id: UUID, callback: Callback, settings: QueueSettings, *, now: datetime,
            grace: timedelta) -> Call:
    """A new attempt: the agent's phone is about to ring."""
    return Call(attempt_id, callback, settings, A.OFFERED, offer_ceiling(settings, now, grace), grace)


def taken_over(attempt_id: UUID, callback: Callback, settings: QueueSettings, *, state: InteractionState,
               channel: str, now: datetime, grace: timedelta) -> Call:
    """An attempt of a process that died, now ours: its deadline restarts (its line is checked next); a
    conversation has none."""
    state = state if state is not A.ENDED else A.DIALING
    deadline = FOREVER if state is A.HANDLING else offer_ceiling(settings, now, grace)
    return Call(attempt_id, callback, settings, state, deadline, grace, channel=channel)


def closing(call: Call, *, contact_zone: str, now: datetime) -> Closing | None:
    """The Closing event, if the calling window or the schedule has closed on a call not yet dialled."""
    if call.state not in NOT_YET_DIALLED or call.aborting is not None:
        return None
    settings = call.settings
    if hold_reason(now, schedule=settings.schedule, window=settings.restricted_window, contact_zone=contact_zone) is None:
        return None
    return Closing(next_dialable(now, schedule=settings.schedule, window=settings.restricted_window,
                                 contact_zone=contact_zone))


def parse_kept_result(value: str) -> ResultHeard | None:
    """The result the dialplan keeps in AstDB (STATUS:CAUSE:AMDSTATUS:EPOCH), or None if it is not one."""
    parts = value.split(":")
    if len(parts) != 4 or not parts[0]:
        return None
    try:
        heard_at = datetime.fromtimestamp(int(parts[3]), UTC)
        cause = int(parts[1] or 0)
    except (ValueError, OverflowError, OSError):
        return None
    return ResultHeard(LineReport(parts[0], cause, parts[2]), heard_at)


class IllegalMove(Exception):
    def __init__(self, state: InteractionState, event: AttemptEvent, to: InteractionState | None = None) -> None:
        target = f" to {to.value}" if to is not None else ""
        super().__init__(f"an attempt in state {state.value} cannot move{target} on {type(event).__name__}")
        self.state = state
        self.event = event


Move = tuple[Call, tuple[Effect, ...]]


def _moved(call: Call, to: InteractionState, *effects: Effect, **changes: object) -> Move:
    return dataclasses.replace(call, state=to, **changes), effects  # type: ignore[arg-type]


def _finish(call: Call, step: NextStep, report: LineReport, now: datetime, *first: Effect) -> Move:
    return _moved(call, A.ENDED, *first, Finish(step, report, now), deadline=FOREVER)


def _on_answered(call: Call, event: AgentAnswered, now: datetime) -> Move:
    return _moved(call, call.state, channel=event.channel or call.channel)


def _on_missed(call: Call, event: OfferMissed, now: datetime) -> Move:
    # Not counted; the agent is set not ready first (if the queue says so), so the requeued callback is not
    # offered to them again at once.
    step = after_attempt(call.callback, call.settings, CompletionStatus.CANCEL, now=now, agent_missed=True)
    first = (SetAgentNotReady(),) if call.settings.not_ready_after_missed_offer else ()
    return _finish(call, step, LineReport(), now, *first)


def _on_not_dialled(call: Call, event: NotDialled, now: datetime) -> Move:
    step = after_attempt(call.callback, call.settings, CompletionStatus.NOT_DIALLED, now=now)
    return _finish(call, step, LineReport(), now)


def _on_progress(call: Call, event: Progressed, now: datetime) -> Move:
    if event.state not in (A.PREVIEW, A.DIALING, A.HANDLING) or FORWARD.index(event.state) <= FORWARD.index(call.state):
        return call, ()  # late or repeated: states only move forward
    if event.state is A.DIALING:
        # Our own duration-for-no-answer, beside the Dial timeout (docs/design.md section 4, step 4).
        deadline = now + timedelta(seconds=call.settings.duration_for_no_answer) + call.grace
    elif event.state is A.HANDLING:
        deadline = FOREVER  # a conversation has no timeout
    else:
        deadline = call.deadline
    return _moved(call, event.state, StoreState(event.state), deadline=deadline)


def _on_result(call: Call, event: ResultHeard, now: datetime) -> Move:
    report = dataclasses.replace(event.report, timed_out=event.report.timed_out or call.timed_out)
    status = classify(report)
    step = after_attempt(call.callback, call.settings, status, now=now)
    wrap_up = timedelta(seconds=call.settings.wrap_up_time)
    if status in DISPOSITIONS_AFTER and wrap_up:
        # The agent wraps up and may set a disposition meanwhile; the result is on record already.
        until = event.heard_at + wrap_up
        return _moved(call, A.WRAP_UP, RecordResult(report, status, event.heard_at, until), deadline=until,
                      result=(step, report))
    return _finish(call, step, report, now)


def _on_deadline(call: Call, event: DeadlinePassed, now: datetime) -> Move:
    if now < call.deadline:
        return call, ()
    if call.state is A.WRAP_UP:
        return _moved(call, A.WRAP_UP, CloseWrapUp(), deadline=FOREVER, closing=True)
    if not call.timed_out:
        # Hang up and let the Result of the hang-up follow; without a channel the agent never answered,
        # and the offer's own timeout (OriginateResponse) ends it.
        effects = (HangUp(call.channel),) if call.channel else ()
        return _moved(call, call.state, *effects, timed_out=True, deadline=now + call.grace)
    step = after_attempt(call.callback, call.settings, CompletionStatus.NO_ANSWER, now=now)
    return _finish(call, step, LineReport(timed_out=True), now)


def _on_wrap_up_closed(call: Call, event: WrapUpClosed, now: datetime) -> Move:
    if call.result is None:
        raise IllegalMove(call.state, event)
    step, report = call.result
    first: tuple[Effect, ...] = ()
    if event.disposition is not None:
        try:
            step = after_disposition(call.callback, call.settings, event.disposition, now=now,
                                     new_start=event.new_start, new_agent=event.new_agent, result=step.status)
        except (InvalidValue, OverflowError) as exc:
            first = (DispositionRefused(str(exc)),)
    return _finish(call, step, report, now, *first)


def _on_line_checked(call: Call, event: LineChecked, now: datetime) -> Move:
    if call.state is A.WRAP_UP:
        return call, ()  # the result is on record; the wrap-up runs its course
    if event.live:
        if event.bridged:
            # Agent and customer are talking, whatever the stored state said: no deadline.
            effects = (StoreState(A.HANDLING),) if call.state is not A.HANDLING else ()
            return _moved(call, A.HANDLING, *effects, deadline=FOREVER)
        return call, ()
    if call.state is A.HANDLING:
        # Gone without a result, but the customer answered (CbdialerCustomerAnswered was heard, or stored): a
        # person was reached, and that trace stands for the lost result; the agent may still set a disposition.
        return _on_result(call, ResultHeard(REACHED, now), now)
    step = after_unknown_outcome(call.callback, call.settings, now=now)
    return _finish(call, step, LineReport(), now)


def _on_closing(call: Call, event: Closing, now: datetime) -> Move:
    if call.state not in NOT_YET_DIALLED:
        return call, ()  # the customer is dialled already: a conversation is never cut short
    if not call.channel:
        # The agent's phone still rings: hang it up by its id (the agent leg's Uniqueid is the attempt id);
        # the attempt ends as aborted on whatever comes next of it (the Originate's answer, a report, the
        # deadline), hanging up again once the channel is known.
        return _moved(call, call.state, HangUp(str(call.id)), aborting=event)
    return _abort(call, event, now)


def _abort(call: Call, event: Closing, now: datetime) -> Move:
    step = after_attempt(call.callback, call.settings, CompletionStatus.ABORTED, now=now, reopens_at=event.reopens_at)
    effects = (HangUp(call.channel),) if call.channel else ()
    return _finish(call, step, LineReport(), now, *effects)


_LIVE = (A.OFFERED, A.PREVIEW, A.DIALING, A.HANDLING)
_HANDLERS = {
    AgentAnswered: _on_answered, OfferMissed: _on_missed, NotDialled: _on_not_dialled, Progressed: _on_progress,
    ResultHeard: _on_result, DeadlinePassed: _on_deadline, WrapUpClosed: _on_wrap_up_closed,
    LineChecked: _on_line_checked, Closing: _on_closing,
}
# Which events each state accepts (the table); anything else is illegal.
EVENTS: dict[InteractionState, frozenset[type]] = {
    A.OFFERED: frozenset({AgentAnswered, OfferMissed, NotDialled, Progressed, ResultHeard, DeadlinePassed,
                          LineChecked, Closing}),
    **{state: frozenset({AgentAnswered, Progressed, ResultHeard, DeadlinePassed, LineChecked, Closing})
       for state in _LIVE[1:]},
    A.WRAP_UP: frozenset({AgentAnswered, Progressed, ResultHeard, DeadlinePassed, WrapUpClosed, LineChecked,
                          Closing}),
    A.ENDED: frozenset(),
}


# What ends an attempt whose window closed while the agent's phone rang (Call.aborting).
_ENDS_AN_ABORT = (AgentAnswered, OfferMissed, Progressed, ResultHeard, DeadlinePassed)


def advance(call: Call, event: AttemptEvent, *, now: datetime) -> Move:
    """The call after `event`, and the effects to carry out, in order."""
    if type(event) not in EVENTS[call.state]:
        raise IllegalMove(call.state, event)
    if call.state is A.WRAP_UP and isinstance(event, (AgentAnswered, Progressed, ResultHeard)):
        return call, ()  # late or repeated reports of a call that is over
    if call.aborting is not None and isinstance(event, _ENDS_AN_ABORT):
        channel = event.channel if isinstance(event, AgentAnswered) else call.channel
        return _abort(dataclasses.replace(call, channel=channel or call.channel), call.aborting, now)
    moved, effects = _HANDLERS[type(event)](call, event, now)  # type: ignore[operator]
    if moved.state not in MOVES[call.state]:
        raise IllegalMove(call.state, event, moved.state)
    return moved, effects
