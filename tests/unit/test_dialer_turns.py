"""Callers' turns and callbacks' precedence (dialer/turns.py), with the real scheduler and dialer over the
in-memory store and a fake Asterisk: a caller's callback waits for its place and is released when the caller
ahead leaves; an agent a callback waits for is paused in the Asterisk queue, and unpaused once it is over;
a crashed cbdialer's pauses are lifted at the next LinkUp."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

import pytest

from cbdialer.adapters.memory import MemoryStore
from cbdialer.dialer import Dialer
from cbdialer.dialer.turns import pause_reason, pausing_node
from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import (
    Agent,
    Callback,
    CallbackOrigin,
    CallbackType,
    OpeningHours,
    Queue,
    QueueSettings,
    Schedule,
)
from cbdialer.ports.telephony import (
    DeviceStateChange,
    OriginateRequest,
    QueueCallerJoined,
    QueueCallerLeft,
    QueueMember,
    WaitingCaller,
)
from cbdialer.scheduler import Scheduler

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # a Tuesday: open
QUEUE = Queue(id="sales", name="Sales", settings=QueueSettings(
    asterisk_queue="cbdialer-sandbox", max_concurrent_calls=10, calls_per_second=100,
    schedule=Schedule(timezone="Europe/London", weekly=tuple(OpeningHours(d, time(0), time.max) for d in range(7)))))


class Asterisk:
    """What the dialer asks of Asterisk, answered from lists; pauses are kept as app_queue keeps them."""

    def __init__(self) -> None:
        self.originated: list[str] = []
        self.members: dict[str, QueueMember] = {}
        self.pause_log: list[tuple[str, bool]] = []
        self.connected = True

    async def originate(self, request: OriginateRequest) -> str:
        self.originated.append(request.channel)
        return request.action_id

    async def queue_callers(self) -> list[WaitingCaller]:
        return []

    async def queue_members(self, asterisk_queue: str | None = None, interface: str | None = None
                            ) -> list[QueueMember]:
        return [m for m in self.members.values()
                if asterisk_queue in (None, m.asterisk_queue.casefold()) and interface in (None, m.interface)]

    async def pause_member(self, asterisk_queue: str, interface: str, *, paused: bool, reason: str) -> None:
        self.members[interface] = QueueMember(asterisk_queue, interface, paused, reason if paused else "")
        self.pause_log.append((interface, paused))

    def paused(self) -> set[str]:
        return {i for i, m in self.members.items() if m.paused}


class World:
    def __init__(self) -> None:
        self.now = NOW
        self.store = MemoryStore(lambda: self.now)
        self.asterisk = Asterisk()
        self.dialer = Dialer(self.store, self.asterisk, owner=uuid.uuid4(),  # type: ignore[arg-type]
                             clock=lambda: self.now)
        self.scheduler = Scheduler(self.store, self.dialer, self.dialer.board, owner=self.dialer.owner,
                                   clock=lambda: self.now)
        self.stop = asyncio.Event()

    async def setup(self, *agents: str) -> None:
        await self.store.save_queue(QUEUE)
        for agent in agents:
            await self.store.upsert_agent(Agent(id=agent, dial_string=f"PJSIP/agent-{agent}",
                                                queues=frozenset({"sales"})))
            await self.store.set_agent_ready(agent, True)
        self.dialer.ready.set()
        self.dialer.places.known = True

    async def caller(self, joined_seconds_ago: int, number: str) -> Callback:
        joined = self.now - timedelta(seconds=joined_seconds_ago)
        callback = Callback(id=uuid.uuid4(), queue_id="sales", destination=number, type=CallbackType.STANDARD,
                            state=CallbackState.SCHEDULED, due_at=self.now, start_at=self.now,
                            end_at=self.now + timedelta(hours=4), created_at=self.now,
                            origin=CallbackOrigin.CALLER, joined_at=joined)
        return await self.store.add_callback(callback, actor="test")

    async def state(self, callback: Callback) -> Callback:
        found = await self.store.get_callback(callback.id)
        assert found is not None
        return found


async def eventually(world: World, check: Callable[[], object], timeout: float = 5.0) -> None:
    """Wait for `check()` to hold, the keeper running beside: looked at again after each of its rounds."""
    async with asyncio.timeout(timeout):
        while not check():
            world.dialer.round_kept.clear()
            await world.dialer.round_kept.wait()


async def test_a_callers_callback_waits_for_the_caller_ahead_and_goes_when_that_caller_leaves() -> None:
    world = World()
    await world.setup("1001")
    world.dialer.board.heard_device("PJSIP/agent-1001", "NOT_INUSE")
    places = world.dialer.places
    places.heard(QueueCallerJoined("cbdialer-sandbox", "ahead"), NOW - timedelta(seconds=60))
    places.heard(QueueCallerJoined("cbdialer-sandbox", "behind"), NOW - timedelta(seconds=10))
    mine = await world.caller(30, "+442079460012")
    await world.scheduler.tick()
    waiting = await world.state(mine)
    assert (waiting.state, waiting.reason) == (CallbackState.QUEUED, Reason.WAITING_FOR_PLACE)
    assert world.asterisk.originated == []  # the caller who joined earlier is still waiting
    keeper = asyncio.create_task(world.dialer.keep_turns(world.stop))
    try:
        places.heard(QueueCallerLeft("CBDIALER-SANDBOX", "ahead"), NOW)  # app_queue's names ignore case
        await eventually(world, lambda: world.store._s.callbacks[mine.id].due_at <= world.now)
        await world.scheduler.tick()
        assert world.asterisk.originated == ["PJSIP/agent-1001"]  # ahead of the caller who joined later
    finally:
        world.stop.set()
        await keeper


async def test_an_earlier_callers_callback_goes_first_and_unknown_queues_release_nobody() -> None:
    world = World()
    await world.setup("1001", "1002")
    world.dialer.board.device_states = {"PJSIP/agent-1001": "NOT_INUSE", "PJSIP/agent-1002": "NOT_INUSE"}
    later = await world.caller(20, "+442079460013")
    world.dialer.places.known = False  # the link just came up: the queue is not re-read yet
    await world.scheduler.tick()
    assert (await world.state(later)).reason is Reason.WAITING_FOR_PLACE
    world.dialer.places.known = True
    earlier = await world.caller(40, "+442079460014")  # joined before: created after, but its place is earlier
    world.now += timedelta(seconds=11)
    await world.scheduler.tick()
    assert (await world.state(earlier)).state is CallbackState.IN_PROGRESS
    # Once the earlier one is in its call (no longer pending), the later one's place is reached too.
    world.now += timedelta(seconds=11)
    await world.scheduler.tick()
    assert (await world.state(later)).state is CallbackState.IN_PROGRESS
    assert sorted(world.asterisk.originated) == ["PJSIP/agent-1001", "PJSIP/agent-1002"]


async def test_agents_a_callback_waits_for_are_paused_and_the_one_that_frees_gets_it() -> None:
    world = World()
    await world.setup("1001", "1002")
    world.dialer.board.device_states = {"PJSIP/agent-1001": "INUSE", "PJSIP/agent-1002": "INUSE"}
    standard = Callback(id=uuid.uuid4(), queue_id="sales", destination="+442079460015", type=CallbackType.STANDARD,
                        state=CallbackState.SCHEDULED, due_at=NOW, start_at=NOW, end_at=NOW + timedelta(hours=4),
                        created_at=NOW)
    await world.store.add_callback(standard, actor="test")
    keeper = asyncio.create_task(world.dialer.keep_turns(world.stop))
    try:
        await world.scheduler.tick()  # both busy: it waits in an agent's own callback queue
        assert (await world.state(standard)).reason is Reason.DIAL_SLOT_UNAVAILABLE
        # Either agent could be the one it gets: neither is handed an inbound call first.
        await eventually(world, lambda: world.asterisk.paused() == {"PJSIP/agent-1001", "PJSIP/agent-1002"})
        assert {m.paused_reason for m in world.asterisk.members.values()} == {pause_reason(world.dialer.owner)}
        await world.dialer.on_event(DeviceStateChange("PJSIP/agent-1002", "NOT_INUSE"))
        # Due at once (not at its recheck), and offered to the agent that freed up.
        await eventually(world, lambda: world.store._s.callbacks[standard.id].due_at <= world.now)
        await world.scheduler.tick()
        assert world.asterisk.originated == ["PJSIP/agent-1002"]
        # The other is unpaused; the offered one stays paused until its attempt ends.
        await eventually(world, lambda: world.asterisk.paused() == {"PJSIP/agent-1002"})
        world.dialer.live.clear()  # its attempt ended (and the offer's own note has run out)
        world.now += timedelta(seconds=10)
        world.dialer.turns_changed.set()
        await eventually(world, lambda: world.asterisk.paused() == set())
    finally:
        world.stop.set()
        await keeper


async def test_a_dead_cbdialers_pauses_are_lifted_a_live_ones_are_not_and_a_clean_stop_leaves_none() -> None:
    world = World()
    await world.setup("1001")
    dead, alive = uuid.uuid4(), uuid.uuid4()
    for node in (dead, alive):
        await world.store.register_node(node, hostname="pbx", pid=1, version="test")
    world.asterisk.members = {
        "PJSIP/agent-1001": QueueMember("cbdialer-sandbox", "PJSIP/agent-1001", True, pause_reason(dead)),
        "PJSIP/agent-1002": QueueMember("cbdialer-sandbox", "PJSIP/agent-1002", True, pause_reason(alive)),
        # A supervisor's own pause is not cbdialer's to lift.
        "PJSIP/agent-1003": QueueMember("cbdialer-sandbox", "PJSIP/agent-1003", True, "lunch"),
    }
    keeper = asyncio.create_task(world.dialer.keep_turns(world.stop))
    try:
        # Soon after its last heartbeat a process may just be slow: its pauses stand.
        await world.dialer.reread_pauses()
        assert world.dialer._orphaned == {} and world.dialer._paused == set()
        # Silent that long, one has heartbeaten and the other not: the dead one's pause is lifted, nothing else.
        world.now += world.dialer.node_silence
        assert await world.store.node_heartbeat(alive) is not None
        await world.dialer.reread_pauses()
        assert world.dialer._orphaned == {("cbdialer-sandbox", "PJSIP/agent-1001"): dead}
        world.dialer.turns_changed.set()
        await eventually(world, lambda: world.asterisk.paused() == {"PJSIP/agent-1002", "PJSIP/agent-1003"})
        await world.dialer.pause_for_offer(QUEUE, Agent(id="1001", dial_string="PJSIP/agent-1001"))
        assert world.asterisk.paused() == {"PJSIP/agent-1001", "PJSIP/agent-1002", "PJSIP/agent-1003"}
        assert pausing_node(world.asterisk.members["PJSIP/agent-1001"].paused_reason) == world.dialer.owner
    finally:
        world.stop.set()
        await keeper
    assert world.asterisk.paused() == {"PJSIP/agent-1002", "PJSIP/agent-1003"}


async def test_a_keeper_that_fails_leaves_no_pause_of_its_own_behind() -> None:
    world = World()
    await world.setup("1001")
    keeper = asyncio.create_task(world.dialer.keep_turns(world.stop))
    await world.dialer.pause_for_offer(QUEUE, Agent(id="1001", dial_string="PJSIP/agent-1001"))
    assert world.asterisk.paused() == {"PJSIP/agent-1001"}

    def broken(now: datetime) -> set[tuple[str, str]]:
        raise RuntimeError("a bug")
    world.dialer._wanted = broken  # type: ignore[method-assign]
    world.dialer.turns_changed.set()
    with pytest.raises(RuntimeError, match="a bug"):
        await asyncio.wait_for(keeper, 5)
    assert world.asterisk.paused() == set()


async def test_a_pause_someone_else_took_over_is_never_lifted() -> None:
    world = World()
    await world.setup("1001", "1002")
    other = uuid.uuid4()
    await world.store.register_node(other, hostname="pbx", pid=1, version="test")
    keeper = asyncio.create_task(world.dialer.keep_turns(world.stop))
    try:
        for agent in ("1001", "1002"):
            await world.dialer.pause_for_offer(QUEUE, Agent(id=agent, dial_string=f"PJSIP/agent-{agent}"))
        # Meanwhile a supervisor pauses 1001 for lunch, and another cbdialer wants 1002 paused for its callback.
        await world.asterisk.pause_member("cbdialer-sandbox", "PJSIP/agent-1001", paused=True, reason="lunch")
        await world.asterisk.pause_member("cbdialer-sandbox", "PJSIP/agent-1002", paused=True,
                                          reason=pause_reason(other))
        world.dialer.turns_changed.set()  # nothing of this process wants them any more
        await eventually(world, lambda: world.dialer._paused == set())
        assert world.asterisk.paused() == {"PJSIP/agent-1001", "PJSIP/agent-1002"}
        assert world.asterisk.members["PJSIP/agent-1001"].paused_reason == "lunch"
    finally:
        world.stop.set()
        await keeper
    assert world.asterisk.paused() == {"PJSIP/agent-1001", "PJSIP/agent-1002"}


def test_a_pause_reason_names_its_process_and_nothing_else_is_taken_for_cbdialers() -> None:
    node = uuid.uuid4()
    assert pausing_node(pause_reason(node)) == node
    for other in ("", "lunch", "cbdialer: callback first", f"cbdialer {node}: lunch", f"x{pause_reason(node)}"):
        assert pausing_node(other) is None
