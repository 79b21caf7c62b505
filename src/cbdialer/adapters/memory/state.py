"""The in-memory tables. Rule: a row holds exactly its PostgreSQL table's columns, written as queries.sql does."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from cbdialer.domain.lifecycle import ACTIVE_STATES, DUE_STATES, CallbackState, Reason
from cbdialer.domain.models import (
    Agent,
    Callback,
    CallbackOrigin,
    CallbackType,
    CompletionStatus,
    InteractionState,
    Queue,
)
from cbdialer.ports import AgentRecord, StateChange

# The sets of states the SQL names (written out there, or passed from the domain as parameters).
CLAIMABLE = DUE_STATES  # callbacks_claim_due, callbacks_next_due
ACTIVE = ACTIVE_STATES  # callbacks_active_for_contact, agent_panel, queue_metrics, metrics_states
WAITING = frozenset({CallbackState.SCHEDULED, CallbackState.QUEUED})  # the agent_routing view's own callback queue


class DuplicateCallback(Exception):
    """A callback of that id is in the book already (PostgreSQL: a unique violation)."""


@dataclass
class CallbackRow:
    """A row of `callbacks`, its columns in the table's order (migrations 0002-0004)."""

    id: UUID
    queue_id: str
    destination: str
    type: CallbackType
    state: CallbackState
    reason: Reason
    due_at: datetime
    start_at: datetime
    end_at: datetime
    created_at: datetime
    updated_at: datetime
    agent_id: str | None
    team_id: str | None
    created_by: str | None
    customer_timezone: str | None
    remark: str
    attempts_count: int = 0
    network_failures: int = 0
    strict_retries: int = 0
    completion_status: CompletionStatus | None = None
    lease_owner: UUID | None = None
    claimed_at: datetime | None = None
    version: int = 0
    assigned_agent: str | None = None
    assigned_at: datetime | None = None
    call_now_agent: str | None = None
    agent_wait_since: datetime | None = None
    origin: CallbackOrigin = CallbackOrigin.API  # migration 0012
    joined_at: datetime | None = None
    slot: datetime | None = None
    recording: str | None = None  # migration 0014
    due_since: datetime | None = None  # migration 0017

    @classmethod
    def inserted(cls, c: Callback) -> CallbackRow:
        """As callback_insert_overwriting writes it: the columns it names; counters, status and the agent's
        own callback queue take the table's defaults."""
        return cls(id=c.id, queue_id=c.queue_id, destination=c.destination, type=c.type, state=c.state,
                   reason=c.reason, due_at=c.due_at, start_at=c.start_at, end_at=c.end_at, created_at=c.created_at,
                   updated_at=c.created_at, agent_id=c.agent_id, team_id=c.team_id, created_by=c.created_by,
                   customer_timezone=c.customer_timezone, remark=c.remark, origin=c.origin, joined_at=c.joined_at,
                   slot=c.slot, recording=c.recording)

    def callback(self) -> Callback:
        return Callback(id=self.id, queue_id=self.queue_id, destination=self.destination, type=self.type,
                        state=self.state, due_at=self.due_at, start_at=self.start_at, end_at=self.end_at,
                        created_at=self.created_at, agent_id=self.agent_id, team_id=self.team_id,
                        created_by=self.created_by, customer_timezone=self.customer_timezone, remark=self.remark,
                        attempts_count=self.attempts_count, network_failures=self.network_failures,
                        strict_retries=self.strict_retries, completion_status=self.completion_status,
                        reason=self.reason, assigned_agent=self.assigned_agent, assigned_at=self.assigned_at,
                        call_now_agent=self.call_now_agent, agent_wait_since=self.agent_wait_since,
                        origin=self.origin, joined_at=self.joined_at, slot=self.slot,
                        recording=self.recording, due_since=self.due_since)

    def columns(self) -> dict[str, Any]:
        """`SELECT c.*` as asyncpg returns it: text columns as text."""
        row = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name in ("type", "state", "reason", "completion_status", "origin"):
            row[name] = row[name].value if row[name] is not None else None
        return row

    def touch(self, now: datetime) -> None:
        """`updated_at = now, version = version + 1`, as every statement that changes the callback writes."""
        self.updated_at = now
        self.version += 1

    def assign(self, agent: str | None, now: datetime) -> None:
        """The assigned_at/assigned_agent CASE of callback_transition and callback_wait, when the agent is
        given: it keeps its place when it stays with the same agent."""
        if agent is None:
            self.assigned_at = None
        elif self.assigned_agent != agent:
            self.assigned_at = now
        self.assigned_agent = agent


@dataclass
class AttemptRow:
    """A row of `attempts` (migrations 0002, 0004, 0006)."""

    id: UUID
    callback_id: UUID
    queue_id: str
    agent_id: str | None
    owner: UUID
    started_at: datetime
    interaction_state: InteractionState = InteractionState.OFFERED
    ended_at: datetime | None = None
    completion_status: CompletionStatus | None = None
    dial_status: str | None = None
    hangup_cause: int | None = None
    amd_status: str | None = None
    counted: bool | None = None
    disposition: CompletionStatus | None = None
    disposition_start: datetime | None = None
    disposition_agent: str | None = None
    result_at: datetime | None = None


@dataclass
class AgentRow:
    """A row of `agents`, with its rows of agent_queues and agent_teams."""

    id: str
    dial_string: str
    skills: frozenset[str]
    ready: bool = True
    reserved_for: UUID | None = None
    reserved_until: datetime | None = None
    wrap_up_until: datetime | None = None
    idle_since: datetime | None = None
    queues: set[str] = field(default_factory=set)
    teams: set[str] = field(default_factory=set)
    name: str = ""  # migration 0011

    def release(self, wrap_up_until: datetime) -> None:
        self.reserved_for = None
        self.reserved_until = None
        self.wrap_up_until = wrap_up_until
        self.idle_since = wrap_up_until


@dataclass
class QueueRow:
    queue: Queue
    next_dial_at: datetime | None = None  # calls_per_second across processes (migration 0006)
    slots: dict[int, UUID | None] = field(default_factory=dict)  # queue_slots: slot -> attempt
    runs: list[QueueRun] = field(default_factory=list)  # queue_runs (migration 0011), in the order opened


@dataclass
class QueueRun:
    """A row of `queue_runs`: its id is the identity column's, counted over every queue's runs."""

    id: int
    started_at: datetime
    stopped_at: datetime | None = None


@dataclass
class ListedNumber:
    added_at: datetime
    added_by: str | None


@dataclass
class TokenRow:
    id: UUID
    token_hash: str
    role: str
    agent_id: str | None
    created_at: datetime
    revoked_at: datetime | None = None
    sessions_ended_at: datetime | None = None  # migration 0015


@dataclass
class NodeRow:
    """A row of `dialer_nodes`: what the queries read of it."""

    heartbeat_at: datetime
    stopped_at: datetime | None = None


@dataclass
class MemoryState:
    """Every table; dicts keep insertion order, which stands in for the order rows were written."""

    queues: dict[str, QueueRow] = field(default_factory=dict)
    callbacks: dict[UUID, CallbackRow] = field(default_factory=dict)
    events: dict[UUID, list[StateChange]] = field(default_factory=dict)
    contacts: dict[str, int] = field(default_factory=dict)  # the contacts table: number -> id, never deleted
    attempts: dict[UUID, AttemptRow] = field(default_factory=dict)
    agents: dict[str, AgentRow] = field(default_factory=dict)
    teams: dict[str, str] = field(default_factory=dict)  # id -> name
    dnc: dict[str, ListedNumber] = field(default_factory=dict)
    excluded: dict[str, ListedNumber] = field(default_factory=dict)
    tokens: dict[UUID, TokenRow] = field(default_factory=dict)
    idempotency: dict[tuple[UUID, str], tuple[str, UUID]] = field(default_factory=dict)  # -> (hash, callback)
    nodes: dict[UUID, NodeRow] = field(default_factory=dict)


def utc_now() -> datetime:
    return datetime.now(UTC)


class MemoryBase:
    """The state every mixin shares, and the clock that stands in for PostgreSQL's now()."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._s = MemoryState()
        self._clock = clock

    def _audit(self, callback_id: UUID, at: datetime, from_state: CallbackState | None, to_state: CallbackState,
               reason: Reason, actor: str, due_at: datetime | None) -> None:
        self._s.events.setdefault(callback_id, []).append(
            StateChange(at=at, from_state=from_state, to_state=to_state, reason=reason, actor=actor, due_at=due_at))

    def _last_attempt(self, callback_id: UUID) -> AttemptRow | None:
        """`ORDER BY started_at DESC LIMIT 1` over a callback's attempts (on a tie, the one written last)."""
        mine = [a for a in self._s.attempts.values() if a.callback_id == callback_id]
        return max(reversed(mine), key=lambda a: a.started_at, default=None)

    def _record(self, agent: AgentRow) -> AgentRecord:
        """The agent_routing view: its own callback queue in the order the callbacks joined it."""
        waiting = sorted((c for c in self._s.callbacks.values()
                          if c.assigned_agent == agent.id and c.state in WAITING), key=joined)
        return AgentRecord(
            agent=Agent(id=agent.id, dial_string=agent.dial_string, queues=frozenset(agent.queues),
                        skills=agent.skills, teams=frozenset(agent.teams), name=agent.name),
            ready=agent.ready, wrap_up_until=agent.wrap_up_until, reserved_until=agent.reserved_until,
            idle_since=agent.idle_since, waiting=tuple((c.id, c.type) for c in waiting))


def joined(c: CallbackRow) -> tuple[Any, ...]:
    """`ORDER BY assigned_at, id`, NULLs last as PostgreSQL sorts them."""
    return (0, c.assigned_at, c.id) if c.assigned_at is not None else (1, c.id)
