"""The CallbackStore conformance suite (the scheduler's port), and the callback book's (the callbacks
service's): the in-memory store (tests/unit) and PostgreSQL (tests/integration) run the same tests, so the fake
can be trusted wherever the real one is not at hand."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

import pytest

from cbdialer.domain.book import OVERWRITTEN_STATES
from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import CallbackType, CompletionStatus, Queue
from cbdialer.ports import CallbackQuery, CallbackStore, IdempotencyConflict, StateChange
from tests.support.contracts.common import LEASE, QUEUE, T0, Store, add_agent, live_call, make_callback, row_of


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
        # When each fell due stays with it (the lateness metric).
        assert [c.due_since for c in claimed] == [T0 - timedelta(seconds=30), T0 - timedelta(seconds=20)]
        history = await store.history(earliest.id)
        assert [(h.from_state, h.to_state, h.reason) for h in history][-1] == (
            CallbackState.SCHEDULED, CallbackState.QUEUED, Reason.DUE)
        rest = await store.claim_due(owner, now=T0, limit=10, lease=LEASE)
        assert [c.id for c in rest] == [later.id]
        # ... through a re-claim once its lease ran out.
        again = {c.id: c.due_since for c in await store.claim_due(owner, now=T0 + 3 * LEASE, limit=10, lease=LEASE)}
        assert again[earliest.id] == T0 - timedelta(seconds=30) and again[later.id] == T0 - timedelta(seconds=10)

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


class CallbackBookContract:
    """The callbacks service's side of the book: creates that overwrite and are idempotent, searches, edits."""

    async def test_a_new_callback_overwrites_the_older_ones_of_its_contact_and_queue(self, store: Store) -> None:
        await store.save_queue(Queue(id="support", name="Support"))
        waiting = make_callback(T0 + timedelta(hours=1))
        queued, live = make_callback(), make_callback()
        other_queue = make_callback(T0 + timedelta(hours=1), queue_id="support")
        other_number = make_callback(T0 + timedelta(hours=1), destination="+442079460099")
        done = make_callback(T0 + timedelta(hours=1))
        for c in (waiting, queued, live, other_queue, other_number, done):
            await store.add_callback(c, actor="test")
        owner = uuid.uuid4()
        assert len(await store.claim_due(owner, now=T0, limit=10, lease=LEASE)) == 2
        await store.transition(queued.id, expected=CallbackState.QUEUED, to=CallbackState.QUEUED,
                               reason=Reason.CALL_NOW, now=T0, actor="dialer", owner=owner, keep_lease=True,
                               assigned_agent="1001")
        await store.transition(live.id, expected=CallbackState.QUEUED, to=CallbackState.IN_PROGRESS,
                               reason=Reason.DIALING, now=T0, actor="dialer", owner=owner, keep_lease=True)
        await store.transition(done.id, expected=CallbackState.SCHEDULED, to=CallbackState.CANCELLED,
                               reason=Reason.CANCELLED, now=T0, actor="test")
        new = make_callback(T0 + timedelta(hours=2), created_at=T0 + timedelta(minutes=1))
        created, made = await store.create_callback(new, actor="agent:1001", overwrite=OVERWRITTEN_STATES)
        assert (created, made) == (new, True)
        states = {c.id: (await store.get_callback(c.id)).state
                  for c in (waiting, queued, live, other_queue, other_number, done)}
        assert states == {waiting.id: CallbackState.OVERWRITTEN, queued.id: CallbackState.OVERWRITTEN,
                          live.id: CallbackState.IN_PROGRESS, other_queue.id: CallbackState.SCHEDULED,
                          other_number.id: CallbackState.SCHEDULED, done.id: CallbackState.CANCELLED}
        overwritten = await store.get_callback(queued.id)
        assert (overwritten.reason, overwritten.assigned_agent) == (Reason.OVERWRITTEN, None)
        assert (await store.history(queued.id))[-1] == StateChange(
            new.created_at, CallbackState.QUEUED, CallbackState.OVERWRITTEN, Reason.OVERWRITTEN, "agent:1001",
            T0 + LEASE)
        assert (await store.history(waiting.id))[-1].from_state is CallbackState.SCHEDULED
        assert await store.history(new.id) == [StateChange(new.created_at, None, CallbackState.SCHEDULED,
                                                           Reason.CREATED, "agent:1001", new.due_at)]
        assert ((await row_of(store, queued.id))["lease_owner"], (await row_of(store, live.id))["lease_owner"]) == (
            None, owner)  # the overwritten one left its lease

    async def test_without_overwrite_states_a_new_callback_overwrites_nothing(self, store: Store) -> None:
        older = make_callback()
        await store.add_callback(older, actor="test")
        newer = make_callback(created_at=T0)
        assert await store.create_callback(newer, actor="test") == (newer, True)
        assert [c.id for c in await store.active_for_contact(older.destination, "sales")] == [older.id, newer.id]

    async def test_a_new_callback_starts_with_fresh_counters(self, store: Store) -> None:
        """The insert names the callback's own columns only: counters, status and the agent's callback queue
        take the table's defaults, whatever the Callback carried."""
        callback = make_callback(attempts_count=2, network_failures=1, strict_retries=3,
                                 completion_status=CompletionStatus.NO_ANSWER, assigned_agent="1001")
        stored = await store.add_callback(callback, actor="test")
        assert (stored.attempts_count, stored.network_failures, stored.strict_retries, stored.completion_status,
                stored.assigned_agent) == (0, 0, 0, None, None)
        assert await store.get_callback(callback.id) == stored

    async def test_an_idempotency_key_returns_the_first_callback_and_refuses_another_request(
            self, store: Store) -> None:
        token = uuid.uuid4()
        first = make_callback()
        assert await store.create_callback(first, actor="test", idempotency=(token, "k1", "hash-a")) == (first, True)
        retry = make_callback(destination="+442079460013")
        again, made = await store.create_callback(retry, actor="test", idempotency=(token, "k1", "hash-a"))
        assert (again.id, made) == (first.id, False)
        assert await store.get_callback(retry.id) is None
        with pytest.raises(IdempotencyConflict) as refused:
            await store.create_callback(make_callback(), actor="test", idempotency=(token, "k1", "hash-b"))
        assert refused.value.key == "k1"
        other_token = make_callback()
        assert (await store.create_callback(other_token, actor="test",
                                            idempotency=(uuid.uuid4(), "k1", "hash-b")))[1] is True
        assert len(await store.search_callbacks(CallbackQuery(), limit=10)) == 2

    async def test_a_search_filters_and_pages_newest_first(self, store: Store) -> None:
        await store.save_queue(Queue(id="support", name="Support"))
        oldest = make_callback(created_at=T0 - timedelta(hours=3), created_by="1001")
        support = make_callback(T0 + timedelta(hours=1), created_at=T0 - timedelta(hours=2), queue_id="support",
                                destination="+442079460013")
        tie = [make_callback(created_at=T0 - timedelta(hours=1), type=CallbackType.AGENT, agent_id="1002",
                             team_id="blue") for _ in range(2)]
        for c in (oldest, support, *tie):
            await store.add_callback(c, actor="test")
        await store.transition(oldest.id, expected=CallbackState.SCHEDULED, to=CallbackState.CANCELLED,
                               reason=Reason.CANCELLED, now=T0, actor="test")

        async def ids(limit: int = 10, **filters: object) -> list[uuid.UUID]:
            return [c.id for c in await store.search_callbacks(CallbackQuery(**filters), limit=limit)]

        newest_first = [*sorted((c.id for c in tie), reverse=True), support.id, oldest.id]
        assert await ids() == newest_first
        assert await ids(state=CallbackState.CANCELLED) == [oldest.id]
        assert await ids(queue_id="support") == [support.id]
        assert await ids(agent_id="1002") == newest_first[:2]
        assert await ids(created_by="1001") == [oldest.id]
        assert await ids(destination="+442079460013") == [support.id]
        assert await ids(created_from=T0 - timedelta(hours=2), created_to=T0 - timedelta(hours=1)) == [support.id]
        assert await ids(due_from=T0 + timedelta(hours=1)) == [support.id]
        # A due time is that of callbacks waiting to fall due: the cancelled one has none to search by.
        assert await ids(due_to=T0 + timedelta(hours=1)) == newest_first[:2]
        assert await ids(due_to=T0 + timedelta(hours=1), state=CallbackState.CANCELLED) == []
        page = await store.search_callbacks(CallbackQuery(), limit=1)
        rest = await ids(after=(page[-1].created_at, page[-1].id))
        assert [page[0].id, *rest] == newest_first
        assert await ids(limit=3, after=(tie[0].created_at, max(c.id for c in tie))) == newest_first[1:4]
        # An agent's scope: its own, those meant for it or waiting for it, and its teams'.
        await store.transition(support.id, expected=CallbackState.SCHEDULED, to=CallbackState.SCHEDULED,
                               reason=Reason.POSTPONED, now=T0, actor="test", assigned_agent="1001")
        assert await ids(scope_agent="1001") == [support.id, oldest.id]
        assert await ids(scope_agent="1002") == newest_first[:2]
        assert await ids(scope_agent="1003", scope_teams=frozenset({"blue", "red"})) == newest_first[:2]
        assert await ids(scope_agent="1003") == []
        # And the pending queue callbacks (standard, campaign) of the queues it serves: never an agent callback
        # there, nor one that ended (oldest was cancelled).
        assert await ids(scope_agent="1003", scope_queues=frozenset({"sales"})) == []
        assert await ids(scope_agent="1003", scope_queues=frozenset({"support", "sales"})) == [support.id]

    async def test_an_edit_is_guarded_by_the_state_and_due_time_it_was_read_in(self, store: Store) -> None:
        callback = make_callback(T0 + timedelta(hours=1))
        await store.add_callback(callback, actor="test")
        later = T0 + timedelta(hours=2)
        wanted = dataclasses.replace(callback, start_at=later, due_at=later, end_at=later + timedelta(hours=1),
                                     remark="after lunch", type=CallbackType.AGENT, agent_id="1002", team_id="blue",
                                     customer_timezone="Europe/Paris", destination="+442079460013")
        edited = await store.edit_callback(callback, wanted, now=T0, actor="supervisor:ann")
        assert edited == dataclasses.replace(wanted, reason=Reason.RESCHEDULED)
        assert (await store.history(callback.id))[-1] == StateChange(
            T0, CallbackState.SCHEDULED, CallbackState.SCHEDULED, Reason.RESCHEDULED, "supervisor:ann", later)
        # Read before the edit: its due time is stale, so the edit is refused.
        assert await store.edit_callback(callback, wanted, now=T0, actor="supervisor:bob") is None
        assert len(await store.history(callback.id)) == 2

    async def test_an_edit_takes_a_queued_callback_back_to_scheduled_and_leaves_the_rest(self, store: Store) -> None:
        queued, live = make_callback(), make_callback(destination="+442079460013")
        for c in (queued, live):
            await store.add_callback(c, actor="test")
        owner = uuid.uuid4()
        await store.claim_due(owner, now=T0, limit=10, lease=LEASE)
        read = await store.transition(queued.id, expected=CallbackState.QUEUED, to=CallbackState.QUEUED,
                                      reason=Reason.CALL_NOW, now=T0, actor="dialer", owner=owner, keep_lease=True,
                                      assigned_agent="1001")
        in_call = await store.transition(live.id, expected=CallbackState.QUEUED, to=CallbackState.IN_PROGRESS,
                                         reason=Reason.DIALING, now=T0, actor="dialer", owner=owner, keep_lease=True)
        later = T0 + timedelta(hours=1)
        edited = await store.edit_callback(read, dataclasses.replace(read, due_at=later, start_at=later),
                                           now=T0 + timedelta(seconds=1), actor="supervisor:ann")
        assert (edited.state, edited.reason, edited.due_at, edited.assigned_agent) == (
            CallbackState.SCHEDULED, Reason.RESCHEDULED, later, None)
        assert [(h.from_state, h.to_state) for h in await store.history(queued.id)][-1] == (
            CallbackState.QUEUED, CallbackState.SCHEDULED)
        assert (await row_of(store, queued.id))["lease_owner"] is None
        assert await store.edit_callback(in_call, dataclasses.replace(in_call, remark="x"), now=T0,
                                         actor="supervisor:ann") is None
        # A callback waiting for its stopped queue keeps its due time; its start moves.
        await store.set_queue_running("sales", False, now=T0, actor="test")
        parked = await store.get_callback(queued.id)
        moved = await store.edit_callback(parked, dataclasses.replace(parked, start_at=later + LEASE,
                                                                      due_at=later + LEASE),
                                          now=T0, actor="supervisor:ann")
        assert (moved.state, moved.start_at, moved.due_at) == (CallbackState.WAITING_FOR_QUEUE, later + LEASE, later)

    async def test_the_watch_shows_what_is_active_or_changed_with_the_last_attempt(self, store: Store) -> None:
        await add_agent(store)
        callback, _, _ = await live_call(store)
        waiting = make_callback(T0 + timedelta(hours=1), destination="+442079460013")
        gone = make_callback(T0 + timedelta(hours=1), destination="+442079460014")
        for c in (waiting, gone):
            await store.add_callback(c, actor="test")
        await store.transition(gone.id, expected=CallbackState.SCHEDULED, to=CallbackState.CANCELLED,
                               reason=Reason.CANCELLED, now=T0 + timedelta(minutes=5), actor="test")
        rows = await store.watch_rows(T0, limit=10)
        assert [r["id"] for r in rows] == sorted([callback.id, gone.id])  # created at the same time: by id
        row = next(r for r in rows if r["id"] == callback.id)
        assert row == {"id": callback.id, "queue_id": "sales", "destination": callback.destination,
                       "state": "in_progress", "reason": "dialing", "completion_status": None, "attempts_count": 0,
                       "due_at": T0 + LEASE, "updated_at": T0, "agent_id": "1001", "interaction_state": "offered"}
        assert [r["id"] for r in await store.watch_rows(T0 + timedelta(minutes=5), limit=10)] == [callback.id]
        assert len(await store.watch_rows(T0 - timedelta(days=1), limit=2)) == 2
