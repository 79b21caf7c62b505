"""The scheduler shell over the in-memory store, with a fake dialer and a fixed agent directory: each of
the core's decisions is carried out, and run() wakes for NOTIFY, the next due time and stop."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Literal

import pytest

from cbdialer.adapters.memory import MemoryStore
from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import (
    Callback,
    CallbackType,
    CallingWindow,
    OpeningHours,
    Queue,
    QueueSettings,
    QueueStatus,
    Schedule,
)
from cbdialer.domain.routing import AgentView, EnqueueForAgent, Offer
from cbdialer.ports import StoreUnavailable
from cbdialer.scheduler import Scheduler

# A Tuesday, 10:00 in London (GMT in November): open, and inside the calling window.
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
SETTINGS = QueueSettings(retry_interval=1800, recall_intervals=(600,),
                         schedule=Schedule(timezone="Europe/London",
                                           weekly=tuple(OpeningHours(d, time(8, 0), time(18, 0)) for d in range(5))))
QUEUE = Queue(id="sales", name="Sales", settings=SETTINGS)
IDLE = AgentView(id="1001", queues=frozenset({"sales"}), idle_since=NOW - timedelta(minutes=5))


class FakeDialer:
    def __init__(self) -> None:
        self.presented: list[tuple[Callback, Offer | EnqueueForAgent]] = []
        self.changed = asyncio.Event()

    async def recover(self, callback: Callback, queue: Queue, *, now: datetime) -> bool:
        return False

    async def present(self, callback: Callback, queue: Queue, decision: Offer | EnqueueForAgent, *,
                      now: datetime) -> None:
        self.presented.append((callback, decision))
        self.changed.set()


class Agents:
    def __init__(self, *views: AgentView) -> None:
        self.views = list(views)

    async def pool_for(self, queue: Queue, callback: Callback) -> Sequence[AgentView]:
        return self.views

    def free_agents(self) -> int | None:
        return None

    def next_free_at(self) -> datetime | None:
        return None


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def callback(**changes: object) -> Callback:
    values: dict[str, object] = dict(
        id=uuid.uuid4(), queue_id="sales", destination="+442079460012", type=CallbackType.STANDARD,
        state=CallbackState.SCHEDULED, due_at=NOW, start_at=NOW, end_at=NOW + timedelta(hours=5),
        created_at=NOW - timedelta(hours=1))
    values.update(changes)
    return Callback(**values)  # type: ignore[arg-type]


@pytest.fixture
async def store() -> MemoryStore:
    memory = MemoryStore()
    await memory.save_queue(QUEUE)
    return memory


def scheduler(store: MemoryStore, dialer: FakeDialer, *agents: AgentView, now: datetime = NOW,
              queue: Queue | None = None, **kwargs: object) -> Scheduler:
    return Scheduler(store, dialer, Agents(*agents), owner=uuid.uuid4(), clock=Clock(now), **kwargs)  # type: ignore[arg-type]


async def add(store: MemoryStore, *callbacks: Callback) -> None:
    for c in callbacks:
        await store.add_callback(c, actor="test")


async def test_a_due_callback_goes_to_the_idle_agent(store: MemoryStore) -> None:
    dialer = FakeDialer()
    due = callback()
    await add(store, due, callback(due_at=NOW + timedelta(seconds=1)))
    assert await scheduler(store, dialer, IDLE).tick() == 1
    [(presented, decision)] = dialer.presented
    assert presented.id == due.id and presented.state is CallbackState.QUEUED
    assert decision == Offer("1001")


async def test_an_expired_callback_is_never_presented(store: MemoryStore) -> None:
    dialer = FakeDialer()
    late = callback(start_at=NOW - timedelta(hours=6), end_at=NOW, due_at=NOW)
    await add(store, late)
    await scheduler(store, dialer, IDLE).tick()
    assert dialer.presented == []
    stored = await store.get_callback(late.id)
    assert stored is not None and (stored.state, stored.reason) == (CallbackState.EXPIRED, Reason.EXPIRED)


async def test_an_excluded_contact_is_not_dialled(store: MemoryStore) -> None:
    dialer = FakeDialer()
    await store.add_exclusion("+442079460012", actor="test")
    excluded = callback()
    await add(store, excluded)
    await scheduler(store, dialer, IDLE).tick()
    stored = await store.get_callback(excluded.id)
    assert stored is not None and stored.state is CallbackState.CONTACT_EXCLUDED and dialer.presented == []


async def test_a_stopped_queue_parks_its_callbacks(store: MemoryStore) -> None:
    await store.save_queue(dataclasses.replace(QUEUE, status=QueueStatus.STOPPED))
    parked = callback()
    await add(store, parked)
    await scheduler(store, FakeDialer(), IDLE).tick()
    stored = await store.get_callback(parked.id)
    assert stored is not None and stored.state is CallbackState.WAITING_FOR_QUEUE


async def test_dnc_holds_when_applied_and_dials_when_not(store: MemoryStore) -> None:
    await store.add_dnc("+442079460012", actor="test")
    dialer = FakeDialer()
    held = callback()
    await add(store, held)
    await scheduler(store, dialer, IDLE).tick()
    stored = await store.get_callback(held.id)
    assert stored is not None and dialer.presented == []
    assert (stored.state, stored.reason, stored.due_at) == (
        CallbackState.SCHEDULED, Reason.RESTRICTED_DNC, NOW + timedelta(seconds=1800))
    await store.save_queue(dataclasses.replace(QUEUE, settings=dataclasses.replace(SETTINGS, apply_dnc=False)))
    await add(store, callback())
    await scheduler(store, dialer, IDLE).tick()
    assert len(dialer.presented) == 1


async def test_off_schedule_waits_for_the_next_opening(store: MemoryStore) -> None:
    evening = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)  # closed at 18:00 London time
    held = callback(due_at=evening, start_at=evening, end_at=evening + timedelta(days=2))
    await add(store, held)
    await scheduler(store, FakeDialer(), IDLE, now=evening).tick()
    stored = await store.get_callback(held.id)
    assert stored is not None
    assert (stored.state, stored.reason, stored.due_at) == (
        CallbackState.SCHEDULED, Reason.OFF_SCHEDULE, datetime(2026, 11, 25, 8, 0, tzinfo=UTC))


async def test_outside_the_contacts_calling_window_waits_for_it(store: MemoryStore) -> None:
    # 10:00 UTC is 05:00 in New York: the queue is open, the customer's window (08:00-21:00) is not.
    held = callback(destination="+12125550123")
    await add(store, held)
    await store.save_queue(dataclasses.replace(QUEUE, settings=dataclasses.replace(
        SETTINGS, schedule=Schedule(timezone="Europe/London"), calling_window=CallingWindow())))
    await scheduler(store, FakeDialer(), IDLE).tick()
    stored = await store.get_callback(held.id)
    assert stored is not None
    assert (stored.state, stored.reason, stored.due_at) == (
        CallbackState.SCHEDULED, Reason.RESTRICTED_TIME, datetime(2026, 11, 24, 13, 0, tzinfo=UTC))


async def test_no_suitable_agent_postpones_by_the_retry_interval(store: MemoryStore) -> None:
    held = callback()
    await add(store, held)
    await scheduler(store, FakeDialer(), dataclasses.replace(IDLE, ready=False)).tick()
    stored = await store.get_callback(held.id)
    assert stored is not None
    assert (stored.state, stored.reason, stored.due_at) == (
        CallbackState.SCHEDULED, Reason.POSTPONED, NOW + timedelta(seconds=1800))
    trail = [(h.from_state, h.to_state, h.reason) for h in await store.history(held.id)]
    assert trail == [(None, CallbackState.SCHEDULED, Reason.CREATED),
                     (CallbackState.SCHEDULED, CallbackState.QUEUED, Reason.DUE),
                     (CallbackState.QUEUED, CallbackState.SCHEDULED, Reason.POSTPONED)]


async def test_a_strict_agent_who_is_away_costs_one_retry(store: MemoryStore) -> None:
    held = callback(type=CallbackType.STRICT_AGENT, agent_id="1001")
    await add(store, held)
    await scheduler(store, FakeDialer(), dataclasses.replace(IDLE, logged_in=False)).tick()
    stored = await store.get_callback(held.id)
    assert stored is not None
    assert (stored.reason, stored.strict_retries) == (Reason.AGENT_UNAVAILABLE, 1)


async def test_a_callback_whose_holder_died_mid_call_is_recovered_without_redial(store: MemoryStore) -> None:
    dead, survivor = uuid.uuid4(), uuid.uuid4()
    orphan = callback()
    await add(store, orphan)
    await store.claim_due(dead, now=NOW, limit=1, lease=timedelta(seconds=30))
    await store.transition(orphan.id, expected=CallbackState.QUEUED, to=CallbackState.IN_PROGRESS,
                           reason=Reason.DIALING, now=NOW, actor="dead", owner=dead,
                           due_at=NOW + timedelta(seconds=30), keep_lease=True)
    dialer = FakeDialer()
    later = NOW + timedelta(seconds=30)
    sched = Scheduler(store, dialer, Agents(IDLE), owner=survivor, clock=Clock(later))
    assert await sched.tick() == 1
    stored = await store.get_callback(orphan.id)
    assert stored is not None and dialer.presented == []
    assert (stored.state, stored.reason, stored.attempts_count, stored.due_at) == (
        CallbackState.SCHEDULED, Reason.OUTCOME_UNKNOWN, 1, later + timedelta(seconds=600))


async def test_run_wakes_on_notify_and_on_the_next_due_time_and_stops(store: MemoryStore) -> None:
    dialer = FakeDialer()
    clock = Clock(NOW)
    sched = Scheduler(store, dialer, Agents(IDLE), owner=uuid.uuid4(), clock=clock, poll_interval=3600)
    stop = asyncio.Event()
    task = asyncio.create_task(sched.run(stop))
    # Nothing due, a one-hour poll: only the wake-up can make it look again.
    await add(store, callback())
    sched.wake.set()
    await asyncio.wait_for(dialer.changed.wait(), 2)
    assert len(dialer.presented) == 1
    stop.set()
    await asyncio.wait_for(task, 2)


async def test_run_sleeps_until_the_earliest_due_time_it_knows(store: MemoryStore) -> None:
    # Real time here: a queue that is always open, for a contact who may be called at any hour.
    await store.save_queue(dataclasses.replace(QUEUE, settings=dataclasses.replace(
        SETTINGS, schedule=Schedule(), calling_window=CallingWindow(time(0, 0), time.max))))
    dialer = FakeDialer()
    start = datetime.now(UTC)
    sched = Scheduler(store, dialer, Agents(IDLE), owner=uuid.uuid4(), clock=lambda: datetime.now(UTC),
                      poll_interval=3600)
    due = start + timedelta(milliseconds=300)
    await add(store, callback(due_at=due, start_at=due, end_at=due + timedelta(hours=5), created_at=start))
    stop = asyncio.Event()
    task = asyncio.create_task(sched.run(stop))
    await asyncio.wait_for(dialer.changed.wait(), 5)  # no NOTIFY, a one-hour poll: the due time woke it
    assert datetime.now(UTC) >= due
    stop.set()
    await asyncio.wait_for(task, 2)


async def test_a_stopping_scheduler_hands_back_what_it_did_not_start(store: MemoryStore) -> None:
    waiting = callback()
    await add(store, waiting)
    owner = uuid.uuid4()
    await store.claim_due(owner, now=NOW, limit=1, lease=timedelta(seconds=30))
    sched = Scheduler(store, FakeDialer(), Agents(), owner=owner, clock=Clock(NOW), poll_interval=3600)
    stop = asyncio.Event()
    stop.set()
    await sched.run(stop)
    assert len(await store.claim_due(uuid.uuid4(), now=NOW, limit=1, lease=timedelta(seconds=30))) == 1


class Gate(asyncio.Event):
    """The dialer's ready event, telling when the scheduler stands waiting at it."""

    def __init__(self) -> None:
        super().__init__()
        self.reached = asyncio.Event()

    async def wait(self) -> Literal[True]:
        self.reached.set()
        return await super().wait()


async def test_nothing_is_claimed_while_the_dialer_is_not_ready(store: MemoryStore) -> None:
    """While the AMI link is down (or presence is not known yet) nothing is claimed: no agent is reserved, no
    attempt written, nothing counted; the callbacks wait in the book, and go once the link is back."""
    waiting = callback()
    await add(store, waiting)
    dialer, ready, stop = FakeDialer(), Gate(), asyncio.Event()
    runner = scheduler(store, dialer, IDLE, ready=ready, poll_interval=0.01)
    claims = 0
    claim_due = store.claim_due

    async def counted_claim(*args: object, **kwargs: object) -> list[Callback]:
        nonlocal claims
        claims += 1
        return await claim_due(*args, **kwargs)  # type: ignore[arg-type]

    store.claim_due = counted_claim  # type: ignore[method-assign]
    runner.wake.set()  # a NOTIFY came: still nothing, the dialer is not ready
    task = asyncio.create_task(runner.run(stop))
    async with asyncio.timeout(5):
        await ready.reached.wait()  # the scheduler stands at the gate
    assert claims == 0 and dialer.presented == []
    assert (await store.get_callback(waiting.id)).state is CallbackState.SCHEDULED  # type: ignore[union-attr]
    ready.set()
    async with asyncio.timeout(5):
        await dialer.changed.wait()
    stop.set()
    await task
    assert [c.id for c, _ in dialer.presented] == [waiting.id]


async def test_an_outage_met_by_a_batch_comes_out_as_one_store_unavailable(store: MemoryStore) -> None:
    """The batch's steps run side by side in a TaskGroup; what the supervisor must see is the outage itself,
    which it rides through, not an ExceptionGroup, which would stop the daemon."""
    await add(store, callback(), callback(destination="+442079460013"))

    class AwayDialer(FakeDialer):
        async def present(self, callback: Callback, queue: Queue, decision: Offer | EnqueueForAgent, *,
                          now: datetime) -> None:
            raise StoreUnavailable("PostgreSQL is away")

    idle_too = dataclasses.replace(IDLE, id="1002")
    with pytest.raises(StoreUnavailable):
        await scheduler(store, AwayDialer(), IDLE, idle_too).tick()


class Board:
    """Agents whose free count the test sets: each offer takes one; the scheduler's sleeps for want of an
    agent are counted (it asks when one frees by time)."""

    def __init__(self, free: int) -> None:
        self.free = free
        self.views = [AgentView(id=f"a{i}", queues=frozenset({"sales"}), idle_since=NOW) for i in range(20)]
        self.waits = asyncio.Semaphore(0)

    async def pool_for(self, queue: Queue, callback: Callback) -> list[AgentView]:
        return self.views

    def free_agents(self) -> int | None:
        return self.free

    def next_free_at(self) -> datetime | None:
        self.waits.release()
        return None


class TakingDialer(FakeDialer):
    def __init__(self, board: Board) -> None:
        super().__init__()
        self.board = board

    async def present(self, callback: Callback, queue: Queue, decision: Offer | EnqueueForAgent, *,
                      now: datetime) -> None:
        self.board.free -= 1
        await super().present(callback, queue, decision, now=now)


async def test_claims_are_sized_to_the_free_agents_and_wait_for_one_to_be_freed(store: MemoryStore) -> None:
    """A burst waits in the book: three free agents, three claimed; then nothing until an agent frees."""
    await add(store, *(callback(destination=f"+4420794600{i:02d}") for i in range(30)))
    board = Board(free=3)
    dialer = TakingDialer(board)
    sched = Scheduler(store, dialer, board, owner=uuid.uuid4(), clock=Clock(NOW), poll_interval=3600)
    stop = asyncio.Event()
    task = asyncio.create_task(sched.run(stop))
    try:
        await asyncio.wait_for(board.waits.acquire(), 5)  # asleep for want of an agent
        assert len(dialer.presented) == 3
        board.free = 2
        sched.agent_freed("a0", NOW)
        await asyncio.wait_for(board.waits.acquire(), 5)
        assert len(dialer.presented) == 5
    finally:
        stop.set()
        await asyncio.wait_for(task, 2)


async def test_agents_left_over_make_the_next_claim_a_whole_batch(store: MemoryStore) -> None:
    """Free agents the claimed callbacks could not use (here: none serves their queue) do not hold the book up:
    the next claim is a whole batch, so that callbacks further on, which could use them, are reached."""
    await add(store, *(callback(destination=f"+4420794601{i:02d}") for i in range(30)))
    board = Board(free=2)
    board.views = [AgentView(id="b0", queues=frozenset({"support"}), idle_since=NOW)]
    limits: list[int] = []
    three = asyncio.Event()
    claim = store.claim_due

    async def claim_due(owner: uuid.UUID, *, limit: int, **kwargs: object) -> list[Callback]:
        limits.append(limit)
        if len(limits) >= 3:
            three.set()
        return await claim(owner, limit=limit, **kwargs)  # type: ignore[arg-type]

    store.claim_due = claim_due  # type: ignore[method-assign]
    sched = Scheduler(store, FakeDialer(), board, owner=uuid.uuid4(), clock=Clock(NOW), poll_interval=3600,
                      batch=10)
    stop = asyncio.Event()
    task = asyncio.create_task(sched.run(stop))
    try:
        await asyncio.wait_for(three.wait(), 5)
        assert limits[:3] == [2, 10, 2]
    finally:
        stop.set()
        await asyncio.wait_for(task, 2)
