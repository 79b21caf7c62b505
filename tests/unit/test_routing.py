"""Routing of due callbacks (docs/design.md section 5; POM callback management, its worked examples included)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import Callback, CallbackType, InvalidValue, Queue, QueueSettings
from cbdialer.domain.routing import (
    AgentView,
    Decision,
    EnqueueForAgent,
    Offer,
    Postpone,
    route,
    route_many,
    strict_agent_searches,
)

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
STANDARD = CallbackType.STANDARD
CAMPAIGN = CallbackType.CAMPAIGN
AGENT = CallbackType.AGENT
STRICT = CallbackType.STRICT_AGENT
TEAM = CallbackType.TEAM
RETRY = timedelta(seconds=QueueSettings().retry_interval)


def make_callback(type_: CallbackType = STANDARD, agent_id: str | None = None, *, strict_retries: int = 0,
                  queue_id: str = "sales", team_id: str | None = None) -> Callback:
    return Callback(id=uuid4(), queue_id=queue_id, destination="+442079460012", type=type_,
                    state=CallbackState.QUEUED, due_at=T0, start_at=T0, end_at=T0 + timedelta(minutes=300),
                    created_at=T0 - timedelta(hours=1), agent_id=agent_id, strict_retries=strict_retries,
                    team_id=team_id)


def make_queue(*, skills: frozenset[str] = frozenset(), **overrides: int) -> Queue:
    return Queue(id="sales", name="Sales", settings=QueueSettings(**overrides), skills=skills)


def make_agent(id_: str, **overrides: object) -> AgentView:
    fields: dict[str, object] = {"queues": frozenset({"sales"}), "skills": frozenset({"en"}),
                                 "idle_since": T0 - timedelta(minutes=5)}
    fields.update(overrides)
    return AgentView(id_, **fields)  # type: ignore[arg-type]


def busy(id_: str, *waiting: CallbackType, **overrides: object) -> AgentView:
    return make_agent(id_, busy=True, idle_since=None, agent_queue=tuple(waiting), **overrides)


QUEUE = make_queue()


# --- team callbacks (seed 003: "a specific agent or team of agents") ----------------------------------------


def test_a_team_callback_goes_only_to_the_teams_agents_by_the_standard_rules() -> None:
    team = make_callback(TEAM, team_id="blue")
    longest_idle_outsider = make_agent("a1", idle_since=T0 - timedelta(hours=1))
    blue = [make_agent("a2", teams=frozenset({"blue"}), idle_since=T0 - timedelta(minutes=3)),
            make_agent("a3", teams=frozenset({"blue", "red"}), idle_since=T0 - timedelta(minutes=9))]
    assert route(team, QUEUE, [longest_idle_outsider, *blue], now=T0) == Offer("a3")
    assert route(team, QUEUE, [longest_idle_outsider, busy("a2", teams=frozenset({"blue"}))], now=T0) == \
        EnqueueForAgent("a2")
    # Nobody of the team can take it: it waits for the team, however free the others are.
    assert route(team, QUEUE, [longest_idle_outsider], now=T0) == Postpone(Reason.POSTPONED, RETRY)


def test_a_team_callback_needs_its_team() -> None:
    with pytest.raises(InvalidValue, match="needs its team") as refused:
        replace(make_callback(), type=CallbackType.TEAM)
    assert refused.value.field == "team"


# --- strict agent searches (POM examples 1 and 2) -----------------------------------------------------------

def test_pom_example_1_four_searches() -> None:
    assert strict_agent_searches(QueueSettings(strict_agent_max_retries=4, default_end_offset=300 * 60,
                                               retry_interval=30 * 60)) == 4


def test_pom_example_2_end_offset_90_minutes_allows_three_searches() -> None:
    assert strict_agent_searches(QueueSettings(strict_agent_max_retries=4, default_end_offset=90 * 60,
                                               retry_interval=30 * 60)) == 3


@pytest.mark.parametrize(("max_retries", "end_offset", "retry", "expected"), [
    (0, 18000, 1800, 0),  # no strict searches configured: an agent callback at once
    (4, 1000, 1800, 0),  # not even one postponement fits before the end
    (4, 5399, 1800, 2),  # rounds down: a third postponement would land past the end
])
def test_strict_agent_searches_edges(max_retries: int, end_offset: int, retry: int, expected: int) -> None:
    assert strict_agent_searches(QueueSettings(strict_agent_max_retries=max_retries, default_end_offset=end_offset,
                                               retry_interval=retry)) == expected


# --- standard and campaign ------------------------------------------------------------------------------------

@pytest.mark.parametrize("type_", [STANDARD, CAMPAIGN])
def test_standard_offered_to_an_idle_agent_of_the_queue(type_: CallbackType) -> None:
    assert route(make_callback(type_), QUEUE, [make_agent("a1")], now=T0) == Offer("a1")


def test_standard_prefers_the_longest_idle_agent() -> None:
    agents = [make_agent("a1", idle_since=T0 - timedelta(minutes=1)),
              make_agent("a2", idle_since=T0 - timedelta(minutes=9)),
              make_agent("a3", idle_since=T0 - timedelta(minutes=3))]
    assert route(make_callback(), QUEUE, agents, now=T0) == Offer("a2")


def test_unknown_idle_start_counts_as_longest_idle() -> None:
    agents = [make_agent("a1", idle_since=T0 - timedelta(days=3)), make_agent("a2", idle_since=None)]
    assert route(make_callback(), QUEUE, agents, now=T0) == Offer("a2")


def test_equally_idle_agents_are_chosen_by_id() -> None:
    agents = [make_agent("a3"), make_agent("a1"), make_agent("a2")]
    assert route(make_callback(), QUEUE, agents, now=T0) == Offer("a1")
    agents = [make_agent("b2", idle_since=None), make_agent("b1", idle_since=None)]
    assert route(make_callback(), QUEUE, agents, now=T0) == Offer("b1")


@pytest.mark.parametrize("unsuitable", [
    make_agent("x", queues=frozenset({"support"})),  # does not serve the queue
    make_agent("x", skills=frozenset()),  # lacks the queue's skill
    make_agent("x", logged_in=False),
    make_agent("x", ready=False),
    make_agent("x", agent_queue=(AGENT,)),  # has a pending callback
])
def test_standard_skips_unsuitable_agents(unsuitable: AgentView) -> None:
    queue = make_queue(skills=frozenset({"en"}))
    assert route(make_callback(), queue, [unsuitable, make_agent("z", idle_since=T0)], now=T0) == Offer("z")
    assert route(make_callback(), queue, [unsuitable], now=T0) == Postpone(Reason.POSTPONED, RETRY, False)


def test_standard_needs_every_skill_of_the_queue() -> None:
    queue = make_queue(skills=frozenset({"en", "fr"}))
    agents = [make_agent("a1", skills=frozenset({"en"})), make_agent("a2", skills=frozenset({"en", "fr", "de"}))]
    assert route(make_callback(), queue, agents, now=T0) == Offer("a2")


def test_standard_prefers_an_idle_agent_to_a_busy_one() -> None:
    agents = [busy("a1"), make_agent("a2")]
    assert route(make_callback(), QUEUE, agents, now=T0) == Offer("a2")


@pytest.mark.parametrize("type_", [STANDARD, CAMPAIGN])
def test_standard_waits_for_a_busy_agent_whose_queue_is_empty(type_: CallbackType) -> None:
    agents = [busy("a2"), busy("a1")]
    assert route(make_callback(type_), QUEUE, agents, now=T0) == EnqueueForAgent("a1")


def test_standard_does_not_enter_a_non_empty_agent_queue() -> None:
    agents = [busy("a1", STANDARD), busy("a2", STRICT)]
    assert route(make_callback(), QUEUE, agents, now=T0) == Postpone(Reason.POSTPONED, RETRY, False)
    assert route(make_callback(), QUEUE, [*agents, busy("a3")], now=T0) == EnqueueForAgent("a3")


def test_no_agent_at_all_postpones_by_the_retry_interval() -> None:
    queue = make_queue(retry_interval=600)
    decision = route(make_callback(), queue, [], now=T0)
    assert decision == Postpone(Reason.POSTPONED, timedelta(minutes=10), False, None)


def test_a_cap_of_zero_lets_no_callback_wait_for_a_busy_agent() -> None:
    queue = make_queue(callbacks_in_agent_queue=0)
    assert route(make_callback(), queue, [busy("a1")], now=T0) == Postpone(Reason.POSTPONED, RETRY, False)
    assert route(make_callback(AGENT, "a1"), queue, [busy("a1")], now=T0) == Postpone(Reason.POSTPONED, RETRY, False,
                                                                              STANDARD)


# --- agent ----------------------------------------------------------------------------------------------------

def test_agent_callback_offered_to_its_idle_agent_even_if_another_is_idle_longer() -> None:
    agents = [make_agent("a1", idle_since=None), make_agent("a2", idle_since=T0)]
    assert route(make_callback(AGENT, "a2"), QUEUE, agents, now=T0) == Offer("a2")


def test_agent_callback_target_need_not_have_the_queues_skills() -> None:
    agents = [make_agent("sup", skills=frozenset())]
    assert route(make_callback(AGENT, "sup"), make_queue(skills=frozenset({"en"})), agents, now=T0) == Offer("sup")


def test_agent_callback_whose_agent_no_longer_serves_the_queue_goes_to_the_queue() -> None:
    # Seed 004: "unavailable ... (for example, on a break, logged out, or no longer handling calls for that queue)"
    moved = make_agent("a1", queues=frozenset({"support"}), idle_since=T0 - timedelta(hours=1))
    assert route(make_callback(AGENT, "a1"), QUEUE, [moved, make_agent("a2")], now=T0) == Offer("a2", STANDARD)


def waiting_for(agent_id: str, since: datetime, type_: CallbackType = AGENT, target: str = "a1") -> Callback:
    """A callback waiting in `agent_id`'s callback queue, whose wait for its named agent began at `since`."""
    return replace(make_callback(type_, target), assigned_agent=agent_id, assigned_at=since, agent_wait_since=since)


def test_agent_callback_waits_for_its_busy_agent_for_the_agent_wait_time_then_goes_to_the_queue() -> None:
    # Seed 004: "Contact continues trying to call the agent for a configurable time ... or if the agent has
    # remained on a call or in call wrapup for too long, the call is treated as though no agent was specified".
    queue = make_queue(agent_wait_time=120)
    agents = [busy("a1", AGENT), make_agent("a2")]
    assert route(waiting_for("a1", T0 - timedelta(seconds=119)), queue, agents, now=T0) == EnqueueForAgent("a1")
    assert route(waiting_for("a1", T0 - timedelta(seconds=120)), queue, agents, now=T0) == Offer("a2", STANDARD)
    # Everyone else busy: the standard rules, so it waits in a busy agent's empty callback queue.
    assert route(waiting_for("a1", T0 - timedelta(seconds=120)), queue, [busy("a1", AGENT), busy("a3")],
                 now=T0) == EnqueueForAgent("a3", STANDARD)


def test_agent_callback_that_fell_back_stays_with_the_queue_and_its_agent_may_take_it_as_anyone() -> None:
    # Waiting in a3's callback queue after the fallback (the wait began long ago): not sent back to a1 to wait
    # again, but "as though no agent was specified", so a1 takes it like any agent once it is the longest idle.
    fell_back = replace(waiting_for("a3", T0 - timedelta(hours=1)), agent_wait_since=T0 - timedelta(hours=1))
    a1_idle = make_agent("a1", idle_since=T0 - timedelta(minutes=20))
    assert route(fell_back, QUEUE, [a1_idle, busy("a3", AGENT), make_agent("a2", idle_since=T0 - timedelta(minutes=9))],
                 now=T0) == Offer("a1", STANDARD)
    assert route(fell_back, QUEUE, [busy("a1", AGENT, AGENT), busy("a3")], now=T0) == EnqueueForAgent("a3", STANDARD)
    # Its only agent, busy: it waits for the queue's agents, never postponed away from an agent who can take it.
    assert route(fell_back, QUEUE, [busy("a1")], now=T0) == EnqueueForAgent("a1", STANDARD)


def test_agent_wait_time_zero_sends_a_busy_named_agents_callback_to_the_queue_at_once() -> None:
    queue = make_queue(agent_wait_time=0)
    assert route(waiting_for("a1", T0), queue, [busy("a1", AGENT), make_agent("a2")], now=T0) == Offer("a2", STANDARD)
    # Not yet waiting (first routed): it joins the agent's queue, and falls back on the next look.
    assert route(make_callback(AGENT, "a1"), queue, [busy("a1"), make_agent("a2")], now=T0) == EnqueueForAgent("a1")


def test_strict_agent_callback_never_falls_back_for_the_agent_wait_time() -> None:
    queue = make_queue(agent_wait_time=0)
    callback = waiting_for("a1", T0 - timedelta(hours=1), STRICT)
    assert route(callback, queue, [busy("a1"), make_agent("a2")], now=T0) == EnqueueForAgent("a1")


def test_routing_needs_an_aware_time() -> None:
    with pytest.raises(InvalidValue) as refused:
        route(make_callback(), QUEUE, [make_agent("a1")], now=T0.replace(tzinfo=None))
    assert refused.value.field == "now"


# --- call now pressed by an agent (seed 003) ----------------------------------------------------------------


def called_now(by: str, type_: CallbackType = STANDARD, target: str | None = None) -> Callback:
    return replace(make_callback(type_, target), call_now_agent=by)


def test_an_agents_call_now_is_offered_to_that_agent_ahead_of_its_own_callback_queue() -> None:
    agents = [make_agent("a1", idle_since=T0 - timedelta(hours=1)), make_agent("a2", agent_queue=(AGENT, AGENT))]
    assert route(called_now("a2"), QUEUE, agents, now=T0) == Offer("a2")
    # Even another agent's own callback (one it may see: its team's, say) goes to the agent who pressed.
    assert route(called_now("a2", AGENT, "a1"), QUEUE, agents, now=T0) == Offer("a2")
    assert route(called_now("a2", STRICT, "a1"), QUEUE, agents, now=T0) == Offer("a2")


def test_an_agents_call_now_is_routed_as_usual_while_that_agent_is_on_a_call_then_is_its_again() -> None:
    pressed = called_now("a2")
    assert route(pressed, QUEUE, [make_agent("a1"), busy("a2")], now=T0) == Offer("a1")
    assert route(pressed, QUEUE, [busy("a1"), make_agent("a2")], now=T0) == Offer("a2")


@pytest.mark.parametrize("presser", [
    make_agent("a2", logged_in=False),
    make_agent("a2", ready=False),
    make_agent("a2", queues=frozenset({"support"})),
])
def test_an_agents_call_now_is_routed_as_usual_once_that_agent_is_away(presser: AgentView) -> None:
    assert route(called_now("a2"), QUEUE, [make_agent("a1"), presser], now=T0) == Offer("a1")
    assert route(called_now("gone"), QUEUE, [make_agent("a1")], now=T0) == Offer("a1")


def test_agent_callback_waits_for_its_busy_agent_while_there_is_room() -> None:
    agents = [busy("a1", STANDARD, AGENT, STRICT), make_agent("a2")]
    queue = make_queue(callbacks_in_agent_queue=4)
    assert route(make_callback(AGENT, "a1"), queue, agents, now=T0) == EnqueueForAgent("a1")


def test_agent_callback_whose_agent_queue_is_full_becomes_standard() -> None:
    queue = make_queue(callbacks_in_agent_queue=2)
    agents = [busy("a1", AGENT, STRICT), make_agent("a2")]
    assert route(make_callback(AGENT, "a1"), queue, agents, now=T0) == Offer("a2", STANDARD)


@pytest.mark.parametrize("target", [
    make_agent("a1", logged_in=False),
    make_agent("a1", ready=False),
    busy("a1", ready=False),
])
def test_agent_callback_whose_agent_is_away_goes_to_another_agent_of_the_queue(target: AgentView) -> None:
    agents = [target, make_agent("a2")]
    assert route(make_callback(AGENT, "a1"), QUEUE, agents, now=T0) == Offer("a2", STANDARD)


def test_agent_callback_whose_agent_is_unknown_counts_as_logged_off() -> None:
    assert route(make_callback(AGENT, "gone"), QUEUE, [make_agent("a2")], now=T0) == Offer("a2", STANDARD)


def test_agent_callback_as_standard_follows_the_standard_rules() -> None:
    # converted: only a busy agent with an empty queue may take it, the full target is never chosen
    queue = make_queue(callbacks_in_agent_queue=1)
    agents = [busy("a1", STANDARD), busy("a2", AGENT), busy("a3")]
    assert route(make_callback(AGENT, "a1"), queue, agents, now=T0) == EnqueueForAgent("a3", STANDARD)
    assert route(make_callback(AGENT, "a1"), queue, agents[:2], now=T0) == Postpone(Reason.POSTPONED, RETRY, False,
                                                                            STANDARD)


def test_idle_target_with_callbacks_waiting_gets_the_new_one_behind_them() -> None:
    target = make_agent("a1", agent_queue=(AGENT,))
    assert route(make_callback(AGENT, "a1"), QUEUE, [target], now=T0) == EnqueueForAgent("a1")
    assert route(make_callback(STRICT, "a1"), QUEUE, [target], now=T0) == EnqueueForAgent("a1")


# --- strict agent ---------------------------------------------------------------------------------------------

def test_strict_callback_offered_to_its_idle_agent() -> None:
    assert route(make_callback(STRICT, "a1"), QUEUE, [make_agent("a2", idle_since=None), make_agent("a1")], now=T0) \
        == Offer("a1")


def test_strict_callback_waits_for_its_busy_agent_while_there_is_room() -> None:
    assert route(make_callback(STRICT, "a1"), QUEUE, [busy("a1", STANDARD), make_agent("a2")], now=T0) \
        == EnqueueForAgent("a1")


def test_strict_callback_whose_agent_queue_is_full_is_postponed_as_a_strict_retry() -> None:
    queue = make_queue(callbacks_in_agent_queue=1, retry_interval=900)
    decision = route(make_callback(STRICT, "a1"), queue, [busy("a1", STANDARD), make_agent("a2")], now=T0)
    assert decision == Postpone(Reason.POSTPONED, timedelta(minutes=15), True, None)


@pytest.mark.parametrize("agents", [
    [make_agent("a1", logged_in=False), make_agent("a2")],
    [make_agent("a1", ready=False), make_agent("a2")],
    [busy("a1", logged_in=False), make_agent("a2")],
    [make_agent("a2")],  # unknown target
])
def test_strict_callback_whose_agent_is_away_is_postponed_never_given_to_another(agents: list[AgentView]) -> None:
    assert route(make_callback(STRICT, "a1"), QUEUE, agents, now=T0) == Postpone(Reason.AGENT_UNAVAILABLE, RETRY, True)


def test_strict_callback_after_its_searches_is_an_agent_callback() -> None:
    exhausted = make_callback(STRICT, "a1", strict_retries=4)
    assert route(exhausted, QUEUE, [make_agent("a1"), make_agent("a2", idle_since=None)], now=T0) == Offer("a1", AGENT)
    assert route(exhausted, QUEUE, [busy("a1"), make_agent("a2")], now=T0) == EnqueueForAgent("a1", AGENT)
    # and, as an agent callback whose agent is away, it becomes standard
    assert route(exhausted, QUEUE, [make_agent("a1", ready=False), make_agent("a2")], now=T0) == Offer("a2", STANDARD)
    full = make_queue(callbacks_in_agent_queue=1)
    assert route(exhausted, full, [busy("a1", AGENT), busy("a2")], now=T0) == EnqueueForAgent("a2", STANDARD)
    assert route(exhausted, QUEUE, [make_agent("a1", logged_in=False)], now=T0) \
        == Postpone(Reason.POSTPONED, RETRY, False, STANDARD)


def _walk_strict(queue: Queue, agents: list[AgentView]) -> list[Decision]:
    """Route one strict callback again and again, as the dialer would after each postponement."""
    decisions: list[Decision] = []
    retries = 0
    while True:
        decision = route(make_callback(STRICT, "A", strict_retries=retries), queue, agents, now=T0)
        decisions.append(decision)
        if not isinstance(decision, Postpone):
            return decisions
        assert decision.strict_retry
        retries += 1


def test_pom_example_1_agent_a_away_four_postponements_then_any_agent_with_the_skill() -> None:
    queue = make_queue(skills=frozenset({"en"}), strict_agent_max_retries=4, default_end_offset=300 * 60,
                       retry_interval=30 * 60)
    agents = [make_agent("A", logged_in=False), make_agent("B", skills=frozenset()), make_agent("C")]
    decisions = _walk_strict(queue, agents)
    postponement = Postpone(Reason.AGENT_UNAVAILABLE, timedelta(minutes=30), True)
    assert decisions == [postponement] * 4 + [Offer("C", STANDARD)]


def test_pom_example_1_agent_a_available_or_busy() -> None:
    queue = make_queue(strict_agent_max_retries=4, default_end_offset=300 * 60, retry_interval=30 * 60)
    assert _walk_strict(queue, [make_agent("A"), make_agent("B", idle_since=None)]) == [Offer("A")]
    assert _walk_strict(queue, [busy("A"), make_agent("B")]) == [EnqueueForAgent("A")]


def test_pom_example_2_three_postponements_then_any_agent() -> None:
    queue = make_queue(strict_agent_max_retries=4, default_end_offset=90 * 60, retry_interval=30 * 60)
    decisions = _walk_strict(queue, [make_agent("A", ready=False), make_agent("B")])
    postponement = Postpone(Reason.AGENT_UNAVAILABLE, timedelta(minutes=30), True)
    assert decisions == [postponement] * 3 + [Offer("B", STANDARD)]


# --- batches --------------------------------------------------------------------------------------------------

def test_pom_cap_example_one_standard_waiting_twelve_strict_mature() -> None:
    queue = make_queue(callbacks_in_agent_queue=10)
    callbacks = [make_callback(STRICT, "A") for _ in range(12)]
    decisions = route_many(callbacks, queue, [busy("A", STANDARD), make_agent("B")], now=T0)
    assert decisions == [EnqueueForAgent("A")] * 9 + [Postpone(Reason.POSTPONED, RETRY, True)] * 3


def test_batch_offer_makes_the_agent_busy_for_the_next_callbacks() -> None:
    agents = [make_agent("a1", idle_since=None), make_agent("a2")]
    callbacks = [make_callback(), make_callback(), make_callback(), make_callback(), make_callback()]
    assert route_many(callbacks, QUEUE, agents, now=T0) == [
        Offer("a1"), Offer("a2"),
        EnqueueForAgent("a1"), EnqueueForAgent("a2"),  # each busy agent takes one standard, into an empty queue
        Postpone(Reason.POSTPONED, RETRY, False),  # a standard never waits behind another callback
    ]


def test_batch_agent_callbacks_fill_the_target_then_become_standard() -> None:
    queue = make_queue(callbacks_in_agent_queue=2)
    callbacks = [make_callback(AGENT, "a1") for _ in range(4)]
    assert route_many(callbacks, queue, [make_agent("a1"), make_agent("a2")], now=T0) == [
        Offer("a1"), EnqueueForAgent("a1"), EnqueueForAgent("a1"), Offer("a2", STANDARD),
    ]


def test_batch_counts_the_converted_type_in_the_agent_queue() -> None:
    # a1 is full, so the first agent callback becomes standard and waits for busy a2; a standard then may
    # not join a2, and a strict callback for a2 fits behind it
    queue = make_queue(callbacks_in_agent_queue=2)
    callbacks = [make_callback(AGENT, "a1"), make_callback(), make_callback(STRICT, "a2")]
    assert route_many(callbacks, queue, [busy("a1", AGENT, AGENT), busy("a2")], now=T0) == [
        EnqueueForAgent("a2", STANDARD), Postpone(Reason.POSTPONED, RETRY, False), EnqueueForAgent("a2"),
    ]


def test_batch_leaves_the_callers_agents_alone() -> None:
    agents = [make_agent("a1")]
    route_many([make_callback(), make_callback()], QUEUE, agents, now=T0)
    assert agents == [make_agent("a1")]
    assert route_many([], QUEUE, agents, now=T0) == []


# --- inputs ---------------------------------------------------------------------------------------------------

def test_callback_of_another_queue_is_refused() -> None:
    with pytest.raises(InvalidValue) as caught:
        route(make_callback(queue_id="support"), QUEUE, [make_agent("a1")], now=T0)
    assert caught.value.field == "queue_id"


def test_two_views_of_one_agent_are_refused() -> None:
    with pytest.raises(InvalidValue) as caught:
        route(make_callback(), QUEUE, [make_agent("a1"), busy("a1")], now=T0)
    assert caught.value.field == "agents"


def test_idle_since_must_be_aware() -> None:
    with pytest.raises(InvalidValue):
        make_agent("a1", idle_since=datetime(2026, 11, 24, 9, 0))


def test_route_is_deterministic_whatever_the_order_of_agents() -> None:
    agents = [make_agent(f"a{i}", idle_since=T0 - timedelta(minutes=i % 3)) for i in range(6)]
    agents += [busy(f"b{i}") for i in range(4)]
    first = route(make_callback(), QUEUE, agents, now=T0)
    assert first == Offer("a2")
    for shift in range(len(agents)):
        rotated = agents[shift:] + agents[:shift]
        assert route(make_callback(), QUEUE, rotated, now=T0) == first
        assert route(make_callback(), QUEUE, list(reversed(rotated)), now=T0) == first


# --- properties -----------------------------------------------------------------------------------------------

AGENT_IDS = ("a1", "a2", "a3", "a4")
TYPES = tuple(CallbackType)
# Built once: strategies made inside the composite would be rebuilt (and their lambdas described) per example.
QUEUE_IDS = st.frozensets(st.sampled_from(("sales", "support")))
SKILLS = st.frozensets(st.sampled_from(("en", "fr")))
TEAMS = st.frozensets(st.sampled_from(("blue", "red")))
IDLE_SINCE = st.none() | st.sampled_from([T0 - timedelta(minutes=m) for m in range(4)])
TYPE = st.sampled_from(TYPES)
TARGET = st.sampled_from((*AGENT_IDS, "ghost"))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Queue, list[AgentView], list[Callback]]:
    cap = draw(st.integers(0, 4))
    queue = Queue(id="sales", name="Sales", skills=draw(SKILLS),
                  settings=QueueSettings(callbacks_in_agent_queue=cap,
                                         strict_agent_max_retries=draw(st.integers(0, 5)),
                                         retry_interval=draw(st.sampled_from((600, 1800))),
                                         default_end_offset=draw(st.sampled_from((1800, 5400, 18000)))))
    ids = draw(st.lists(st.sampled_from(AGENT_IDS), unique=True))
    agents = [AgentView(
        id=agent_id,
        queues=draw(QUEUE_IDS),
        skills=draw(SKILLS),
        teams=draw(TEAMS),
        logged_in=draw(st.booleans()),
        ready=draw(st.booleans()),
        busy=draw(st.booleans()),
        idle_since=draw(IDLE_SINCE),
        agent_queue=tuple(draw(st.lists(TYPE, max_size=cap))),
    ) for agent_id in ids]
    callbacks = []
    for _ in range(draw(st.integers(0, 12))):
        type_ = draw(TYPE)
        target = draw(TARGET) if type_ in (AGENT, STRICT) else None
        team = draw(st.sampled_from(("blue", "red"))) if type_ is TEAM else None
        callbacks.append(make_callback(type_, target, strict_retries=draw(st.integers(0, 6)), team_id=team))
    return queue, agents, callbacks


def _replay(queue: Queue, agents: list[AgentView], callbacks: list[Callback]) \
        -> list[tuple[Callback, Decision, dict[str, AgentView]]]:
    """Each callback with its decision and the agents as that decision saw them (the model of route_many)."""
    state = {a.id: a for a in agents}
    steps = []
    for callback, decision in zip(callbacks, route_many(callbacks, queue, agents, now=T0), strict=True):
        steps.append((callback, decision, dict(state)))
        if isinstance(decision, Offer):
            state[decision.agent_id] = replace(state[decision.agent_id], busy=True)
        elif isinstance(decision, EnqueueForAgent):
            effective = decision.converted_to or callback.type
            agent = state[decision.agent_id]
            state[decision.agent_id] = replace(agent, agent_queue=(*agent.agent_queue, effective))
    return steps


PROPERTY = settings(max_examples=200, deadline=None)


@PROPERTY
@given(scenarios())
def test_property_no_agent_queue_ever_exceeds_the_cap(scenario: tuple[Queue, list[AgentView], list[Callback]]) \
        -> None:
    queue, agents, callbacks = scenario
    waiting = {a.id: len(a.agent_queue) for a in agents}
    for decision in route_many(callbacks, queue, agents, now=T0):
        if isinstance(decision, EnqueueForAgent):
            waiting[decision.agent_id] += 1
    assert all(count <= queue.settings.callbacks_in_agent_queue for count in waiting.values())


@PROPERTY
@given(scenarios())
def test_property_standard_never_waits_behind_another_callback(
        scenario: tuple[Queue, list[AgentView], list[Callback]]) -> None:
    for callback, decision, seen in _replay(*scenario):
        effective = decision.converted_to or callback.type
        if isinstance(decision, EnqueueForAgent) and effective in (STANDARD, CAMPAIGN, TEAM):
            assert seen[decision.agent_id].agent_queue == ()


@PROPERTY
@given(scenarios())
def test_property_strict_callback_stays_with_its_agent_until_its_searches_are_spent(
        scenario: tuple[Queue, list[AgentView], list[Callback]]) -> None:
    queue, _, _ = scenario
    searches = strict_agent_searches(queue.settings)
    for callback, decision, _seen in _replay(*scenario):
        if callback.type is STRICT and callback.strict_retries < searches:
            assert decision.converted_to is None
            if isinstance(decision, Postpone):
                assert decision.strict_retry
            else:
                assert decision.agent_id == callback.agent_id


@PROPERTY
@given(scenarios())
def test_property_every_decision_is_one_of_three_and_sound(
        scenario: tuple[Queue, list[AgentView], list[Callback]]) -> None:
    queue = scenario[0]
    for callback, decision, seen in _replay(*scenario):
        assert isinstance(decision, Offer | EnqueueForAgent | Postpone)
        if isinstance(decision, Postpone):
            assert decision.reason in (Reason.POSTPONED, Reason.AGENT_UNAVAILABLE)
            assert decision.delay == timedelta(seconds=queue.settings.retry_interval)
            assert decision.strict_retry == (callback.type is STRICT and decision.converted_to is None)
        else:
            agent = seen[decision.agent_id]
            assert agent.logged_in and agent.ready
            if isinstance(decision, Offer):
                assert not agent.busy and agent.agent_queue == ()
            if decision.agent_id != callback.agent_id:  # anyone but the target must suit the queue
                assert queue.id in agent.queues and queue.skills <= agent.skills
                assert decision.converted_to in (None, STANDARD)
                assert callback.type in (STANDARD, CAMPAIGN, TEAM) or decision.converted_to is STANDARD
            if callback.type is TEAM:  # a team's callback: only ever one of the team's agents
                assert callback.team_id in agent.teams


@PROPERTY
@given(scenarios(), st.randoms(use_true_random=False))
def test_property_route_ignores_the_order_of_agents(scenario: tuple[Queue, list[AgentView], list[Callback]],
                                                   rng: object) -> None:
    queue, agents, callbacks = scenario
    shuffled = list(agents)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert route_many(callbacks, queue, shuffled, now=T0) == route_many(callbacks, queue, agents, now=T0)
