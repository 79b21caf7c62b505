"""What happened on the line, and what happens to the callback next (docs/design.md section 6).

Rule: `classify` turns Asterisk's report into a completion status by the outcome table alone, and
`after_attempt` / `after_disposition` turn a status into the callback's next state, counted attempts and
due time; both take the time as a parameter and change nothing themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cbdialer.domain.lifecycle import CallbackState, Reason, transition
from cbdialer.domain.models import Callback, CompletionStatus, InvalidValue, QueueSettings
from cbdialer.domain.timing import parse_start, recall_delay

# Q.850 causes that say the number itself is wrong: unallocated, no route, number changed, invalid format.
WRONG_DESTINATION_CAUSES = frozenset({1, 3, 22, 28})


@dataclass(frozen=True, slots=True)
class LineReport:
    """Asterisk's view of the customer leg: the dialplan's CbdialerResult, or cbdialer's own timeout."""

    dial_status: str = ""
    hangup_cause: int = 0
    amd_status: str = ""
    timed_out: bool = False  # cbdialer's duration-for-no-answer watchdog fired


def classify(report: LineReport) -> CompletionStatus:
    if report.timed_out:
        return CompletionStatus.NO_ANSWER
    status = report.dial_status.upper()
    if status == "ANSWER":
        # AMD off (empty), HUMAN, NOTSURE, or the customer hung up during AMD: a person was reached.
        return CompletionStatus.ANSWERING_MACHINE if report.amd_status.upper() == "MACHINE" else CompletionStatus.HANDLED
    if status == "NOANSWER":
        return CompletionStatus.NO_ANSWER
    if status == "BUSY":
        return CompletionStatus.BUSY
    if status == "CANCEL":
        return CompletionStatus.CANCEL
    if status in ("CHANUNAVAIL", "CONGESTION") and report.hangup_cause in WRONG_DESTINATION_CAUSES:
        return CompletionStatus.WRONG_DESTINATION
    # CHANUNAVAIL/CONGESTION with another cause, and anything Asterisk may add later: trunk or network trouble,
    # which is retried soon and boundedly rather than counted against the customer.
    return CompletionStatus.NETWORK_FAILURE


@dataclass(frozen=True, slots=True)
class NextStep:
    """The callback after an attempt: its new state (with the reason that leads there), due time when it
    stays active, the counters, and the completion status to record."""

    status: CompletionStatus
    reason: Reason
    state: CallbackState
    due_at: datetime | None
    counted: bool
    attempts_count: int
    network_failures: int
    end_at: datetime | None = None  # a new end, when the callback's window moves (callback_requested)
    agent_id: str | None = None  # callback_requested for a particular agent: it becomes that agent's callback

    @property
    def renews_agent_wait(self) -> bool:
        """Whether an agent callback's next turn tries its named agent again (seed 004: a retry goes to "the
        same" agent). Not after the uncounted retries that follow at once (the agent missed the offer, nothing
        was dialled, trunk trouble): one that fell back to the queue stays with it."""
        return self.status not in _KEEPS_AGENT_FALLBACK


_KEEPS_AGENT_FALLBACK = frozenset({CompletionStatus.CANCEL, CompletionStatus.NOT_DIALLED,
                                   CompletionStatus.NETWORK_FAILURE})

_REQUEUE_REASON = {
    CompletionStatus.NO_ANSWER: Reason.NO_ANSWER,
    CompletionStatus.BUSY: Reason.BUSY,
    CompletionStatus.ANSWERING_MACHINE: Reason.ANSWERING_MACHINE,
}


def _step(callback: Callback, status: CompletionStatus, reason: Reason, *, due_at: datetime | None,
          counted: bool, attempts: int, network_failures: int, end_at: datetime | None = None,
          agent_id: str | None = None) -> NextStep:
    state = transition(CallbackState.IN_PROGRESS, reason)
    if due_at is not None and due_at >= (end_at or callback.end_at) and state is CallbackState.SCHEDULED:
        # It could not be tried again before its end: it expires now rather than waiting to.
        reason, state, due_at = Reason.EXPIRED, transition(CallbackState.IN_PROGRESS, Reason.EXPIRED), None
    return NextStep(status, reason, state, due_at, counted, attempts, network_failures, end_at, agent_id)


def _counted_retry(callback: Callback, settings: QueueSettings, status: CompletionStatus, reason: Reason,
                   now: datetime, network_failures: int) -> NextStep:
    attempts = callback.attempts_count + 1
    if attempts >= settings.attempts_before_failure:
        return _step(callback, status, Reason.ATTEMPTS_EXHAUSTED, due_at=None, counted=True, attempts=attempts,
                     network_failures=network_failures)
    return _step(callback, status, reason, due_at=now + recall_delay(settings, attempts), counted=True,
                 attempts=attempts, network_failures=network_failures)


def after_attempt(callback: Callback, settings: QueueSettings, status: CompletionStatus, *, now: datetime,
                  agent_missed: bool = False, reopens_at: datetime | None = None) -> NextStep:
    """The outcome table's last three columns for one finished attempt of an in-progress callback.
    `reopens_at`: for `aborted`, when the window or schedule that closed opens again (None: never)."""
    if callback.state is not CallbackState.IN_PROGRESS:
        raise InvalidValue("state", f"an outcome applies to an in_progress callback, not a {callback.state.value} one")
    failures = callback.network_failures
    if status is CompletionStatus.HANDLED:
        return _step(callback, status, Reason.HANDLED, due_at=None, counted=True,
                     attempts=callback.attempts_count + 1, network_failures=failures)
    if status is CompletionStatus.WRONG_DESTINATION:
        return _step(callback, status, Reason.WRONG_DESTINATION, due_at=None, counted=True,
                     attempts=callback.attempts_count + 1, network_failures=failures)
    if status in _REQUEUE_REASON:
        return _counted_retry(callback, settings, status, _REQUEUE_REASON[status], now, failures)
    if status is CompletionStatus.NETWORK_FAILURE:
        failures += 1
        if failures > settings.max_network_failures:
            # Bounded: past the limit, trunk trouble counts like an unanswered attempt.
            return _counted_retry(callback, settings, status, Reason.NETWORK_FAILURE, now, failures)
        return _step(callback, status, Reason.NETWORK_FAILURE, due_at=now + timedelta(seconds=settings.network_failure_delay),
                     counted=False, attempts=callback.attempts_count, network_failures=failures)
    if status is CompletionStatus.CANCEL:
        reason = Reason.AGENT_MISSED if agent_missed else Reason.CANCEL
        return _step(callback, status, reason, due_at=now, counted=False, attempts=callback.attempts_count,
                     network_failures=failures)
    if status is CompletionStatus.ABORTED:
        # Seed 002: removed from the line by the schedule; it is tried again at the next opening.
        return _step(callback, status, Reason.ABORTED, due_at=reopens_at or callback.end_at, counted=False,
                     attempts=callback.attempts_count, network_failures=failures)
    if status is CompletionStatus.NOT_DIALLED:
        # Nobody was called: not counted, not a network failure; tried again after the short delay.
        return _step(callback, status, Reason.NOT_DIALLED,
                     due_at=now + timedelta(seconds=max(1, settings.network_failure_delay)), counted=False,
                     attempts=callback.attempts_count, network_failures=failures)
    raise InvalidValue("completion_status", f"{status.value} is not the outcome of an attempt")


def after_unknown_outcome(callback: Callback, settings: QueueSettings, *, now: datetime) -> NextStep:
    """A crash or a lost link hid how the attempt ended. The customer may have been dialled, so it counts,
    and the callback is not tried again before its recall interval has passed."""
    return _counted_retry(callback, settings, CompletionStatus.NO_ANSWER, Reason.OUTCOME_UNKNOWN, now,
                          callback.network_failures)


_S = CompletionStatus
# The statuses the agent may give a call in its wrap-up, by the line's result (seed 002): after a call that
# reached someone, handled, answering machine, callback requested or wrong destination; "If the callback is
# unanswered ... the same options as above except for Cancel": callback requested, no answer, wrong destination.
_AFTER_REACHED = frozenset({_S.HANDLED, _S.ANSWERING_MACHINE, _S.CALLBACK_REQUESTED, _S.WRONG_DESTINATION})
_AFTER_UNANSWERED = frozenset({_S.CALLBACK_REQUESTED, _S.NO_ANSWER, _S.WRONG_DESTINATION})
DISPOSITIONS_AFTER: dict[CompletionStatus, frozenset[CompletionStatus]] = {
    _S.HANDLED: _AFTER_REACHED, _S.ANSWERING_MACHINE: _AFTER_REACHED,
    _S.NO_ANSWER: _AFTER_UNANSWERED, _S.BUSY: _AFTER_UNANSWERED,
}
DISPOSITIONS = frozenset().union(*DISPOSITIONS_AFTER.values())


def results_allowing(disposition: CompletionStatus) -> frozenset[CompletionStatus]:
    """The line's results after which the agent may give `disposition`."""
    return frozenset(result for result, allowed in DISPOSITIONS_AFTER.items() if disposition in allowed)


def disposition_start(status: CompletionStatus, *, start_at: str | None, start_in: int | str | None,
                      now: datetime, customer_timezone: str | None = None,
                      agent: str | None = None) -> datetime | None:
    """The new start a disposition carries: a callback_requested one needs it (and may name the agent to call
    back), no other takes one. The one rule for every way a disposition arrives (the API, the command line)."""
    if status not in DISPOSITIONS:
        raise InvalidValue("status", f"must be one of {', '.join(sorted(d.value for d in DISPOSITIONS))}")
    if status is CompletionStatus.CALLBACK_REQUESTED:
        return parse_start(start_at=start_at, start_in=start_in, now=now, customer_timezone=customer_timezone)
    if start_at is not None or start_in is not None:
        raise InvalidValue("start_at", "only a callback_requested disposition takes a new start")
    if agent is not None:
        raise InvalidValue("agent", "only a callback_requested disposition names an agent")
    return None


def after_disposition(callback: Callback, settings: QueueSettings, disposition: CompletionStatus, *, now: datetime,
                      new_start: datetime | None = None, new_agent: str | None = None,
                      result: CompletionStatus | None = None) -> NextStep:
    """The agent's disposition after the call overrides the line's status (docs/design.md section 6): handled;
    answering_machine (left a voicemail, keep it in the queue); callback_requested (at `new_start`, for
    `new_agent` if named); no_answer; wrong_destination. `result`: the line's, which limits the choice."""
    allowed = DISPOSITIONS_AFTER.get(result, frozenset()) if result is not None else DISPOSITIONS
    if disposition not in allowed:
        after = f" after a {result.value} call" if result is not None else ""
        raise InvalidValue("disposition", f"must be one of {sorted(d.value for d in allowed)}{after}")
    if disposition is CompletionStatus.CALLBACK_REQUESTED:
        if new_start is None:
            raise InvalidValue("start_at", "a requested callback needs a new start time")
        if new_start <= now:
            raise InvalidValue("start_at", "must be after the server's current time")
        # The customer was reached and asked for another time: not a failed try, so not counted; its
        # window moves with it.
        return _step(callback, disposition, Reason.CALLBACK_REQUESTED, due_at=new_start, counted=False,
                     attempts=callback.attempts_count, network_failures=callback.network_failures,
                     end_at=new_start + timedelta(seconds=settings.default_end_offset), agent_id=new_agent)
    return after_attempt(callback, settings, disposition, now=now)
