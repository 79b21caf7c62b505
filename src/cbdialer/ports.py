"""The ports between the shell and its adapters. Rule: the scheduler and the dialer speak only these
protocols; PostgreSQL and the in-memory store both implement CallbackStore and pass one conformance suite."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import Agent, Callback, CallbackType, CompletionStatus, Queue


@dataclass(frozen=True, slots=True)
class StateChange:
    """One line of a callback's audit trail."""

    at: datetime
    from_state: CallbackState | None
    to_state: CallbackState
    reason: Reason
    actor: str
    due_at: datetime | None


class Unchanged:
    """The default of an optional change: leave the stored value as it is."""

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED = Unchanged()


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """An agent as stored: who it is, plus what routing needs beside Asterisk's device state."""

    agent: Agent
    ready: bool
    wrap_up_until: datetime | None
    reserved_until: datetime | None
    idle_since: datetime | None
    waiting: tuple[tuple[UUID, CallbackType], ...]  # the agent's own callback queue, in the order they joined


class StartOutcome(StrEnum):
    """What became of an attempt's start (the values the database returns)."""

    STARTED = "started"
    NOT_OURS = "not_ours"  # the callback changed hands (a person, or a takeover)
    NO_SLOT = "no_slot"  # the queue's pacing, across every process: max_concurrent_calls or calls_per_second
    AGENT_TAKEN = "agent_taken"  # the agent was reserved meanwhile, or is not ready or wrapping up


@dataclass(frozen=True)
class Started:
    """What starting an attempt did, and the callback now in progress (None unless started)."""

    outcome: StartOutcome
    callback: Callback | None


@dataclass(frozen=True)
class Ended:
    """What ending an attempt did: whether this was its first end, and the callback as it is after it (None if
    the callback had already moved on, e.g. a person cancelled it meanwhile)."""

    finished: bool
    callback: Callback | None


class StoreUnavailable(Exception):
    """The store cannot be reached right now: PostgreSQL is down, restarting or refusing connections, or the
    connection dropped under a statement. A fault of the infrastructure, not of the request: the same call
    may succeed once the store answers again (the daemon's tasks retry it with backoff, see
    cbdialer.supervision). Errors that are bugs (bad SQL, a violated constraint, ...) are never this.

    A statement whose connection dropped may or may not have been committed: the caller cannot tell which.
    Callers rely on every state change being a guarded statement (`WHERE state = $expected`, the first end
    of an attempt wins, ...), so that repeating one that did commit changes nothing."""


class IdempotencyConflict(Exception):
    """An Idempotency-Key was used before with a different request."""

    def __init__(self, key: str) -> None:
        super().__init__(f"Idempotency-Key {key!r} was used before with a different request")
        self.key = key


@dataclass(frozen=True)
class CallbackQuery:
    """A search of the callback book; every filter optional. `after` is the cursor (created_at, id) of the
    last row of the previous page; `scope_agent`/`scope_teams` limit it to what an agent may see."""

    state: CallbackState | None = None
    queue_id: str | None = None
    agent_id: str | None = None
    created_by: str | None = None
    destination: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    due_from: datetime | None = None
    due_to: datetime | None = None
    after: tuple[datetime, UUID] | None = None
    scope_agent: str | None = None
    scope_teams: frozenset[str] = frozenset()


class CallbackStore(Protocol):
    async def save_queue(self, queue: Queue) -> None: ...

    async def get_queue(self, queue_id: str) -> Queue | None: ...

    async def add_callback(self, callback: Callback, *, actor: str) -> Callback: ...

    async def get_callback(self, callback_id: UUID) -> Callback | None: ...

    async def claim_due(self, owner: UUID, *, now: datetime, limit: int, lease: timedelta,
                        actor: str = "scheduler") -> list[Callback]:
        """Lease up to `limit` callbacks due at `now`, earliest first; a scheduled one becomes queued.
        Never returns a callback leased to another owner whose lease has not expired."""
        ...

    async def transition(self, callback_id: UUID, *, expected: CallbackState, to: CallbackState, reason: Reason,
                         now: datetime, actor: str, owner: UUID | None = None, due_at: datetime | None = None,
                         attempts_count: int | None = None, network_failures: int | None = None,
                         strict_retries: int | None = None, completion_status: CompletionStatus | None = None,
                         keep_lease: bool = False, assigned_agent: str | None | Unchanged = UNCHANGED,
                         end_at: datetime | None = None) -> Callback | None:
        """Move a callback from `expected` to `to`; None if it was not in `expected` (or, with `owner`, no
        longer leased to it): someone else won. The lease is released unless `keep_lease`. `assigned_agent`
        puts it in (a name) or takes it out of (None) an agent's own callback queue."""
        ...

    async def extend_leases(self, owner: UUID, *, now: datetime, lease: timedelta,
                            holding: Collection[UUID] | None = None) -> int:
        """Extend `owner`'s leases; with `holding`, of its in-progress callbacks only those (the calls it holds)."""
        ...

    async def release_leases(self, owner: UUID, *, now: datetime) -> int: ...

    async def next_due_at(self) -> datetime | None: ...

    async def history(self, callback_id: UUID) -> list[StateChange]: ...

    async def active_for_contact(self, destination: str, queue_id: str | None = None) -> list[Callback]: ...

    async def add_dnc(self, number: str, *, actor: str) -> None: ...

    async def is_dnc(self, number: str) -> bool: ...

    async def restricted(self, numbers: Collection[str]) -> tuple[set[str], set[str]]:
        """Of `numbers`, those on the DNC list and those on the exclusion list (one round trip)."""
        ...

    async def add_exclusion(self, number: str, *, actor: str) -> None: ...

    async def is_excluded(self, number: str) -> bool: ...
