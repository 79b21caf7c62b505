"""Overwrite, inbound cancel and the due decision's order of checks (docs/design.md sections 3 and 7)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

from cbdialer.domain.book import (
    End,
    Hold,
    Present,
    Recover,
    cancelled_by_inbound,
    decide_due,
    ended_by_exclusion,
    overwritten_by,
)
from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import Callback, CallbackOrigin, CallbackType, Queue, QueueSettings, QueueStatus

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
QUEUE = Queue(id="sales", name="Sales", settings=QueueSettings())


def cb(state: CallbackState = CallbackState.SCHEDULED, **changes: object) -> Callback:
    values: dict[str, object] = dict(
        id=uuid.uuid4(), queue_id="sales", destination="+442079460012", type=CallbackType.STANDARD, state=state,
        due_at=NOW, start_at=NOW, end_at=NOW + timedelta(hours=5), created_at=NOW - timedelta(hours=1))
    values.update(changes)
    return Callback(**values)  # type: ignore[arg-type]


def test_a_new_callback_overwrites_the_older_ones_of_the_same_contact_and_queue() -> None:
    new = cb()
    older = [cb(), cb(CallbackState.QUEUED), cb(CallbackState.WAITING_FOR_QUEUE)]
    live = cb(CallbackState.IN_PROGRESS)
    elsewhere = cb(queue_id="support")
    other_number = cb(destination="+442079460099")
    assert overwritten_by(new, [*older, live, elsewhere, other_number, new]) == older


def test_an_exclusion_ends_the_numbers_waiting_callbacks_but_not_a_live_one() -> None:
    waiting = [cb(), cb(CallbackState.QUEUED, queue_id="support"), cb(CallbackState.WAITING_FOR_QUEUE)]
    live, other = cb(CallbackState.IN_PROGRESS), cb(destination="+442079460099")
    assert ended_by_exclusion("+442079460012", [*waiting, live, other]) == waiting


def test_an_inbound_call_cancels_pending_callbacks_but_not_a_live_one() -> None:
    pending = [cb(), cb(CallbackState.QUEUED, queue_id="support")]
    live = cb(CallbackState.IN_PROGRESS)
    assert cancelled_by_inbound("+442079460012", False, [*pending, live]) == pending
    assert cancelled_by_inbound("+442079460012", True, pending) == []
    assert cancelled_by_inbound("", False, pending) == []


def test_the_due_decision_checks_expiry_before_everything() -> None:
    expired = cb(start_at=NOW - timedelta(hours=5), end_at=NOW)
    assert decide_due(expired, QUEUE, now=NOW, on_dnc=True, excluded=True) == End(Reason.EXPIRED)
    assert decide_due(cb(), QUEUE, now=NOW, on_dnc=True, excluded=True) == End(Reason.CONTACT_EXCLUDED)
    stopped = dataclasses.replace(QUEUE, status=QueueStatus.STOPPED)
    assert decide_due(cb(), stopped, now=NOW, on_dnc=True, excluded=False) == End(Reason.QUEUE_STOPPED)
    terminated = dataclasses.replace(QUEUE, status=QueueStatus.TERMINATED)
    assert decide_due(cb(), terminated, now=NOW, on_dnc=True, excluded=False) == End(Reason.QUEUE_TERMINATED)


def test_dnc_is_held_until_it_would_outlive_the_callback() -> None:
    decision = decide_due(cb(), QUEUE, now=NOW, on_dnc=True, excluded=False)
    assert decision == Hold(Reason.RESTRICTED_DNC, NOW + timedelta(seconds=1800))
    short = cb(end_at=NOW + timedelta(minutes=10))
    assert decide_due(short, QUEUE, now=NOW, on_dnc=True, excluded=False) == End(Reason.EXPIRED)
    ignore = dataclasses.replace(QUEUE, settings=QueueSettings(apply_dnc=False))
    assert decide_due(cb(), ignore, now=NOW, on_dnc=True, excluded=False) == Present()


def test_an_orphaned_attempt_is_recovered() -> None:
    decision = decide_due(cb(CallbackState.IN_PROGRESS), QUEUE, now=NOW, on_dnc=False, excluded=False)
    assert isinstance(decision, Recover) and decision.step.reason is Reason.OUTCOME_UNKNOWN


def test_no_offer_whose_dial_could_fall_after_the_window_closes() -> None:
    """The window is checked for the moment the customer would be dialled: after the agent's ring (20 s by
    default) and any preview, not only at the claim (docs/design.md section 8)."""
    london = cb(customer_timezone="Europe/London", end_at=NOW + timedelta(days=2))
    before_close = datetime(2026, 11, 24, 20, 59, 45, tzinfo=UTC)  # 20:59:45 in London, window 08:00-21:00
    decision = decide_due(london, QUEUE, now=before_close, on_dnc=False, excluded=False)
    assert decision == Hold(Reason.RESTRICTED_TIME, datetime(2026, 11, 25, 8, 0, tzinfo=UTC))
    in_time = datetime(2026, 11, 24, 20, 59, 39, tzinfo=UTC)  # dialled by 20:59:59
    assert decide_due(london, QUEUE, now=in_time, on_dnc=False, excluded=False) == Present()


def test_with_the_time_restriction_off_only_the_queues_schedule_holds_a_call() -> None:
    """Seed 000's "Enable Time Restriction" (a queue setting, on by default): off, the contact's calling
    window is not applied; the queue's own schedule still is."""
    london = cb(customer_timezone="Europe/London", end_at=NOW + timedelta(days=2))
    night = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)  # 23:30 in London: outside 08:00-21:00
    assert decide_due(london, QUEUE, now=night, on_dnc=False, excluded=False) == Hold(
        Reason.RESTRICTED_TIME, datetime(2026, 11, 25, 8, 0, tzinfo=UTC))
    unrestricted = dataclasses.replace(QUEUE, settings=dataclasses.replace(QUEUE.settings, time_restriction=False))
    assert decide_due(london, unrestricted, now=night, on_dnc=False, excluded=False) == Present()
    assert QueueSettings().time_restriction is True


def test_a_callers_own_callback_survives_calling_again_and_ends_once_a_call_of_theirs_is_answered() -> None:
    asked = cb(origin=CallbackOrigin.CALLER, joined_at=cb().created_at)
    asked_elsewhere = cb(queue_id="support", origin=CallbackOrigin.CALLER, joined_at=cb().created_at)
    agents = cb(CallbackState.QUEUED)
    # Reaching the PBX (maybe to ask again): the place is kept; the agent's callback is cancelled as ever.
    assert cancelled_by_inbound("+442079460012", False, [asked, asked_elsewhere, agents]) == [agents]
    # Answered in the queue 'sales': that queue's own request is no longer owed; nothing else is touched.
    assert cancelled_by_inbound("+442079460012", False, [asked, asked_elsewhere, agents], answered_in="sales") \
        == [asked]
    assert cancelled_by_inbound("+442079460012", True, [asked], answered_in="sales") == []
