"""The callback book's rules for a callback that falls due, for a new callback, and for an inbound call
(docs/design.md sections 3, 5 and 7). Rule: each function takes the facts and the time, and returns what should
happen; the scheduler and the API carry it out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cbdialer.domain.attempt import latest_dial
from cbdialer.domain.lifecycle import CallbackState, Reason, sources_of
from cbdialer.domain.models import Callback, CallbackOrigin, Queue, QueueStatus
from cbdialer.domain.outcomes import NextStep, after_unknown_outcome
from cbdialer.domain.routing import Postpone
from cbdialer.domain.timing import contact_zone, hold_reason, next_dialable


@dataclass(frozen=True, slots=True)
class Present:
    """Dialable now: find an agent (routing) and hand it to the dialer."""


@dataclass(frozen=True, slots=True)
class Hold:
    """Not now: back to `scheduled`, due at `due_at`, with the reason recorded."""

    reason: Reason
    due_at: datetime
    strict_retry: bool = False


@dataclass(frozen=True, slots=True)
class End:
    """No dialling: the callback leaves the line for `reason` (expired, excluded, its queue stopped)."""

    reason: Reason


@dataclass(frozen=True, slots=True)
class Recover:
    """It was in progress under a holder that died: its outcome is unknown (docs/design.md section 8)."""

    step: NextStep


DueDecision = Present | Hold | End | Recover


def _hold_or_expire(callback: Callback, reason: Reason, due_at: datetime | None, *, strict_retry: bool = False) -> Hold | End:
    # A hold that would outlive the callback's end is an expiry now: it must never be dialled late.
    if due_at is None or due_at >= callback.end_at:
        return End(Reason.EXPIRED)
    return Hold(reason, due_at, strict_retry)


def decide_due(callback: Callback, queue: Queue, *, now: datetime, on_dnc: bool, excluded: bool) -> DueDecision:
    """What to do with a callback just claimed because it fell due."""
    if callback.state is CallbackState.IN_PROGRESS:
        return Recover(after_unknown_outcome(callback, queue.settings, now=now))
    if now >= callback.end_at:
        return End(Reason.EXPIRED)
    if excluded:
        return End(Reason.CONTACT_EXCLUDED)
    if queue.status is QueueStatus.TERMINATED:  # e.g. one whose call was live when its queue was terminated
        return End(Reason.QUEUE_TERMINATED)
    if queue.status is QueueStatus.STOPPED:
        return End(Reason.QUEUE_STOPPED)
    settings = queue.settings
    if settings.apply_dnc and on_dnc:
        # Kept, not dialled: it is looked at again after the retry interval, until the number leaves the
        # list or the callback expires (POM "Restricted DNC").
        return _hold_or_expire(callback, Reason.RESTRICTED_DNC, now + timedelta(seconds=settings.retry_interval))
    return outside_hours(callback, queue, now=now) or Present()


def outside_hours(callback: Callback, queue: Queue, *, now: datetime) -> Hold | End | None:
    """Not dialable now, or no longer when the customer would be dialled (after the agent's ring and any
    preview; docs/design.md section 8): held until the next opening. None if an offer made at `now` may go."""
    settings = queue.settings
    zone = contact_zone(callback.destination, customer_timezone=callback.customer_timezone,
                        queue_timezone=settings.schedule.timezone)
    for moment in (now, latest_dial(settings, now)):
        reason = hold_reason(moment, schedule=settings.schedule, window=settings.restricted_window, contact_zone=zone)
        if reason is not None:
            opening = next_dialable(moment, schedule=settings.schedule, window=settings.restricted_window,
                                    contact_zone=zone)
            return _hold_or_expire(callback, reason, opening)
    return None


# Why a call now is refused, in words an agent reads on the panel (seed 003's Call Now still keeps the rules).
CALL_NOW_REFUSALS = {
    Reason.RESTRICTED_DNC: "the number is on the do-not-call list",
    Reason.CONTACT_EXCLUDED: "the number is on the exclusion list",
    Reason.RESTRICTED_TIME: "it is outside the contact's calling window",
    Reason.OFF_SCHEDULE: "the queue is closed now (its schedule)",
    Reason.EXPIRED: "the callback's end has passed",
    Reason.QUEUE_STOPPED: "the queue is stopped",
    Reason.QUEUE_TERMINATED: "the queue is terminated",
}


def call_now_refusal(callback: Callback, queue: Queue, *, now: datetime, on_dnc: bool,
                     excluded: bool) -> Reason | None:
    """Why an agent's Call Now may not dial now (None: it may): the due decision's own rules, asked ahead of
    time, so that the agent is told at once instead of seeing the callback held."""
    decision = decide_due(callback, queue, now=now, on_dnc=on_dnc, excluded=excluded)
    if isinstance(decision, (Hold, End)):
        return decision.reason
    return None


def decide_postponed(callback: Callback, postpone: Postpone, *, now: datetime) -> Hold | End:
    """Routing found no agent to take it now (docs/design.md section 5)."""
    return _hold_or_expire(callback, postpone.reason, now + postpone.delay, strict_retry=postpone.strict_retry)


# The states in which an older callback is overwritten by a newer one for the same contact and queue; one
# already in progress is left alone (its call is live).
OVERWRITTEN_STATES = frozenset({CallbackState.SCHEDULED, CallbackState.QUEUED, CallbackState.WAITING_FOR_QUEUE})


def overwritten_by(new: Callback, active: Sequence[Callback]) -> list[Callback]:
    """The older active callbacks that a new one for the same contact and queue overwrites."""
    return [c for c in active
            if c.id != new.id and c.queue_id == new.queue_id and c.destination == new.destination
            and c.state in OVERWRITTEN_STATES]


def ended_by_exclusion(number: str, active: Sequence[Callback]) -> list[Callback]:
    """The number was added to the exclusion list (seed 000): its waiting callbacks end at once as
    contact_excluded. One in a live attempt is left to its call; its next due decision ends it so."""
    return [c for c in active if c.destination == number and c.state in sources_of(Reason.CONTACT_EXCLUDED)]


def cancelled_by_inbound(caller_number: str, withheld: bool, active: Sequence[Callback], *,
                         answered_in: str | None = None) -> list[Callback]:
    """The contact called in: their pending callbacks are cancelled, except one already in progress. A
    withheld or empty number cancels nothing. A caller's own callback (asked for while waiting in a queue) is
    not cancelled by the call reaching the PBX, which may be the caller asking again, but once a queue call
    of theirs is answered (`answered_in`: the cbdialer queue it was answered in; seed 004, docs/design.md
    section 14): then that queue's callers' callbacks of the number, and nothing else, are cancelled."""
    if withheld or not caller_number:
        return []
    pending = [c for c in active
               if c.destination == caller_number
               and c.state in (CallbackState.SCHEDULED, CallbackState.QUEUED, CallbackState.WAITING_FOR_QUEUE)]
    if answered_in is None:
        return [c for c in pending if c.origin is not CallbackOrigin.CALLER]
    return [c for c in pending if c.origin is CallbackOrigin.CALLER and c.queue_id == answered_in]

