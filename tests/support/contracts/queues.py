"""The queues' conformance suite: queues round-trip, are created once, updated without their status, and
started or stopped with their waiting callbacks; a queue's shift metrics."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta
from decimal import Decimal

from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import CompletionStatus, Queue, QueueSettings, QueueStatus
from cbdialer.ports import StateChange
from tests.support.contracts.common import (
    LEASE,
    QUEUE,
    T0,
    Store,
    add_agent,
    end,
    live_call,
    make_callback,
    row_of,
)


class QueueContract:
    async def test_due_per_hour_counts_what_waits_by_utc_hour_the_overdue_in_the_first(self, store: Store) -> None:
        for minutes, number in ((-90, "+442079460101"), (5, "+442079460102"), (50, "+442079460103"),
                                (70, "+442079460104"), (60 * 30, "+442079460105")):
            await store.add_callback(make_callback(T0 + timedelta(minutes=minutes), destination=number), actor="t")
        gone = await store.add_callback(make_callback(T0 + timedelta(minutes=10), destination="+442079460106"),
                                        actor="t")
        assert await store.transition(gone.id, expected=CallbackState.SCHEDULED, to=CallbackState.CANCELLED,
                                      reason=Reason.CANCELLED, now=T0, actor="t") is not None
        since = T0 + timedelta(minutes=1)
        assert await store.due_per_hour("sales", since=since, until=T0 + timedelta(hours=24)) == {
            T0: 3, T0 + timedelta(hours=1): 1}  # the overdue one, 09:05 and 09:50; 10:10; not the one in 30 h
        assert await store.due_per_hour("support", since=since, until=T0 + timedelta(hours=24)) == {}

    async def test_a_queue_is_created_once_and_queues_are_listed_by_id(self, store: Store) -> None:
        support = Queue(id="support", name="Support", settings=QueueSettings(max_concurrent_calls=3, caller_id="+44"),
                        skills=frozenset({"en", "de"}))
        assert await store.create_queue(support) is True
        assert await store.create_queue(dataclasses.replace(support, name="Other")) is False
        assert await store.create_queue(Queue(id="night", name="Night", status=QueueStatus.STOPPED)) is True
        assert await store.get_queue("support") == support
        assert [q.id for q in await store.queues()] == ["night", "sales", "support"]
        assert (await store.queues())[0].status is QueueStatus.STOPPED

    async def test_save_queue_writes_the_whole_queue(self, store: Store) -> None:
        changed = dataclasses.replace(QUEUE, name="Sales UK", status=QueueStatus.OFF_SCHEDULE, skills=frozenset(),
                                      settings=dataclasses.replace(QUEUE.settings, calls_per_second=0.5))
        await store.save_queue(changed)
        assert await store.get_queue("sales") == changed

    async def test_an_update_changes_name_settings_and_skills_but_not_the_status(self, store: Store) -> None:
        assert await store.set_queue_running("sales", False, now=T0, actor="test") == 0
        updated = dataclasses.replace(QUEUE, name="Sales UK", skills=frozenset({"en"}),
                                      settings=dataclasses.replace(QUEUE.settings, wrap_up_time=30))
        assert await store.update_queue(updated) is True
        assert await store.get_queue("sales") == dataclasses.replace(updated, status=QueueStatus.STOPPED)
        assert await store.update_queue(Queue(id="nobody", name="Nobody")) is False
        assert await store.get_queue("nobody") is None

    async def test_stopping_a_queue_parks_its_waiting_callbacks_and_starting_it_reschedules_them(
            self, store: Store) -> None:
        await store.save_queue(Queue(id="support", name="Support"))
        later = T0 + timedelta(hours=1)
        scheduled, queued, live = make_callback(later), make_callback(), make_callback()
        other_queue, done = make_callback(later, queue_id="support"), make_callback(later)
        for c in (scheduled, queued, live, other_queue, done):
            await store.add_callback(c, actor="test")
        owner = uuid.uuid4()
        assert len(await store.claim_due(owner, now=T0, limit=10, lease=LEASE)) == 2  # queued and live
        await store.transition(live.id, expected=CallbackState.QUEUED, to=CallbackState.IN_PROGRESS,
                               reason=Reason.DIALING, now=T0, actor="dialer", owner=owner, keep_lease=True)
        await store.transition(done.id, expected=CallbackState.SCHEDULED, to=CallbackState.CANCELLED,
                               reason=Reason.CANCELLED, now=T0, actor="test")
        stop = T0 + timedelta(minutes=1)
        assert await store.set_queue_running("sales", False, now=stop, actor="supervisor:ann") == 2
        assert (await store.get_queue("sales")).status is QueueStatus.STOPPED

        async def state(c: object) -> tuple[CallbackState, Reason]:
            stored = await store.get_callback(c.id)  # type: ignore[attr-defined]
            return stored.state, stored.reason

        assert [await state(c) for c in (scheduled, queued, live, other_queue, done)] == [
            (CallbackState.WAITING_FOR_QUEUE, Reason.QUEUE_STOPPED), (CallbackState.WAITING_FOR_QUEUE,
                                                                       Reason.QUEUE_STOPPED),
            (CallbackState.IN_PROGRESS, Reason.DIALING), (CallbackState.SCHEDULED, Reason.CREATED),
            (CallbackState.CANCELLED, Reason.CANCELLED)]
        assert (await store.history(queued.id))[-1] == StateChange(
            stop, CallbackState.QUEUED, CallbackState.WAITING_FOR_QUEUE, Reason.QUEUE_STOPPED, "supervisor:ann",
            T0 + LEASE)
        assert (await store.history(scheduled.id))[-1].due_at == later
        assert ((await row_of(store, queued.id))["lease_owner"], (await row_of(store, live.id))["lease_owner"]) == (
            None, owner)  # the parked one left its lease
        assert await store.set_queue_running("sales", False, now=stop, actor="supervisor:ann") == 0
        go = T0 + timedelta(minutes=2)
        assert await store.set_queue_running("sales", True, now=go, actor="supervisor:bob") == 2
        assert (await store.get_queue("sales")).status is QueueStatus.ACTIVE
        # Due at once if its start has come, else at its start.
        assert [(c.state, c.reason, c.due_at) for c in
                [await store.get_callback(scheduled.id), await store.get_callback(queued.id)]] == [
            (CallbackState.SCHEDULED, Reason.QUEUE_STARTED, later), (CallbackState.SCHEDULED, Reason.QUEUE_STARTED, go)]
        assert (await store.history(queued.id))[-1] == StateChange(
            go, CallbackState.WAITING_FOR_QUEUE, CallbackState.SCHEDULED, Reason.QUEUE_STARTED, "supervisor:bob", go)
        assert await store.set_queue_running("nobody", True, now=go, actor="test") is None

    async def test_terminating_a_queue_ends_what_waits_and_it_stays_terminated(self, store: Store) -> None:
        """Seed 000's "Campaign Terminated": waiting callbacks end as queue_terminated; a live call is left."""
        await store.save_queue(Queue(id="support", name="Support"))
        later = T0 + timedelta(hours=1)
        scheduled, queued, live = make_callback(later), make_callback(), make_callback()
        parked, other_queue = make_callback(later), make_callback(later, queue_id="support")
        for c in (scheduled, queued, live, parked, other_queue):
            await store.add_callback(c, actor="test")
        owner = uuid.uuid4()
        assert len(await store.claim_due(owner, now=T0, limit=10, lease=LEASE)) == 2  # queued and live
        await store.transition(live.id, expected=CallbackState.QUEUED, to=CallbackState.IN_PROGRESS,
                               reason=Reason.DIALING, now=T0, actor="dialer", owner=owner, keep_lease=True)
        await store.transition(parked.id, expected=CallbackState.SCHEDULED, to=CallbackState.WAITING_FOR_QUEUE,
                               reason=Reason.QUEUE_STOPPED, now=T0, actor="test")
        ended_at = T0 + timedelta(minutes=1)
        assert await store.terminate_queue("sales", now=ended_at, actor="supervisor:ann") == 3
        assert (await store.get_queue("sales")).status is QueueStatus.TERMINATED
        states = [(await store.get_callback(c.id)).state for c in (scheduled, queued, parked, live, other_queue)]
        assert states == [CallbackState.QUEUE_TERMINATED] * 3 + [CallbackState.IN_PROGRESS, CallbackState.SCHEDULED]
        assert (await store.history(queued.id))[-1] == StateChange(
            ended_at, CallbackState.QUEUED, CallbackState.QUEUE_TERMINATED, Reason.QUEUE_TERMINATED,
            "supervisor:ann", T0 + LEASE)
        assert (await row_of(store, queued.id))["lease_owner"] is None
        # Terminated for good: neither terminated again, nor started or stopped.
        assert await store.terminate_queue("sales", now=ended_at, actor="test") is None
        assert await store.set_queue_running("sales", True, now=ended_at, actor="test") is None
        assert (await store.get_queue("sales")).status is QueueStatus.TERMINATED
        assert await store.terminate_queue("nobody", now=ended_at, actor="test") is None

    async def test_queue_metrics_count_the_shift(self, store: Store) -> None:
        for agent in ("1001", "1002", "1003"):
            await add_agent(store, agent)
        earlier = T0 - timedelta(hours=1)
        before, attempt, owner = await live_call(store, make_callback(earlier, destination="+442079460010"),
                                                 agent="1003", now=earlier)
        await end(store, before, attempt, owner=owner, agent="1003", now=earlier + timedelta(seconds=5))
        calls = [await live_call(store, make_callback(destination=f"+44207946002{i}"), agent=f"100{i}", now=T0)
                 for i in (1, 2)]
        for (callback, attempt, owner), agent, seconds in zip(calls, ("1001", "1002"), (20.0, 25.5), strict=True):
            await end(store, callback, attempt, owner=owner, agent=agent, now=T0 + timedelta(seconds=seconds))
        missed, attempt, owner = await live_call(store, make_callback(T0 + timedelta(minutes=1),
                                                                      destination="+442079460030"),
                                                 now=T0 + timedelta(minutes=1))
        await end(store, missed, attempt, owner=owner, status=CompletionStatus.NO_ANSWER, dial_status="NOANSWER",
                  now=T0 + timedelta(minutes=2))
        purged = make_callback(T0 + timedelta(hours=1), destination="+442079460040")
        await store.add_callback(purged, actor="test")
        await store.transition(purged.id, expected=CallbackState.SCHEDULED, to=CallbackState.PURGED,
                               reason=Reason.PURGED, now=T0 + timedelta(minutes=3), actor="supervisor:ann")
        await live_call(store, make_callback(T0 + timedelta(minutes=4), destination="+442079460050"),
                        agent="1002", now=T0 + timedelta(minutes=4))
        await store.set_agent_ready("1001", False)
        assert await store.create_queue(Queue(id="support", name="Support"))
        await add_agent(store, "1004", queues=frozenset({"support"}))
        await store.add_callback(make_callback(T0, queue_id="support", destination="+442079460060"), actor="test")
        metrics = (await store.queues_metrics({"sales": T0}))["sales"]
        assert metrics == {"processed": 3, "reached": 2, "to_be_processed": 2,
                           "average_handle_seconds": Decimal("22.75"), "purged": 1, "live_now": 1,
                           "agents_ready": 2, "outcomes": {"handled": 2, "no_answer": 1}}
        assert str(metrics["average_handle_seconds"]) == "22.7500000000000000"  # numeric, as PostgreSQL divides
        later = {"processed": 0, "reached": 0, "to_be_processed": 2, "average_handle_seconds": None, "purged": 0,
                 "live_now": 1, "agents_ready": 2, "outcomes": {}}
        assert await store.queues_metrics({"sales": T0 + timedelta(hours=1)}) == {"sales": later}
        assert (await store.queues_metrics({"sales": earlier}))["sales"]["outcomes"] == {"handled": 3, "no_answer": 1}
        # Many queues in one read, each from its own shift start: the same figures as each read alone, and
        # zeros for a queue with nothing (or none of that name).
        together = await store.queues_metrics({"sales": T0, "support": T0, "nowhere": T0})
        assert together["sales"] == metrics
        empty = {"processed": 0, "reached": 0, "to_be_processed": 0, "average_handle_seconds": None, "purged": 0,
                 "live_now": 0, "agents_ready": 0, "outcomes": {}}
        assert together["nowhere"] == empty
        assert together["support"] == {**empty, "to_be_processed": 1, "agents_ready": 1}
        assert (await store.queues_metrics({"sales": T0 + timedelta(hours=1), "support": earlier}))["sales"] == later
