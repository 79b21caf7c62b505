"""The CallbackStore conformance suite: the in-memory store (tests/unit) and PostgreSQL (tests/integration)
run the same tests, so the fake can be trusted wherever the real one is not at hand."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import (
    Callback,
    CallbackType,
    CallingWindow,
    CompletionStatus,
    OpeningHours,
    PreviewMode,
    Queue,
    QueueSettings,
    Schedule,
)
from cbdialer.ports import CallbackStore

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
QUEUE = Queue(id="sales", name="Sales", settings=QueueSettings(
    duration_for_no_answer=25, recall_intervals=(60, 600), preview_mode=PreviewMode.ALWAYS, amd=True,
    calling_window=CallingWindow(time(9, 0), time(20, 30)),
    schedule=Schedule(timezone="Europe/London",
                      weekly=tuple(OpeningHours(d, time(8, 0), time(18, 0)) for d in range(5)),
                      closed_dates=frozenset({date(2026, 12, 25)}))), skills=frozenset({"fr"}))


def make_callback(due_at: datetime = T0, **changes: Any) -> Callback:
    values: dict[str, Any] = {
        "id": uuid.uuid4(), "queue_id": "sales", "destination": "+442079460012", "type": CallbackType.STANDARD,
        "state": CallbackState.SCHEDULED, "due_at": due_at, "start_at": due_at, "end_at": due_at + timedelta(hours=5),
        "created_at": T0 - timedelta(hours=1), "remark": "asked for the manager",
    }
    values.update(changes)
    return Callback(**values)


class StoreContract:
    async def test_a_queue_round_trips_with_every_setting(self, store: CallbackStore) -> None:
        assert await store.get_queue("sales") == QUEUE
        assert await store.get_queue("nobody") is None

    async def test_a_callback_round_trips_and_its_creation_is_audited(self, store: CallbackStore) -> None:
        callback = make_callback(type=CallbackType.STRICT_AGENT, agent_id="1001", customer_timezone="Europe/Paris")
        await store.add_callback(callback, actor="agent:1001")
        assert await store.get_callback(callback.id) == callback
        [created] = await store.history(callback.id)
        assert (created.from_state, created.to_state, created.reason, created.actor) == (
            None, CallbackState.SCHEDULED, Reason.CREATED, "agent:1001")
        assert await store.get_callback(uuid.uuid4()) is None

    async def test_claims_only_what_is_due_in_due_order_up_to_the_limit(self, store: CallbackStore) -> None:
        later = make_callback(T0 - timedelta(seconds=10))
        earliest = make_callback(T0 - timedelta(seconds=30))
        middle = make_callback(T0 - timedelta(seconds=20))
        future = make_callback(T0 + timedelta(seconds=1))
        for c in (later, earliest, middle, future):
            await store.add_callback(c, actor="test")
        owner = uuid.uuid4()
        claimed = await store.claim_due(owner, now=T0, limit=2, lease=LEASE)
        assert [c.id for c in claimed] == [earliest.id, middle.id]
        assert all(c.state is CallbackState.QUEUED and c.reason is Reason.DUE for c in claimed)
        assert all(c.due_at == T0 + LEASE for c in claimed)
        history = await store.history(earliest.id)
        assert [(h.from_state, h.to_state, h.reason) for h in history][-1] == (
            CallbackState.SCHEDULED, CallbackState.QUEUED, Reason.DUE)
        rest = await store.claim_due(owner, now=T0, limit=10, lease=LEASE)
        assert [c.id for c in rest] == [later.id]

    async def test_a_lease_keeps_others_out_until_it_expires(self, store: CallbackStore) -> None:
        callback = make_callback()
        await store.add_callback(callback, actor="test")
        first, second = uuid.uuid4(), uuid.uuid4()
        assert len(await store.claim_due(first, now=T0, limit=10, lease=LEASE)) == 1
        assert await store.claim_due(second, now=T0 + LEASE - timedelta(seconds=1), limit=10, lease=LEASE) == []
        [taken] = await store.claim_due(second, now=T0 + LEASE, limit=10, lease=LEASE)
        assert taken.id == callback.id and taken.state is CallbackState.QUEUED
        # The first owner lost it: its transition is refused.
        assert await store.transition(callback.id, expected=CallbackState.QUEUED, to=CallbackState.IN_PROGRESS,
                                      reason=Reason.DIALING, now=T0 + LEASE, actor="s1", owner=first) is None
        started = await store.transition(callback.id, expected=CallbackState.QUEUED, to=CallbackState.IN_PROGRESS,
                                         reason=Reason.DIALING, now=T0 + LEASE, actor="s2", owner=second,
                                         due_at=T0 + 2 * LEASE, keep_lease=True)
        assert started is not None and started.state is CallbackState.IN_PROGRESS

    async def test_transitions_are_guarded_by_the_expected_state(self, store: CallbackStore) -> None:
        callback = make_callback()
        await store.add_callback(callback, actor="test")
        assert await store.transition(callback.id, expected=CallbackState.QUEUED, to=CallbackState.CANCELLED,
                                      reason=Reason.CANCELLED, now=T0, actor="supervisor:ann") is None
        cancelled = await store.transition(callback.id, expected=CallbackState.SCHEDULED, to=CallbackState.CANCELLED,
                                           reason=Reason.CANCELLED, now=T0, actor="supervisor:ann")
        assert cancelled is not None and cancelled.state is CallbackState.CANCELLED
        assert await store.transition(callback.id, expected=CallbackState.SCHEDULED, to=CallbackState.CANCELLED,
                                      reason=Reason.CANCELLED, now=T0, actor="supervisor:bob") is None
        assert [h.actor for h in await store.history(callback.id)] == ["test", "supervisor:ann"]
        assert await store.claim_due(uuid.uuid4(), now=T0 + timedelta(days=1), limit=10, lease=LEASE) == []

    async def test_an_outcome_records_counters_and_status_and_releases_the_lease(self, store: CallbackStore) -> None:
        callback = make_callback()
        await store.add_callback(callback, actor="test")
        owner = uuid.uuid4()
        await store.claim_due(owner, now=T0, limit=1, lease=LEASE)
        await store.transition(callback.id, expected=CallbackState.QUEUED, to=CallbackState.IN_PROGRESS,
                               reason=Reason.DIALING, now=T0, actor="dialer", owner=owner, due_at=T0 + LEASE,
                               keep_lease=True)
        recall = T0 + timedelta(minutes=1)
        after = await store.transition(callback.id, expected=CallbackState.IN_PROGRESS, to=CallbackState.SCHEDULED,
                                       reason=Reason.NO_ANSWER, now=T0 + timedelta(seconds=20), actor="dialer",
                                       owner=owner, due_at=recall, attempts_count=1,
                                       completion_status=CompletionStatus.NO_ANSWER)
        assert after is not None
        assert (after.state, after.due_at, after.attempts_count, after.completion_status, after.reason) == (
            CallbackState.SCHEDULED, recall, 1, CompletionStatus.NO_ANSWER, Reason.NO_ANSWER)
        # Released: anyone may claim it at its recall time, and not before.
        assert await store.claim_due(uuid.uuid4(), now=recall - timedelta(seconds=1), limit=1, lease=LEASE) == []
        assert len(await store.claim_due(uuid.uuid4(), now=recall, limit=1, lease=LEASE)) == 1

    async def test_heartbeat_extends_and_a_clean_stop_releases(self, store: CallbackStore) -> None:
        a, b = make_callback(), make_callback()
        for c in (a, b):
            await store.add_callback(c, actor="test")
        owner = uuid.uuid4()
        await store.claim_due(owner, now=T0, limit=2, lease=LEASE)
        await store.transition(b.id, expected=CallbackState.QUEUED, to=CallbackState.IN_PROGRESS,
                               reason=Reason.DIALING, now=T0, actor="dialer", owner=owner, due_at=T0 + LEASE,
                               keep_lease=True)
        assert await store.extend_leases(owner, now=T0 + timedelta(seconds=20), lease=LEASE) == 2
        assert await store.claim_due(uuid.uuid4(), now=T0 + LEASE, limit=10, lease=LEASE) == []
        assert await store.release_leases(owner, now=T0 + timedelta(seconds=21)) == 1
        [again] = await store.claim_due(uuid.uuid4(), now=T0 + timedelta(seconds=21), limit=10, lease=LEASE)
        assert again.id == a.id  # the in-progress one stays leased until its lease runs out
        assert await store.next_due_at() == T0 + timedelta(seconds=20) + LEASE

    async def test_the_heartbeat_keeps_only_the_in_progress_leases_of_calls_held(self, store: CallbackStore) -> None:
        held, orphan, waiting = make_callback(), make_callback(), make_callback()
        for c in (held, orphan, waiting):
            await store.add_callback(c, actor="test")
        owner = uuid.uuid4()
        await store.claim_due(owner, now=T0, limit=3, lease=LEASE)
        for c in (held, orphan):  # both in progress; the process holds the call of the first only
            await store.transition(c.id, expected=CallbackState.QUEUED, to=CallbackState.IN_PROGRESS,
                                   reason=Reason.DIALING, now=T0, actor="dialer", owner=owner, due_at=T0 + LEASE,
                                   keep_lease=True)
        later = T0 + timedelta(seconds=20)
        assert await store.extend_leases(owner, now=later, lease=LEASE, holding=[held.id]) == 2
        [taken] = await store.claim_due(uuid.uuid4(), now=T0 + LEASE, limit=10, lease=LEASE)
        assert taken.id == orphan.id  # its lease ran out: a takeover looks at its line

    async def test_next_due_at(self, store: CallbackStore) -> None:
        assert await store.next_due_at() is None
        await store.add_callback(make_callback(T0 + timedelta(minutes=5)), actor="test")
        await store.add_callback(make_callback(T0 + timedelta(minutes=2)), actor="test")
        assert await store.next_due_at() == T0 + timedelta(minutes=2)

    async def test_active_callbacks_of_a_contact(self, store: CallbackStore) -> None:
        await store.save_queue(Queue(id="support", name="Support"))
        mine = make_callback()
        other_queue = make_callback(queue_id="support", created_at=T0)
        other_number = make_callback(destination="+442079460099")
        done = make_callback()
        for c in (mine, other_queue, other_number, done):
            await store.add_callback(c, actor="test")
        await store.transition(done.id, expected=CallbackState.SCHEDULED, to=CallbackState.CANCELLED,
                               reason=Reason.CANCELLED, now=T0, actor="test")
        assert [c.id for c in await store.active_for_contact("+442079460012", "sales")] == [mine.id]
        assert [c.id for c in await store.active_for_contact("+442079460012")] == [mine.id, other_queue.id]

    async def test_dnc_and_exclusion_lists(self, store: CallbackStore) -> None:
        assert not await store.is_dnc("+442079460012")
        await store.add_dnc("+442079460012", actor="supervisor:ann")
        await store.add_dnc("+442079460012", actor="supervisor:ann")
        assert await store.is_dnc("+442079460012") and not await store.is_excluded("+442079460012")
        await store.add_exclusion("+442079460013", actor="supervisor:ann")
        assert await store.is_excluded("+442079460013")
        assert await store.restricted(["+442079460012", "+442079460013", "+442079460014"]) == (
            {"+442079460012"}, {"+442079460013"})
        assert await store.restricted([]) == (set(), set())
