"""The dialer's agent directory: presence from Asterisk's device states, Local-channel agents included; and
what present() settles at once, before its I/O runs."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

from cbdialer.adapters.ami import OriginateRequest
from cbdialer.dialer import Dialer
from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import Agent, Callback, CallbackType, Queue, QueueSettings
from cbdialer.domain.routing import EnqueueForAgent, Offer, route
from cbdialer.ports import AgentRecord, Started, StartOutcome

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def record(agent_id: str, dial_string: str) -> AgentRecord:
    return AgentRecord(agent=Agent(id=agent_id, dial_string=dial_string, queues=frozenset({"q"})), ready=True,
                       wrap_up_until=None, reserved_until=None, idle_since=None, waiting=())


class Agents:
    async def agents_of_queue(self, queue_id: str) -> list[AgentRecord]:
        return [record("1", "PJSIP/agent-1001"), record("2", "PJSIP/agent-1002"),
                record("3", "Local/90001@bench-agents"), record("4", "Local/90002@bench-agents")]


async def test_presence_of_sip_and_local_agents() -> None:
    dialer = Dialer(Agents(), None, owner=uuid.uuid4(), clock=lambda: NOW)  # type: ignore[arg-type]
    dialer.board.device_states = {"PJSIP/agent-1001": "NOT_INUSE", "Local/90002@bench-agents": "INUSE"}
    callback = Callback(id=uuid.uuid4(), queue_id="q", destination="+442079460012", type=CallbackType.STANDARD,
                        state=CallbackState.QUEUED, due_at=NOW, start_at=NOW, end_at=NOW + timedelta(hours=1),
                        created_at=NOW)
    views = {v.id: v for v in await dialer.board.agents_for(Queue(id="q", name="q"), callback)}
    assert (views["1"].logged_in, views["1"].busy) == (True, False)
    assert views["2"].logged_in is False  # a SIP endpoint Asterisk does not list is not there
    assert (views["3"].logged_in, views["3"].busy) == (True, False)  # Local: unknowable until used, so idle
    assert (views["4"].logged_in, views["4"].busy) == (True, True)  # once Asterisk reports it, it counts
    # The operator's agents-by-presence: each agent routing read, once, with the presence it was given.
    await dialer.board.agents_for(Queue(id="q2", name="q2"), callback)  # the same agents again, in another queue
    assert dialer.board.presence_counts() == {"not_inuse": 2, "unknown": 1, "inuse": 1}


class OfferStore:
    """Two SIP agents; records what the dialer writes; start_attempt always succeeds."""

    def __init__(self) -> None:
        self.started: list[tuple[uuid.UUID, str]] = []
        self.holds: list[tuple[uuid.UUID, Reason]] = []

    async def agents_of_queue(self, queue_id: str) -> list[AgentRecord]:
        return [record("1", "PJSIP/agent-1001"), record("2", "PJSIP/agent-1002")]

    async def start_attempt(self, callback: Callback, *, agent_id: str, **_: object) -> Started:
        self.started.append((callback.id, agent_id))
        return Started(outcome=StartOutcome.STARTED,
                       callback=dataclasses.replace(callback, state=CallbackState.IN_PROGRESS))

    async def wait(self, callback: Callback, *, reason: Reason, **_: object) -> None:
        self.holds.append((callback.id, reason))


class Phones:
    def __init__(self) -> None:
        self.originated: list[str] = []

    async def originate(self, request: OriginateRequest) -> str:
        self.originated.append(request.channel)
        return "queued"


def due(n: int) -> list[Callback]:
    return [Callback(id=uuid.uuid4(), queue_id="q", destination=f"+44207946001{i}", type=CallbackType.STANDARD,
                     state=CallbackState.QUEUED, due_at=NOW, start_at=NOW, end_at=NOW + timedelta(hours=1),
                     created_at=NOW) for i in range(n)]


async def test_offers_of_one_batch_are_settled_before_their_io_runs() -> None:
    """The scheduler routes a batch one callback at a time and runs the I/O afterwards, side by side: each
    present() must take its agent and dial slot at once, or two callbacks would be offered to one agent."""
    store, phones = OfferStore(), Phones()
    dialer = Dialer(store, phones, owner=uuid.uuid4(), clock=lambda: NOW)  # type: ignore[arg-type]
    dialer.board.device_states = {"PJSIP/agent-1001": "NOT_INUSE", "PJSIP/agent-1002": "NOT_INUSE"}
    dialer.ready.set()
    queue = Queue(id="q", name="q", settings=QueueSettings(max_concurrent_calls=10, calls_per_second=100))
    steps, decisions = [], []
    for callback in due(3):
        decision = route(callback, queue, await dialer.board.agents_for(queue, callback), now=dialer.clock())
        decisions.append(decision)
        steps.append(dialer.present(callback, queue, decision, now=NOW))
    # The third finds both agents taken, and waits in one's own callback queue.
    assert [type(d) for d in decisions] == [Offer, Offer, EnqueueForAgent]
    assert store.started == store.holds == phones.originated == []  # nothing written yet
    await asyncio.gather(*steps)
    assert sorted(agent for _, agent in store.started) == ["1", "2"]
    assert sorted(phones.originated) == ["PJSIP/agent-1001", "PJSIP/agent-1002"]
    assert [reason for _, reason in store.holds] == [Reason.DIAL_SLOT_UNAVAILABLE]
    assert len(dialer.live) == 2 and not dialer._offering


async def test_offers_in_flight_count_against_max_concurrent_calls() -> None:
    store, phones = OfferStore(), Phones()
    dialer = Dialer(store, phones, owner=uuid.uuid4(), clock=lambda: NOW)  # type: ignore[arg-type]
    dialer.board.device_states = {"PJSIP/agent-1001": "NOT_INUSE", "PJSIP/agent-1002": "NOT_INUSE"}
    dialer.ready.set()
    queue = Queue(id="q", name="q", settings=QueueSettings(max_concurrent_calls=1, calls_per_second=100))
    first, second = due(2)
    await dialer.board.agents_for(queue, first)
    step_one = dialer.present(first, queue, Offer("1"), now=NOW)
    step_two = dialer.present(second, queue, Offer("2"), now=NOW)  # its own agent, but no dial slot left
    await asyncio.gather(step_one, step_two)
    assert store.started == [(first.id, "1")]
    assert store.holds == [(second.id, Reason.DIAL_SLOT_UNAVAILABLE)]


async def test_a_wait_for_an_agent_freed_while_it_was_written_is_made_due() -> None:
    """The end's wake (attempt_end) cannot see a wait not yet committed: if the agent is freed while the wait
    is written, the dialer makes the callback due itself."""

    class SlowWaits(OfferStore):
        def __init__(self) -> None:
            super().__init__()
            self.writing, self.written = asyncio.Event(), asyncio.Event()
            self.due: list[uuid.UUID] = []

        async def wait(self, callback: Callback, *, reason: Reason, **_: object) -> None:
            self.writing.set()
            await self.written.wait()
            await super().wait(callback, reason=reason)

        async def due_now(self, callback_id: uuid.UUID, **_: object) -> bool:
            self.due.append(callback_id)
            return True

    store, phones = SlowWaits(), Phones()
    dialer = Dialer(store, phones, owner=uuid.uuid4(), clock=lambda: NOW)  # type: ignore[arg-type]
    dialer.board.device_states = {"PJSIP/agent-1001": "INUSE", "PJSIP/agent-1002": "INUSE"}
    dialer.ready.set()
    queue = Queue(id="q", name="q", settings=QueueSettings(max_concurrent_calls=10, calls_per_second=100))
    quiet, raced = due(2)
    for callback, free_meanwhile in ((quiet, False), (raced, True)):
        decision = route(callback, queue, await dialer.board.pool_for(queue, callback), now=NOW)
        assert isinstance(decision, EnqueueForAgent)
        step = asyncio.ensure_future(dialer.present(callback, queue, decision, now=NOW))
        await asyncio.wait_for(store.writing.wait(), 2)
        if free_meanwhile:
            dialer.board.released(decision.agent_id, wrap_up_until=NOW)
        store.written.set()
        await asyncio.wait_for(step, 2)
        store.writing.clear()
        store.written.clear()
    assert store.due == [raced.id]
