"""An in-memory CallbackStore for unit tests of the shell. Rule: it behaves exactly as PostgresStore does
(the same conformance suite runs against both); it is never used in production."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from datetime import datetime, timedelta
from uuid import UUID

from cbdialer.domain.lifecycle import ACTIVE_STATES, CallbackState, Reason
from cbdialer.domain.models import Callback, CompletionStatus, Queue
from cbdialer.ports import UNCHANGED, StateChange, Unchanged

_CLAIMABLE = frozenset({CallbackState.SCHEDULED, CallbackState.QUEUED, CallbackState.IN_PROGRESS})


class DuplicateCallback(Exception):
    pass


class MemoryStore:
    def __init__(self) -> None:
        self._queues: dict[str, Queue] = {}
        self._callbacks: dict[UUID, Callback] = {}
        self._owners: dict[UUID, UUID] = {}
        self._history: dict[UUID, list[StateChange]] = {}
        self._dnc: set[str] = set()
        self._excluded: set[str] = set()

    async def save_queue(self, queue: Queue) -> None:
        self._queues[queue.id] = queue

    async def get_queue(self, queue_id: str) -> Queue | None:
        return self._queues.get(queue_id)

    async def add_callback(self, callback: Callback, *, actor: str) -> Callback:
        if callback.id in self._callbacks:
            raise DuplicateCallback(str(callback.id))
        if callback.queue_id not in self._queues:
            raise KeyError(f"no queue {callback.queue_id!r}")
        self._callbacks[callback.id] = callback
        self._history[callback.id] = [StateChange(callback.created_at, None, callback.state, callback.reason, actor,
                                                  callback.due_at)]
        return callback

    async def get_callback(self, callback_id: UUID) -> Callback | None:
        return self._callbacks.get(callback_id)

    async def claim_due(self, owner: UUID, *, now: datetime, limit: int, lease: timedelta,
                        actor: str = "scheduler") -> list[Callback]:
        due = sorted((c for c in self._callbacks.values() if c.state in _CLAIMABLE and c.due_at <= now),
                     key=lambda c: (c.due_at, c.id))[:limit]
        claimed = []
        for callback in due:
            was = callback.state
            state = CallbackState.QUEUED if was is CallbackState.SCHEDULED else was
            reason = Reason.DUE if was is CallbackState.SCHEDULED else callback.reason
            updated = dataclasses.replace(callback, state=state, reason=reason, due_at=now + lease)
            self._callbacks[callback.id] = updated
            self._owners[callback.id] = owner
            if was is CallbackState.SCHEDULED:
                self._history[callback.id].append(StateChange(now, was, state, Reason.DUE, actor, updated.due_at))
            claimed.append(updated)
        return claimed

    async def transition(self, callback_id: UUID, *, expected: CallbackState, to: CallbackState, reason: Reason,
                         now: datetime, actor: str, owner: UUID | None = None, due_at: datetime | None = None,
                         attempts_count: int | None = None, network_failures: int | None = None,
                         strict_retries: int | None = None, completion_status: CompletionStatus | None = None,
                         keep_lease: bool = False, assigned_agent: str | None | Unchanged = UNCHANGED,
                         end_at: datetime | None = None) -> Callback | None:
        callback = self._callbacks.get(callback_id)
        if callback is None or callback.state is not expected:
            return None
        if owner is not None and self._owners.get(callback_id) != owner:
            return None
        changes: dict[str, object] = {"state": to, "reason": reason}
        if not isinstance(assigned_agent, Unchanged):
            changes["assigned_agent"] = assigned_agent
        for name, value in (("due_at", due_at), ("attempts_count", attempts_count),
                            ("network_failures", network_failures), ("strict_retries", strict_retries),
                            ("completion_status", completion_status), ("end_at", end_at)):
            if value is not None:
                changes[name] = value
        updated = dataclasses.replace(callback, **changes)  # type: ignore[arg-type]
        self._callbacks[callback_id] = updated
        if not keep_lease:
            self._owners.pop(callback_id, None)
        self._history[callback_id].append(StateChange(now, expected, to, reason, actor, updated.due_at))
        return updated

    async def extend_leases(self, owner: UUID, *, now: datetime, lease: timedelta,
                            holding: Collection[UUID] | None = None) -> int:
        count = 0
        for callback_id, holder in self._owners.items():
            callback = self._callbacks[callback_id]
            held = holding is None or callback_id in holding
            if holder == owner and (callback.state is CallbackState.QUEUED
                                    or (callback.state is CallbackState.IN_PROGRESS and held)):
                self._callbacks[callback_id] = dataclasses.replace(callback, due_at=now + lease)
                count += 1
        return count

    async def release_leases(self, owner: UUID, *, now: datetime) -> int:
        released = [cid for cid, holder in self._owners.items()
                    if holder == owner and self._callbacks[cid].state is CallbackState.QUEUED]
        for callback_id in released:
            del self._owners[callback_id]
            self._callbacks[callback_id] = dataclasses.replace(self._callbacks[callback_id], due_at=now)
        return len(released)

    async def next_due_at(self) -> datetime | None:
        return min((c.due_at for c in self._callbacks.values() if c.state in _CLAIMABLE), default=None)

    async def history(self, callback_id: UUID) -> list[StateChange]:
        return list(self._history.get(callback_id, []))

    async def active_for_contact(self, destination: str, queue_id: str | None = None) -> list[Callback]:
        return sorted((c for c in self._callbacks.values()
                       if c.destination == destination and c.state in ACTIVE_STATES
                       and (queue_id is None or c.queue_id == queue_id)), key=lambda c: c.created_at)

    async def add_dnc(self, number: str, *, actor: str) -> None:
        self._dnc.add(number)

    async def is_dnc(self, number: str) -> bool:
        return number in self._dnc

    async def restricted(self, numbers: Collection[str]) -> tuple[set[str], set[str]]:
        wanted = set(numbers)
        return wanted & self._dnc, wanted & self._excluded

    async def add_exclusion(self, number: str, *, actor: str) -> None:
        self._excluded.add(number)

    async def is_excluded(self, number: str) -> bool:
        return number in self._excluded
