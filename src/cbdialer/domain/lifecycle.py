"""The callback lifecycle (docs/design.md section 3) as a transition table, in the manner of h11's _state.py.

Rule: a callback changes state only through `transition(state, reason)`, which looks the pair up in
TRANSITIONS; a pair that is not there raises IllegalTransition. The reason is the event: it is stored with
every change so that every hold, skip and end can be explained afterwards.
"""

from __future__ import annotations

from enum import StrEnum


class CallbackState(StrEnum):
    SCHEDULED = "scheduled"  # waiting for its due time (POM ActiveAttachedToJob, ECS Pending)
    QUEUED = "queued"  # due, waiting for an agent or a dial slot (POM QueuedForDialing)
    IN_PROGRESS = "in_progress"  # an attempt is live (POM InProgress, ECS HandlingByAgent)
    WAITING_FOR_QUEUE = "waiting_for_queue"  # its queue is stopped (POM WaitingForJob)
    COMPLETED = "completed"
    FAILED = "failed"  # attempts exhausted, or wrong destination
    EXPIRED = "expired"  # its end passed before it was presented
    CANCELLED = "cancelled"  # by a person (POM ManuallyCancelled)
    CANCELLED_BY_INBOUND = "cancelled_by_inbound"  # the contact called in
    OVERWRITTEN = "overwritten"  # a newer callback for the same contact and queue
    CONTACT_EXCLUDED = "contact_excluded"  # the number is on the exclusion list
    PURGED = "purged"  # supervisor purge
    QUEUE_TERMINATED = "queue_terminated"  # its queue was terminated


class Location(StrEnum):
    """Where a callback is, as the supervisor's search shows it (ECS's Interaction Location, seed 002)."""

    PENDING = "pending"  # not yet in the queue: waiting for its time, or its queue stopped
    HANDLING_BY_QUEUE = "handling_by_queue"  # due, waiting to be offered to an agent
    HANDLING_BY_AGENT = "handling_by_agent"  # an agent is on it
    ENDED = "ended"


def location_of(state: CallbackState) -> Location:
    if state in (CallbackState.SCHEDULED, CallbackState.WAITING_FOR_QUEUE):
        return Location.PENDING
    if state is CallbackState.QUEUED:
        return Location.HANDLING_BY_QUEUE
    if state is CallbackState.IN_PROGRESS:
        return Location.HANDLING_BY_AGENT
    return Location.ENDED


TERMINAL_STATES = frozenset({
    CallbackState.COMPLETED,
    CallbackState.FAILED,
    CallbackState.EXPIRED,
    CallbackState.CANCELLED,
    CallbackState.CANCELLED_BY_INBOUND,
    CallbackState.OVERWRITTEN,
    CallbackState.CONTACT_EXCLUDED,
    CallbackState.PURGED,
    CallbackState.QUEUE_TERMINATED,
})

# States in which a callback is still owed to the customer.
ACTIVE_STATES = frozenset(CallbackState) - TERMINAL_STATES
# States the claim looks at: those that fall due, and in-progress ones whose holder's lease may run out.
DUE_STATES = frozenset({CallbackState.SCHEDULED, CallbackState.QUEUED, CallbackState.IN_PROGRESS})
# Waiting for their turn: what the supervisor's chart counts as due (not yet on a call, not ended).
WAITING_STATES = ACTIVE_STATES - {CallbackState.IN_PROGRESS}
# Falling due and not yet offered: the operator's "due now" (cbdialer_callbacks_due): scheduled ones once due,
# and queued ones (claimed, waiting for an agent or a dial slot).
DUE_WAITING_STATES = DUE_STATES - {CallbackState.IN_PROGRESS}


class Reason(StrEnum):
    """Why a callback changed state (the event of the transition table)."""

    CREATED = "created"
    DUE = "due"  # its due time came
    CALL_NOW = "call_now"  # a person asked for an immediate call
    RESCHEDULED = "rescheduled"  # a person moved its start
    SEND_TO_QUEUE = "send_to_queue"  # a person made it due now (ECS)
    # Held back before dialling (system completion codes of POM)
    POSTPONED = "postponed"  # no suitable agent: retry interval
    AGENT_UNAVAILABLE = "agent_unavailable"  # strict agent logged off or not ready: retry interval
    OFF_SCHEDULE = "off_schedule"  # the queue is closed: next opening
    RESTRICTED_TIME = "restricted_time"  # outside the contact's calling window: next opening
    RESTRICTED_DNC = "restricted_dnc"  # on the do-not-call list with apply DNC on
    DIAL_SLOT_UNAVAILABLE = "dial_slot_unavailable"  # pacing: max concurrent calls or calls per second
    # A caller's callback keeping its place (docs/design.md section 14): due, it stays queued while callers who
    # joined that Asterisk queue earlier still wait, or an earlier caller's callback is pending
    WAITING_FOR_PLACE = "waiting_for_place"
    # The attempt
    DIALING = "dialing"  # an attempt started: the agent is being offered the call
    HANDLED = "handled"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    ANSWERING_MACHINE = "answering_machine"
    NETWORK_FAILURE = "network_failure"
    CANCEL = "cancel"  # the agent cancelled before the customer answered
    AGENT_MISSED = "agent_missed"  # the agent did not answer or rejected the offer
    CALLBACK_REQUESTED = "callback_requested"  # the agent's disposition: call again at a new time
    ABORTED = "aborted"  # the attempt was cut short by the window or schedule closing: next opening
    NOT_DIALLED = "not_dialled"  # the Originate was refused or could not be sent: nobody was called
    OUTCOME_UNKNOWN = "outcome_unknown"  # a crash or lost link hid the outcome: recall interval, never sooner
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    WRONG_DESTINATION = "wrong_destination"
    # Ends decided by people or by the rules
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    INBOUND_CALL = "inbound_call"
    OVERWRITTEN = "overwritten"
    CONTACT_EXCLUDED = "contact_excluded"
    PURGED = "purged"
    QUEUE_STOPPED = "queue_stopped"
    QUEUE_STARTED = "queue_started"
    QUEUE_TERMINATED = "queue_terminated"


S = CallbackState
R = Reason

# Reasons that put a waiting callback back to `scheduled` with a new due time.
_HOLDS = (R.RESCHEDULED, R.POSTPONED, R.AGENT_UNAVAILABLE, R.OFF_SCHEDULE, R.RESTRICTED_TIME, R.RESTRICTED_DNC,
          R.DIAL_SLOT_UNAVAILABLE)
# Ends that apply to any callback not yet in a live attempt.
_ENDS_WHILE_WAITING = {
    R.EXPIRED: S.EXPIRED,
    R.CANCELLED: S.CANCELLED,
    R.INBOUND_CALL: S.CANCELLED_BY_INBOUND,
    R.OVERWRITTEN: S.OVERWRITTEN,
    R.CONTACT_EXCLUDED: S.CONTACT_EXCLUDED,
    R.PURGED: S.PURGED,
    R.QUEUE_TERMINATED: S.QUEUE_TERMINATED,
    R.QUEUE_STOPPED: S.WAITING_FOR_QUEUE,
}

TRANSITIONS: dict[tuple[CallbackState, Reason], CallbackState] = {
    (S.SCHEDULED, R.DUE): S.QUEUED,
    (S.SCHEDULED, R.CALL_NOW): S.QUEUED,
    (S.SCHEDULED, R.SEND_TO_QUEUE): S.QUEUED,
    **{(S.SCHEDULED, r): S.SCHEDULED for r in _HOLDS},
    **{(S.SCHEDULED, r): to for r, to in _ENDS_WHILE_WAITING.items()},
    (S.QUEUED, R.DIALING): S.IN_PROGRESS,
    (S.QUEUED, R.CALL_NOW): S.QUEUED,
    # Due, and waiting for a dial slot, a busy agent or its place: it stays queued (audited once per wait).
    (S.QUEUED, R.DIAL_SLOT_UNAVAILABLE): S.QUEUED,
    (S.QUEUED, R.WAITING_FOR_PLACE): S.QUEUED,
    **{(S.QUEUED, r): S.SCHEDULED for r in _HOLDS if r is not R.DIAL_SLOT_UNAVAILABLE},
    **{(S.QUEUED, r): to for r, to in _ENDS_WHILE_WAITING.items()},
    # A live attempt ends in an outcome (docs/design.md section 6); people and inbound calls leave it alone.
    (S.IN_PROGRESS, R.HANDLED): S.COMPLETED,
    (S.IN_PROGRESS, R.NO_ANSWER): S.SCHEDULED,
    (S.IN_PROGRESS, R.BUSY): S.SCHEDULED,
    (S.IN_PROGRESS, R.ANSWERING_MACHINE): S.SCHEDULED,
    (S.IN_PROGRESS, R.NETWORK_FAILURE): S.SCHEDULED,
    (S.IN_PROGRESS, R.CALLBACK_REQUESTED): S.SCHEDULED,
    (S.IN_PROGRESS, R.OUTCOME_UNKNOWN): S.SCHEDULED,
    (S.IN_PROGRESS, R.CANCEL): S.QUEUED,
    (S.IN_PROGRESS, R.AGENT_MISSED): S.QUEUED,
    (S.IN_PROGRESS, R.ABORTED): S.SCHEDULED,
    (S.IN_PROGRESS, R.NOT_DIALLED): S.SCHEDULED,
    (S.IN_PROGRESS, R.ATTEMPTS_EXHAUSTED): S.FAILED,
    (S.IN_PROGRESS, R.WRONG_DESTINATION): S.FAILED,
    (S.IN_PROGRESS, R.EXPIRED): S.EXPIRED,
    (S.WAITING_FOR_QUEUE, R.QUEUE_STARTED): S.SCHEDULED,
    **{(S.WAITING_FOR_QUEUE, r): to for r, to in _ENDS_WHILE_WAITING.items() if r is not R.QUEUE_STOPPED},
}


class IllegalTransition(Exception):
    def __init__(self, state: CallbackState, reason: Reason) -> None:
        super().__init__(f"a callback in state {state.value} cannot change state for reason {reason.value!r}")
        self.state = state
        self.reason = reason


def transition(state: CallbackState, reason: Reason) -> CallbackState:
    """The state a callback in `state` moves to for `reason`; raises IllegalTransition if none."""
    try:
        return TRANSITIONS[(state, reason)]
    except KeyError:
        raise IllegalTransition(state, reason) from None


def sources_of(reason: Reason) -> frozenset[CallbackState]:
    """Every state from which `reason` is a legal transition (what the database guard checks)."""
    return frozenset(state for state, r in TRANSITIONS if r is reason)
