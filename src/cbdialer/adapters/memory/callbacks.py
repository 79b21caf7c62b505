"""Callbacks in memory. Rule: a change happens only from the state (and lease) it expects, with its audit line."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from cbdialer.adapters.memory.state import ACTIVE, CLAIMABLE, CallbackRow, DuplicateCallback, MemoryBase
from cbdialer.domain.caller import PENDING_STATES, first_request, limit_message, updated_request
from cbdialer.domain.lifecycle import DUE_WAITING_STATES, CallbackState, Reason
from cbdialer.domain.models import QUEUE_TYPES, Callback, CallbackOrigin, CompletionStatus
from cbdialer.ports import (
    UNCHANGED,
    CallbackQuery,
    CallerLimitReached,
    IdempotencyConflict,
    SlotFull,
    StateChange,
    Unchanged,
)

_EDITABLE = frozenset({CallbackState.SCHEDULED, CallbackState.QUEUED, CallbackState.WAITING_FOR_QUEUE})


class CallbacksMixin(MemoryBase):
    async def add_callback(self, callback: Callback, *, actor: str) -> Callback:
        """Write a new callback as it is (overwriting nothing)."""
        return (await self.create_callback(callback, actor=actor))[0]

    async def get_callback(self, callback_id: UUID) -> Callback | None:
        row = self._s.callbacks.get(callback_id)
        return row.callback() if row is not None else None

    async def create_callback(self, callback: Callback, *, actor: str,
                              overwrite: Collection[CallbackState] = frozenset(),
                              idempotency: tuple[UUID, str, str] | None = None, slot_capacity: int | None = None, slot_end: datetime | None = None,
                              caller_limit: int | None = None) -> tuple[Callback, bool]:
        """callback_insert_overwriting, behind the idempotency key and the slot and caller guards as
        PostgresStore.create_callback reads them (one event loop: nothing runs between the check and the write)."""
        s, c = self._s, callback
        if idempotency is not None:
            earlier = s.idempotency.get((idempotency[0], idempotency[1]))
            if earlier is not None:
                if earlier[0] != idempotency[2]:
                    raise IdempotencyConflict(idempotency[1])
                return s.callbacks[earlier[1]].callback(), False
        if c.id in s.callbacks:
            if idempotency is not None:
                # PostgresStore retries any unique violation once under a key, then calls it a conflict.
                raise IdempotencyConflict(idempotency[1])
            raise DuplicateCallback(str(c.id))
        if c.queue_id not in s.queues:
            raise KeyError(f"no queue {c.queue_id!r}")
        first = first_request(c, (r.callback() for r in s.callbacks.values()))
        if c.slot is not None:
            until = max(slot_end or c.slot, c.slot + timedelta(microseconds=1))  # slot_booked: [slot, slot_end)
            booked = sum(1 for r in s.callbacks.values() if r.queue_id == c.queue_id and r.slot is not None
                         and c.slot <= r.slot < until and r.state in ACTIVE and r.id != (first.id if first else c.id))
            if booked >= (slot_capacity or 0):
                raise SlotFull(f"the slot at {c.slot.isoformat()} is full ({booked} booked)")
        if first is not None:
            new = updated_request(first, c)
            written = await self.edit_callback(first, new, now=c.created_at, actor=actor)
            assert written is not None  # nothing ran since it was read
            if new.recording != first.recording:  # caller_callback_recording
                s.callbacks[first.id].recording = new.recording
                written = s.callbacks[first.id].callback()
            if idempotency is not None:
                s.idempotency[(idempotency[0], idempotency[1])] = (idempotency[2], first.id)
            return written, False
        if c.origin is CallbackOrigin.CALLER and caller_limit is not None:
            pending = sum(1 for r in s.callbacks.values() if r.queue_id == c.queue_id
                          and r.origin is CallbackOrigin.CALLER and r.state in PENDING_STATES)
            if pending >= caller_limit:
                raise CallerLimitReached(limit_message(caller_limit))
        states = {CallbackState(state) for state in overwrite}
        older = [r for r in s.callbacks.values()
                 if r.destination == c.destination and r.queue_id == c.queue_id and r.state in states]
        created = CallbackRow.inserted(c)
        s.callbacks[c.id] = created
        s.contacts.setdefault(c.destination, len(s.contacts) + 1)  # migration 0011's trigger
        self._audit(c.id, c.created_at, None, created.state, created.reason, actor, created.due_at)
        for row in older:
            old_state = row.state
            row.state, row.reason = CallbackState.OVERWRITTEN, Reason.OVERWRITTEN
            row.lease_owner = row.assigned_agent = row.assigned_at = None
            row.touch(c.created_at)
            self._audit(row.id, c.created_at, old_state, CallbackState.OVERWRITTEN, Reason.OVERWRITTEN, actor,
                        row.due_at)
        if idempotency is not None:
            s.idempotency[(idempotency[0], idempotency[1])] = (idempotency[2], c.id)
        return created.callback(), True

    async def pending_caller_callbacks(self, queue_id: str) -> int:
        """caller_callbacks_pending."""
        return sum(1 for r in self._s.callbacks.values() if r.queue_id == queue_id
                   and r.origin is CallbackOrigin.CALLER and r.state in PENDING_STATES)

    async def booked_slots(self, queue_id: str, start: datetime, end: datetime) -> dict[datetime, int]:
        """slots_booked."""
        out: dict[datetime, int] = {}
        for r in self._s.callbacks.values():
            if r.queue_id == queue_id and r.slot is not None and start <= r.slot < end and r.state in ACTIVE:
                out[r.slot] = out.get(r.slot, 0) + 1
        return out

    async def claim_due(self, owner: UUID, *, now: datetime, limit: int, lease: timedelta,
                        actor: str = "scheduler") -> list[Callback]:
        due = sorted((r for r in self._s.callbacks.values() if r.state in CLAIMABLE and r.due_at <= now),
                     key=lambda r: (r.due_at, r.id))[:max(limit, 0)]
        claimed = []
        for row in due:
            was = row.state
            if was is CallbackState.SCHEDULED:
                row.state, row.reason, row.due_since = CallbackState.QUEUED, Reason.DUE, row.due_at
            row.lease_owner, row.claimed_at, row.due_at = owner, now, now + lease
            row.touch(now)
            if was is CallbackState.SCHEDULED:
                self._audit(row.id, now, was, row.state, Reason.DUE, actor, row.due_at)
            claimed.append(row.callback())
        return claimed

    async def transition(self, callback_id: UUID, *, expected: CallbackState, to: CallbackState, reason: Reason,
                         now: datetime, actor: str, owner: UUID | None = None, due_at: datetime | None = None,
                         attempts_count: int | None = None, network_failures: int | None = None,
                         strict_retries: int | None = None, completion_status: CompletionStatus | None = None,
                         keep_lease: bool = False, assigned_agent: str | None | Unchanged = UNCHANGED,
                         end_at: datetime | None = None,
                         call_now_agent: str | None | Unchanged = UNCHANGED) -> Callback | None:
        row = self._s.callbacks.get(callback_id)
        if row is None or row.state != expected or (owner is not None and row.lease_owner != owner):
            return None
        row.state, row.reason = CallbackState(to), Reason(reason)
        for name, value in (("due_at", due_at), ("attempts_count", attempts_count),
                            ("network_failures", network_failures), ("strict_retries", strict_retries),
                            ("completion_status", completion_status), ("end_at", end_at)):
            if value is not None:
                setattr(row, name, value)
        if not keep_lease:
            row.lease_owner = None
        if not isinstance(assigned_agent, Unchanged):
            row.assign(assigned_agent, now)
        if not isinstance(call_now_agent, Unchanged):
            row.call_now_agent = call_now_agent
        if row.state is CallbackState.IN_PROGRESS:
            row.call_now_agent = None  # the trigger of migration 0009
        row.touch(now)
        self._audit(row.id, now, CallbackState(expected), row.state, row.reason, actor, row.due_at)
        return row.callback()

    async def extend_leases(self, owner: UUID, *, now: datetime, lease: timedelta,
                            holding: Collection[UUID] | None = None) -> int:
        """Extend this process's leases, and the reservations of the agents on its live calls; with `holding`,
        only those in-progress callbacks whose calls it holds."""
        held = set(holding) if holding is not None else None
        leased = [r for r in self._s.callbacks.values() if r.lease_owner == owner
                  and (r.state is CallbackState.QUEUED
                       or (r.state is CallbackState.IN_PROGRESS and (held is None or r.id in held)))]
        calls = {r.id for r in leased if r.state is CallbackState.IN_PROGRESS}
        for row in leased:
            row.due_at = now + lease
        live = {a.id for a in self._s.attempts.values() if a.callback_id in calls and a.ended_at is None}
        for agent in self._s.agents.values():
            if agent.reserved_for in live:
                # greatest() ignores a NULL
                until = now + 2 * lease
                agent.reserved_until = until if agent.reserved_until is None else max(agent.reserved_until, until)
        return len(leased)

    async def release_leases(self, owner: UUID, *, now: datetime) -> int:
        released = [r for r in self._s.callbacks.values()
                    if r.lease_owner == owner and r.state is CallbackState.QUEUED]
        for row in released:
            row.lease_owner, row.due_at = None, now
        return len(released)

    async def next_due_at(self) -> datetime | None:
        return min((r.due_at for r in self._s.callbacks.values() if r.state in CLAIMABLE), default=None)

    async def history(self, callback_id: UUID) -> list[StateChange]:
        return list(self._s.events.get(callback_id, []))

    async def active_for_contact(self, destination: str, queue_id: str | None = None) -> list[Callback]:
        return [r.callback() for r in sorted(
            (r for r in self._s.callbacks.values()
             if r.destination == destination and r.state in ACTIVE and (queue_id is None or r.queue_id == queue_id)),
            key=lambda r: r.created_at)]

    async def search_callbacks(self, query: CallbackQuery, *, limit: int) -> list[Callback]:
        q = query
        teams = set(q.scope_teams)

        def wanted(r: CallbackRow) -> bool:
            return ((q.state is None or r.state == q.state)
                    and (q.queue_id is None or r.queue_id == q.queue_id)
                    and (q.agent_id is None or r.agent_id == q.agent_id)
                    and (q.created_by is None or r.created_by == q.created_by)
                    and (q.destination is None or r.destination == q.destination)
                    and (q.created_from is None or r.created_at >= q.created_from)
                    and (q.created_to is None or r.created_at < q.created_to)
                    and (q.due_from is None or r.due_at >= q.due_from)
                    and (q.due_to is None or r.due_at < q.due_to)
                    and ((q.due_from is None and q.due_to is None) or r.state in DUE_WAITING_STATES)
                    and (q.after is None or (r.created_at, r.id) < q.after)
                    and (q.scope_agent is None or q.scope_agent in (r.created_by, r.agent_id, r.assigned_agent)
                         or r.team_id in teams or (r.queue_id in q.scope_queues and r.type in QUEUE_TYPES
                                                 and r.state in ACTIVE)))

        found = sorted((r for r in self._s.callbacks.values() if wanted(r)), key=lambda r: (r.created_at, r.id),
                       reverse=True)
        return [r.callback() for r in found[:max(limit, 0)]]

    async def edit_callback(self, old: Callback, new: Callback, *, now: datetime, actor: str) -> Callback | None:
        """Apply a person's edit, if the callback is still in the state (and due time) `old` was read in."""
        row = self._s.callbacks.get(old.id)
        if row is None or row.state != old.state or row.due_at != old.due_at or row.state not in _EDITABLE:
            return None
        if row.state is not CallbackState.WAITING_FOR_QUEUE:
            row.due_at = new.due_at
        row.start_at, row.end_at, row.remark = new.start_at, new.end_at, new.remark
        row.agent_id, row.team_id, row.customer_timezone = new.agent_id, new.team_id, new.customer_timezone
        row.type, row.destination, row.slot = new.type, new.destination, new.slot
        self._s.contacts.setdefault(new.destination, len(self._s.contacts) + 1)  # migration 0011's trigger
        if row.state is CallbackState.QUEUED:
            row.state = CallbackState.SCHEDULED
        row.reason = Reason.RESCHEDULED
        row.lease_owner = row.assigned_agent = row.assigned_at = row.call_now_agent = row.agent_wait_since = None
        row.touch(now)
        self._audit(row.id, now, old.state, row.state, Reason.RESCHEDULED, actor, row.due_at)
        return row.callback()

    async def watch_rows(self, since: datetime, limit: int = 40) -> list[dict[str, Any]]:
        """callbacks_watch: what is active, and what changed recently, with the last attempt's agent and state."""
        rows = sorted((r for r in self._s.callbacks.values()
                       if r.state in (CallbackState.QUEUED, CallbackState.IN_PROGRESS) or r.updated_at > since),
                      key=lambda r: (r.created_at, r.id))[:max(limit, 0)]
        out = []
        for r in rows:
            last = self._last_attempt(r.id)
            out.append({"id": r.id, "queue_id": r.queue_id, "destination": r.destination, "state": r.state.value,
                        "reason": r.reason.value,
                        "completion_status": r.completion_status.value if r.completion_status else None,
                        "attempts_count": r.attempts_count, "due_at": r.due_at, "updated_at": r.updated_at,
                        "agent_id": last.agent_id if last else None,
                        "interaction_state": last.interaction_state.value if last else None})
        return out
