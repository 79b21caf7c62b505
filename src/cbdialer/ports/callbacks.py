"""The callback book's ports: what the scheduler needs of it (CallbackStore) and what the callbacks service
needs (CallbackBook). Rule: every state change is a guarded transition, from an expected state, that the
store writes with its audit line; `transition` is declared once, here."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import Attempt, Callback, CompletionStatus, Queue
from cbdialer.ports.agents import Directory


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
    due_from: datetime | None = None  # a due time: of callbacks waiting to fall due (DUE_WAITING_STATES) only
    due_to: datetime | None = None
    after: tuple[datetime, UUID] | None = None
    scope_agent: str | None = None
    scope_teams: frozenset[str] = frozenset()
    scope_queues: frozenset[str] = frozenset()  # with scope_agent: the queues whose queue callbacks it sees


class GuardedTransitions(Protocol):
    async def transition(self, callback_id: UUID, *, expected: CallbackState, to: CallbackState, reason: Reason,
                         now: datetime, actor: str, owner: UUID | None = None, due_at: datetime | None = None,
                         attempts_count: int | None = None, network_failures: int | None = None,
                         strict_retries: int | None = None, completion_status: CompletionStatus | None = None,
                         keep_lease: bool = False, assigned_agent: str | None | Unchanged = UNCHANGED,
                         end_at: datetime | None = None,
                         call_now_agent: str | None | Unchanged = UNCHANGED) -> Callback | None:
        """Move a callback from `expected` to `to`; None if it was not in `expected` (or, with `owner`, no
        longer leased to it): someone else won. The lease is released unless `keep_lease`. `assigned_agent`
        puts it in (a name) or takes it out of (None) an agent's own callback queue. `call_now_agent`: the
        agent who pressed Call Now (None: nobody's), offered it first until it is in a call."""
        ...


class CallbackStore(GuardedTransitions, Protocol):
    """What the scheduler (and, with DialerStore, the dialer) needs of the book."""

    async def save_queue(self, queue: Queue) -> None: ...

    async def get_queue(self, queue_id: str) -> Queue | None: ...

    async def add_callback(self, callback: Callback, *, actor: str) -> Callback: ...

    async def get_callback(self, callback_id: UUID) -> Callback | None: ...

    async def claim_due(self, owner: UUID, *, now: datetime, limit: int, lease: timedelta,
                        actor: str = "scheduler") -> list[Callback]:
        """Lease up to `limit` callbacks due at `now`, earliest first; a scheduled one becomes queued.
        Never returns a callback leased to another owner whose lease has not expired."""
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


class CallbackBook(GuardedTransitions, Directory, Protocol):
    """What the callbacks service needs: the book, plus the agents and teams a callback may name."""

    async def get_queue(self, queue_id: str) -> Queue | None: ...

    async def get_callback(self, callback_id: UUID) -> Callback | None: ...

    async def restricted(self, numbers: Collection[str]) -> tuple[set[str], set[str]]:
        """Which of `numbers` are on the do-not-call list, and which on the exclusion list."""
        ...

    async def active_for_contact(self, destination: str, queue_id: str | None = None) -> list[Callback]: ...

    async def create_callback(self, callback: Callback, *, actor: str, overwrite: Collection[CallbackState] = (),
                              idempotency: tuple[UUID, str, str] | None = None, slot_capacity: int | None = None, slot_end: datetime | None = None,
                              caller_limit: int | None = None) -> tuple[Callback, bool]:
        """Write `callback`, overwriting the contact's older ones of the same queue in `overwrite` states;
        with `idempotency` (token id, key, fingerprint), a repeat returns the first callback and False.
        A callback with a `slot` is written only while the slot has fewer than `slot_capacity` active callbacks
        (else SlotFull). A caller's (origin caller) updates the pending caller-callback of the same number and
        queue instead (domain/caller.py; returned with False), else is written only while the queue has fewer
        than `caller_limit` pending ones (else CallerLimitReached). All in one transaction: nothing half-written."""
        ...

    async def booked_slots(self, queue_id: str, start: datetime, end: datetime) -> dict[datetime, int]:
        """The active callbacks of each slot of the queue that starts in [start, end), by the slot's start."""
        ...

    async def pending_caller_callbacks(self, queue_id: str) -> int:
        """How many caller-callbacks (origin caller) of the queue are pending (domain/caller.py's PENDING_STATES)."""
        ...

    async def search_callbacks(self, query: CallbackQuery, *, limit: int) -> list[Callback]: ...

    async def is_excluded(self, number: str) -> bool: ...

    async def edit_callback(self, old: Callback, new: Callback, *, now: datetime, actor: str) -> Callback | None:
        """Write `new` over `old` if the callback is still as `old` was read; None otherwise."""
        ...

    async def set_disposition(self, callback_id: UUID, disposition: CompletionStatus,
                              start: datetime | None = None, *, agent_id: str | None = None,
                              new_agent: str | None = None) -> bool: ...

    async def attempts(self, callback_id: UUID) -> list[Attempt]: ...

    async def history(self, callback_id: UUID) -> list[StateChange]: ...

    async def watch_rows(self, since: datetime, limit: int = 40) -> list[dict[str, Any]]:
        """The active callbacks and those changed since `since`, for `cbdialer watch`."""
        ...
