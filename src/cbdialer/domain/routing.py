"""Routing of a due callback to an agent (docs/design.md section 5, POM's four callback types).

Rule: `route` looks at one due callback, its queue and the agents as they are at one moment, and returns
exactly one decision (offer it to an idle agent, enqueue it in a busy agent's own callback queue, or postpone
it by the retry interval); it never acts on the decision itself.

The agents come as a list (the reference: every rule below reads it whole) or as an `AgentPool` that answers
routing's three questions itself (domain/free_agents.py keeps one per queue, answering in O(log agents)); a
property test holds the two to the same choices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeAlias

from cbdialer.domain.lifecycle import Reason
from cbdialer.domain.models import Callback, CallbackType, InvalidValue, Queue, QueueSettings, check_aware

_LONGEST_IDLE = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class AgentView:
    """What routing needs to know about one agent at one moment (section 5: device state plus ready flag)."""

    id: str
    queues: frozenset[str] = frozenset()
    skills: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()
    logged_in: bool = True  # the endpoint's device state is not UNAVAILABLE
    ready: bool = True  # not paused / not set "not ready"
    busy: bool = False  # on a call or in wrap-up
    idle_since: datetime | None = None  # None: idle for longer than we know
    agent_queue: tuple[CallbackType, ...] = ()  # callbacks already waiting for this agent, oldest first

    def __post_init__(self) -> None:
        if self.idle_since is not None:
            # Mixing naive and aware times would make the longest-idle choice raise mid-routing.
            check_aware("idle_since", self.idle_since)


@dataclass(frozen=True, slots=True)
class Offer:
    """Present the callback to this idle agent now."""

    agent_id: str
    converted_to: CallbackType | None = None  # the type it was treated as, if not its own


@dataclass(frozen=True, slots=True)
class EnqueueForAgent:
    """The agent is busy: the callback waits in the agent's callback queue, presented after the current call."""

    agent_id: str
    converted_to: CallbackType | None = None


@dataclass(frozen=True, slots=True)
class Postpone:
    """Hold the callback back by `delay` (the queue's retry interval) with `reason`."""

    reason: Reason  # POSTPONED (no suitable agent, or strict agent's queue full) or AGENT_UNAVAILABLE
    delay: timedelta
    strict_retry: bool = False  # counts as one of the strict agent's searches (Callback.strict_retries += 1)
    converted_to: CallbackType | None = None


Decision: TypeAlias = Offer | EnqueueForAgent | Postpone


class AgentPool(Protocol):
    """The agents of one queue as routing asks about them. "Suitable" is `suitable` below; a team narrows the
    question to that team's agents, and `excluded` leaves one agent out."""

    def get(self, agent_id: str) -> AgentView | None:
        """The agent as it is now, or None if it does not serve the queue's pool at all."""
        ...

    def longest_idle(self, team_id: str | None, excluded: str | None) -> AgentView | None:
        """Of the suitable agents that are not busy: the one first by `idle_order` (idle longest)."""
        ...

    def first_busy(self, team_id: str | None, excluded: str | None) -> AgentView | None:
        """Of the suitable agents that are busy: the one first by id."""
        ...


def suitable(agent: AgentView, queue: Queue) -> bool:
    """POM: an agent "who has the matching skills and does not have any pending callback", and can be reached."""
    return _available(agent) and queue.id in agent.queues and queue.skills <= agent.skills and not agent.agent_queue


def idle_order(agent: AgentView) -> tuple[bool, datetime, str]:
    """Longest idle first; an unknown idle start counts as longest; ties by id so that routing is repeatable."""
    return (agent.idle_since is not None, agent.idle_since or _LONGEST_IDLE, agent.id)


class ListedAgents:
    """The reference AgentPool: each question read off the whole list of agents."""

    def __init__(self, queue: Queue, agents: Sequence[AgentView]) -> None:
        self.queue = queue
        self.agents = agents
        self.by_id = _index(agents)

    def get(self, agent_id: str) -> AgentView | None:
        return self.by_id.get(agent_id)

    def _suitable(self, team_id: str | None, excluded: str | None) -> list[AgentView]:
        return [a for a in self.agents if a.id != excluded and (team_id is None or team_id in a.teams)
                and suitable(a, self.queue)]

    def longest_idle(self, team_id: str | None, excluded: str | None) -> AgentView | None:
        return min((a for a in self._suitable(team_id, excluded) if not a.busy), key=idle_order, default=None)

    def first_busy(self, team_id: str | None, excluded: str | None) -> AgentView | None:
        return min((a for a in self._suitable(team_id, excluded) if a.busy), key=lambda a: a.id, default=None)


class SeenBy:
    """A pool as one callback sees it: the agent in whose own callback queue it waits counts only the callbacks
    that joined before it (`seen`, that agent's view with its queue cut there)."""

    def __init__(self, pool: AgentPool, queue: Queue, seen: AgentView) -> None:
        self.pool = pool
        self.queue = queue
        self.seen = seen

    def get(self, agent_id: str) -> AgentView | None:
        return self.seen if agent_id == self.seen.id else self.pool.get(agent_id)

    def _candidate(self, team_id: str | None, excluded: str | None, busy: bool) -> AgentView | None:
        seen = self.seen
        if seen.id == excluded or (team_id is not None and team_id not in seen.teams) or seen.busy is not busy:
            return None
        return seen if suitable(seen, self.queue) else None

    def longest_idle(self, team_id: str | None, excluded: str | None) -> AgentView | None:
        found = [a for a in (self.pool.longest_idle(team_id, excluded), self._candidate(team_id, excluded, False))
                 if a is not None and (a is self.seen or a.id != self.seen.id)]
        return min(found, key=idle_order, default=None)

    def first_busy(self, team_id: str | None, excluded: str | None) -> AgentView | None:
        found = [a for a in (self.pool.first_busy(team_id, excluded), self._candidate(team_id, excluded, True))
                 if a is not None and (a is self.seen or a.id != self.seen.id)]
        return min(found, key=lambda a: a.id, default=None)


def strict_agent_searches(settings: QueueSettings) -> int:
    """How many times a strict agent callback looks for its own agent before it is treated as an agent callback.

    POM example 2: never more searches than postponements fit in the end-time offset, so that the callback
    can still be delivered to someone before it expires.
    """
    return min(settings.strict_agent_max_retries, settings.default_end_offset // settings.retry_interval)


def route(callback: Callback, queue: Queue, agents: Sequence[AgentView] | AgentPool, *, now: datetime) -> Decision:
    """The decision for one due callback of `queue`, given the agents as they are at `now` (a list, or a pool
    that answers for them)."""
    if callback.queue_id != queue.id:
        raise InvalidValue("queue_id", f"callback belongs to queue {callback.queue_id!r}, not {queue.id!r}")
    check_aware("now", now)
    pool: AgentPool = ListedAgents(queue, agents) if isinstance(agents, Sequence) else agents
    if callback.call_now_agent is not None:
        called = _called_now(queue, pool.get(callback.call_now_agent))
        if called is not None:
            return called
    if callback.type is CallbackType.TEAM:
        # A team's callback: the standard rules, among the team's agents only (seed 003).
        return _route_standard(queue, pool, callback.team_id, None, None)
    if not callback.type.has_target_agent:
        return _route_standard(queue, pool, None, None, None)
    assert callback.agent_id is not None  # Callback guarantees a target for agent types
    if callback.type is CallbackType.AGENT:
        if _waited_long_enough(callback, queue.settings, now):
            # "treated as though no agent was specified": the named agent too may take it, by the queue's rules.
            return _route_standard(queue, pool, None, None, CallbackType.STANDARD)
        return _route_agent(queue, pool, pool.get(callback.agent_id), callback.agent_id, None)
    return _route_strict(callback, queue, pool, pool.get(callback.agent_id), callback.agent_id)


def route_many(callbacks: Sequence[Callback], queue: Queue, agents: Sequence[AgentView], *,
               now: datetime) -> list[Decision]:
    """Decisions for callbacks due together, in order, each seeing the agents as the earlier ones left them.

    Without this, every callback of a batch would see the same empty slot and the cap could be overrun
    (POM: cap 10, one standard waiting, 12 strict mature -> 9 queued, 3 postponed).
    """
    state = _index(agents)
    decisions: list[Decision] = []
    for callback in callbacks:
        decision = route(callback, queue, list(state.values()), now=now)
        if isinstance(decision, Offer):
            state[decision.agent_id] = replace(state[decision.agent_id], busy=True)
        elif isinstance(decision, EnqueueForAgent):
            agent = state[decision.agent_id]
            effective = decision.converted_to or callback.type
            state[decision.agent_id] = replace(agent, agent_queue=agent.agent_queue + (effective,))
        decisions.append(decision)
    return decisions


def _index(agents: Sequence[AgentView]) -> dict[str, AgentView]:
    by_id: dict[str, AgentView] = {}
    for agent in agents:
        if agent.id in by_id:
            # Two views of one agent cannot both be true; picking one would hide a bug in the caller.
            raise InvalidValue("agents", f"agent {agent.id!r} appears more than once")
        by_id[agent.id] = agent
    return by_id


def _waited_long_enough(callback: Callback, settings: QueueSettings, now: datetime) -> bool:
    """Seed 004: a named agent who "has remained on a call or in call wrapup for too long" loses the callback
    to the queue. The wait counts from when it first waited for that agent (`agent_wait_since`, kept by the
    store until a retry renews it), so a callback that fell back stays with the queue."""
    return (callback.agent_wait_since is not None
            and now - callback.agent_wait_since >= timedelta(seconds=settings.agent_wait_time))


def _called_now(queue: Queue, agent: AgentView | None) -> Decision | None:
    """Call Now pressed by an agent (seed 003: "manually call the contact without needing to wait"): offered to
    that agent ahead of its own callback queue (the API refused the press of an agent not ready). None (route
    as usual) when that agent is away, on a call, or no longer serves the queue."""
    if agent is None or not _available(agent) or queue.id not in agent.queues or agent.busy:
        # Busy (the press raced a call): routed as usual meanwhile; it is still the agent's once it is free.
        return None
    return Offer(agent.id)


def _available(agent: AgentView | None) -> bool:
    # An unknown target counts as logged off: it cannot be reached through any endpoint we know.
    return agent is not None and agent.logged_in and agent.ready


def _has_room(agent: AgentView, settings: QueueSettings) -> bool:
    # Every type already waiting counts toward the cap (POM "Number of Callbacks in Queue").
    return len(agent.agent_queue) < settings.callbacks_in_agent_queue


def _to_target(agent: AgentView, settings: QueueSettings, converted_to: CallbackType | None) -> Decision | None:
    """Offer or enqueue for an available target agent, or None when its callback queue is full."""
    if not agent.busy and not agent.agent_queue:
        return Offer(agent.id, converted_to)
    # Busy, or idle with callbacks still waiting: offering now would jump ahead of those, so it waits its turn.
    if _has_room(agent, settings):
        return EnqueueForAgent(agent.id, converted_to)
    return None


def _route_standard(queue: Queue, pool: AgentPool, team_id: str | None, excluded: str | None,
                    converted_to: CallbackType | None) -> Decision:
    settings = queue.settings
    chosen = pool.longest_idle(team_id, excluded)
    if chosen is not None:
        return Offer(chosen.id, converted_to)
    # A standard callback enters only an empty agent queue, and only if the cap allows any callback at all.
    waiting_for = pool.first_busy(team_id, excluded) if settings.callbacks_in_agent_queue > 0 else None
    if waiting_for is not None:
        return EnqueueForAgent(waiting_for.id, converted_to)
    return Postpone(Reason.POSTPONED, timedelta(seconds=settings.retry_interval), False, converted_to)


def _route_agent(queue: Queue, pool: AgentPool, target: AgentView | None, target_id: str,
                 converted_to: CallbackType | None) -> Decision:
    # Seed 004: an agent "no longer handling calls for that queue" is unavailable to it.
    if target is not None and _available(target) and queue.id in target.queues:
        decision = _to_target(target, queue.settings, converted_to)
        if decision is not None:
            return decision
    # Queue full, logged off, not ready or unknown: POM converts it to a standard callback for another agent.
    return _route_standard(queue, pool, None, target_id, CallbackType.STANDARD)


def _route_strict(callback: Callback, queue: Queue, pool: AgentPool, target: AgentView | None,
                  target_id: str) -> Decision:
    settings = queue.settings
    if callback.strict_retries >= strict_agent_searches(settings):
        # Searches exhausted: POM treats it as an agent callback (which may in turn become standard).
        return _route_agent(queue, pool, target, target_id, CallbackType.AGENT)
    delay = timedelta(seconds=settings.retry_interval)
    if not _available(target):
        return Postpone(Reason.AGENT_UNAVAILABLE, delay, True)
    assert target is not None
    decision = _to_target(target, settings, None)
    if decision is not None:
        return decision
    # Queue full: POM postpones "as per the configured callback retry interval". It counts as a search too,
    # so a strict callback whose agent stays swamped still reaches someone before it expires.
    return Postpone(Reason.POSTPONED, delay, True)
