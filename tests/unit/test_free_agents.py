"""The kept pool of free agents (domain/free_agents.py) against the reference (routing over the whole list):
over random queues, agents, callbacks, changes and the passing of time, both choose the same."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from cbdialer.domain.free_agents import FreeAgents
from cbdialer.domain.lifecycle import CallbackState
from cbdialer.domain.models import Callback, CallbackType, Queue, QueueSettings
from cbdialer.domain.routing import AgentView, Offer, SeenBy, route

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
IDS = ("a1", "a2", "a3", "a4", "a5", "a6")
TYPES = tuple(CallbackType)
LIKELY = st.sampled_from((True, True, True, False))
TIMES = st.sampled_from([T0 + timedelta(seconds=s) for s in (-60, 0, 30, 60, 90, 120)])


@st.composite
def queues(draw: st.DrawFn) -> Queue:
    return Queue(id="sales", name="Sales", skills=draw(st.frozensets(st.sampled_from(("en", "fr")), max_size=1)),
                 settings=QueueSettings(callbacks_in_agent_queue=draw(st.integers(0, 3)),
                                        strict_agent_max_retries=draw(st.integers(0, 3)),
                                        agent_wait_time=draw(st.sampled_from((60, 600)))))


@st.composite
def agents(draw: st.DrawFn, agent_id: str) -> tuple[AgentView, datetime | None]:
    # Mostly suitable agents, so that pools often hold several to choose among.
    view = AgentView(
        id=agent_id,
        queues=draw(st.sampled_from([frozenset({"sales"}), frozenset({"sales", "support"}), frozenset({"support"})])),
        skills=draw(st.sampled_from([frozenset({"en", "fr"}), frozenset({"en"}), frozenset()])),
        teams=draw(st.frozensets(st.sampled_from(("blue", "red")))),
        logged_in=draw(LIKELY), ready=draw(LIKELY), busy=draw(st.booleans()),
        idle_since=draw(st.none() | st.sampled_from([T0 - timedelta(minutes=m) for m in range(3)])),
        agent_queue=draw(st.sampled_from(((), (), (CallbackType.STANDARD,)))) + tuple(
            draw(st.lists(st.sampled_from(TYPES), max_size=1))) if draw(st.booleans()) else ())
    return view, draw(st.none() | TIMES)


@st.composite
def callbacks(draw: st.DrawFn) -> Callback:
    type_ = draw(st.sampled_from(TYPES))
    target = draw(st.sampled_from((*IDS, "ghost"))) if type_.has_target_agent else None
    return Callback(id=uuid4(), queue_id="sales", destination="+442079460012", type=type_,
                    state=CallbackState.QUEUED, due_at=T0, start_at=T0, end_at=T0 + timedelta(hours=5),
                    created_at=T0 - timedelta(hours=1), agent_id=target,
                    team_id=draw(st.sampled_from(("blue", "red"))) if type_ is CallbackType.TEAM else None,
                    strict_retries=draw(st.integers(0, 4)),
                    agent_wait_since=draw(st.none() | st.just(T0 - timedelta(minutes=5))),
                    call_now_agent=draw(st.none() | st.sampled_from(IDS)))


def reference(told: dict[str, tuple[AgentView, datetime | None]], now: datetime) -> list[AgentView]:
    """What the agents are at `now`, worked out afresh: busy if told so or until a later time."""
    return [replace(view, busy=view.busy or (until is not None and until > now)) for view, until in told.values()]


# A change: put an agent (its new view), take one away, or let time pass.
changes = st.one_of(
    st.tuples(st.just("put"), st.sampled_from(IDS)),
    st.tuples(st.just("remove"), st.sampled_from(IDS)),
    st.tuples(st.just("advance"), TIMES))


@settings(max_examples=300, deadline=None)
@given(queues(), st.data(), st.lists(callbacks(), min_size=1, max_size=6), st.lists(changes, max_size=12))
def test_property_the_kept_pool_routes_as_the_reference(queue: Queue, data: st.DataObject,
                                                         due: list[Callback], steps: list[tuple]) -> None:
    now = T0 - timedelta(seconds=60)
    pool = FreeAgents(queue, now=now)
    told: dict[str, tuple[AgentView, datetime | None]] = {}
    for agent_id in data.draw(st.lists(st.sampled_from(IDS), unique=True)):
        told[agent_id] = data.draw(agents(agent_id))
        pool.put(*told[agent_id])
    for step in [("advance", now), *steps]:
        match step:
            case ("put", agent_id):
                told[agent_id] = data.draw(agents(agent_id))
                pool.put(*told[agent_id])
            case ("remove", agent_id):
                told.pop(agent_id, None)
                pool.remove(agent_id)
            case ("advance", at):
                now = max(now, at)  # time only moves forward
                pool.advance(at)
        expected = reference(told, now)
        assert sorted(pool.views(), key=lambda v: v.id) == sorted(expected, key=lambda v: v.id)
        assert pool.free_count() == sum(1 for v in expected if not v.busy and queue.id in v.queues
                                        and v.logged_in and v.ready)
        wakes = [until for view, until in told.values() if until is not None and until > now and not view.busy
                 and view.logged_in and view.ready and queue.id in view.queues]
        assert pool.next_free_at() == min(wakes, default=None)
        for callback in due:
            assert route(callback, queue, pool, now=now) == route(callback, queue, expected, now=now)


@settings(max_examples=300, deadline=None)
@given(queues(), st.data(), callbacks(), st.integers(0, 2), TIMES)
def test_property_a_callback_waiting_for_an_agent_sees_only_what_joined_before_it(
        queue: Queue, data: st.DataObject, callback: Callback, place: int, now: datetime) -> None:
    """The agent in whose own callback queue it waits counts only the callbacks ahead of it (SeenBy)."""
    told = {agent_id: data.draw(agents(agent_id)) for agent_id in data.draw(st.lists(st.sampled_from(IDS),
                                                                                      unique=True, min_size=1))}
    pool = FreeAgents(queue, now=T0 - timedelta(seconds=60))
    for view, until in told.values():
        pool.put(view, until)
    pool.advance(now)
    waits_for = data.draw(st.sampled_from(sorted(told)))
    expected = reference(told, now)
    seen = next(v for v in expected if v.id == waits_for)
    seen = replace(seen, agent_queue=seen.agent_queue[:place])
    as_seen = [seen if v.id == waits_for else v for v in expected]
    assert route(callback, queue, SeenBy(pool, queue, seen), now=now) == route(callback, queue, as_seen, now=now)


def test_a_wrap_up_that_ends_frees_the_agent_for_the_next_question() -> None:
    queue = Queue(id="sales", name="Sales")
    pool = FreeAgents(queue, now=T0)
    agent = AgentView("a1", queues=frozenset({"sales"}))
    pool.put(agent, busy_until=T0 + timedelta(seconds=30))
    callback = Callback(id=uuid4(), queue_id="sales", destination="+442079460012", type=CallbackType.STANDARD,
                        state=CallbackState.QUEUED, due_at=T0, start_at=T0, end_at=T0 + timedelta(hours=1),
                        created_at=T0)
    assert (pool.free_count(), pool.get("a1").busy) == (0, True)  # type: ignore[union-attr]
    pool.advance(T0 + timedelta(seconds=30))
    assert pool.free_count() == 1 and route(callback, queue, pool, now=pool.now) == Offer("a1")
    pool.advance(T0)  # time does not go back
    assert pool.free_count() == 1
