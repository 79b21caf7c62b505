"""The callback book in PostgreSQL: create (overwriting), claim, guarded transitions, leases, search, edit and
history. Rule: every state change is one guarded statement that also writes its audit line, so the two can
never disagree."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from cbdialer.adapters.db.store.base import StoreBase, callback_from_row
from cbdialer.domain.caller import PENDING_STATES, limit_message, updated_request
from cbdialer.domain.lifecycle import ACTIVE_STATES, DUE_WAITING_STATES, CallbackState, Reason
from cbdialer.domain.models import (
    QUEUE_TYPES,
    Callback,
    CallbackOrigin,
    CompletionStatus,
)
from cbdialer.ports import (
    UNCHANGED,
    CallbackQuery,
    CallerLimitReached,
    IdempotencyConflict,
    SlotFull,
    StateChange,
    Unchanged,
)


class PostgresCallbacks(StoreBase):
    async def add_callback(self, callback: Callback, *, actor: str) -> Callback:
        """Write a new callback as it is (overwriting nothing)."""
        return (await self.create_callback(callback, actor=actor))[0]

    async def get_callback(self, callback_id: UUID) -> Callback | None:
        rows = await self._fetch("callback_get", callback_id)
        return callback_from_row(rows[0]) if rows else None

    async def create_callback(self, callback: Callback, *, actor: str,
                              overwrite: Collection[CallbackState] = frozenset(),
                              idempotency: tuple[UUID, str, str] | None = None, slot_capacity: int | None = None, slot_end: datetime | None = None,
                              caller_limit: int | None = None) -> tuple[Callback, bool]:
        """Write a new callback and, in the same statement, overwrite the older ones of the same contact and
        queue that are in one of the `overwrite` states. `idempotency` = (token id, key, request hash): if the
        key was used before, nothing is written and the callback made then is returned, with False; a
        different request under the same key raises IdempotencyConflict. A slot booking and a caller's request
        take their locks first (the queue's caller callbacks, then the slot), in one transaction with the write
        (ports.callbacks.CallbackBook.create_callback): a connection lost midway rolls all of it back."""
        c = callback
        args = (c.id, c.queue_id, c.destination, c.type.value, c.state.value, c.reason.value, c.due_at, c.start_at,
                c.end_at, c.created_at, c.agent_id, c.team_id, c.created_by, c.customer_timezone, c.remark, actor,
                sorted(state.value for state in overwrite), c.origin.value, c.joined_at, c.slot, c.recording)
        guarded = c.slot is not None or c.origin is CallbackOrigin.CALLER
        async with self._pool.acquire() as conn:
            if idempotency is None and not guarded:  # the common case: one statement, no transaction
                return callback_from_row(await conn.fetchrow(self._q["callback_insert_overwriting"], *args)), True
            for _ in range(2):  # a concurrent first use of the same key: the loser reads the winner's callback
                try:
                    async with conn.transaction():
                        if idempotency is not None:
                            earlier = await conn.fetchrow(self._q["idempotency_get"], idempotency[0], idempotency[1])
                            if earlier is not None:
                                if earlier["request_hash"] != idempotency[2]:
                                    raise IdempotencyConflict(idempotency[1])
                                row = await conn.fetchrow(self._q["callback_get"], earlier["callback_id"])
                                return callback_from_row(row), False
                        written, new = await self._write(conn, c, args, actor, slot_capacity, caller_limit,
                                                         slot_end)
                        if idempotency is not None:
                            await conn.execute(self._q["idempotency_insert"], idempotency[0], idempotency[1],
                                               idempotency[2], written.id)
                        return written, new
                except asyncpg.UniqueViolationError:
                    if idempotency is None:
                        raise
            raise IdempotencyConflict(idempotency[1] if idempotency else "")

    async def _write(self, conn: Any, c: Callback, args: tuple[Any, ...], actor: str, slot_capacity: int | None,
                     caller_limit: int | None, slot_end: datetime | None = None) -> tuple[Callback, bool]:
        """The guarded write, in the caller's transaction: locks in one order (caller callbacks, slot, rows)."""
        if c.origin is CallbackOrigin.CALLER:
            await conn.execute(self._q["caller_callbacks_lock"], c.queue_id)
        if c.slot is not None:
            await conn.execute(self._q["slot_lock"], c.queue_id, c.slot)
        first = None
        if c.origin is CallbackOrigin.CALLER:
            row = await conn.fetchrow(self._q["caller_callback_first"], c.queue_id, c.destination,
                                      sorted(PENDING_STATES))
            first = callback_from_row(row) if row is not None else None
        if c.slot is not None:
            booked = await conn.fetchval(self._q["slot_booked"], c.queue_id, c.slot, sorted(ACTIVE_STATES),
                                         first.id if first else c.id, slot_end or c.slot)
            if booked >= (slot_capacity or 0):
                raise SlotFull(f"the slot at {c.slot.isoformat()} is full ({booked} booked)")
        if first is not None:
            new = updated_request(first, c)
            row = await conn.fetchrow(self._q["callback_edit"], first.id, first.state.value, new.start_at,
                                      new.due_at, new.end_at, new.remark, new.agent_id, new.team_id,
                                      new.customer_timezone, new.type.value, new.destination, c.created_at, actor,
                                      first.due_at, new.slot)
            if row is not None and new.recording != first.recording:
                row = await conn.fetchrow(self._q["caller_callback_recording"], first.id, new.recording)
            return callback_from_row(row), False
        if c.origin is CallbackOrigin.CALLER and caller_limit is not None:
            pending = await conn.fetchval(self._q["caller_callbacks_pending"], c.queue_id, sorted(PENDING_STATES))
            if pending >= caller_limit:
                raise CallerLimitReached(limit_message(caller_limit))
        return callback_from_row(await conn.fetchrow(self._q["callback_insert_overwriting"], *args)), True

    async def claim_due(self, owner: UUID, *, now: datetime, limit: int, lease: timedelta,
                        actor: str = "scheduler") -> list[Callback]:
        rows = await self._fetch("callbacks_claim_due", now, limit, owner, lease, actor)
        rows = sorted(rows, key=lambda r: (r["old_due_at"], r["id"]))
        return [callback_from_row(r) for r in rows]

    async def transition(self, callback_id: UUID, *, expected: CallbackState, to: CallbackState, reason: Reason,
                         now: datetime, actor: str, owner: UUID | None = None, due_at: datetime | None = None,
                         attempts_count: int | None = None, network_failures: int | None = None,
                         strict_retries: int | None = None, completion_status: CompletionStatus | None = None,
                         keep_lease: bool = False, assigned_agent: str | None | Unchanged = UNCHANGED,
                         end_at: datetime | None = None,
                         call_now_agent: str | None | Unchanged = UNCHANGED) -> Callback | None:
        change = not isinstance(assigned_agent, Unchanged)
        pressed = not isinstance(call_now_agent, Unchanged)
        rows = await self._fetch(
            "callback_transition", callback_id, expected.value, to.value, reason.value, due_at, attempts_count,
            network_failures, strict_retries, completion_status.value if completion_status else None, keep_lease,
            now, owner, actor, change, assigned_agent if change else None, end_at, pressed,
            call_now_agent if pressed else None)
        return callback_from_row(rows[0]) if rows else None

    async def extend_leases(self, owner: UUID, *, now: datetime, lease: timedelta,
                            holding: Collection[UUID] | None = None) -> int:
        """Extend this process's leases, and the reservations of the agents on its live calls; with `holding`,
        only those in-progress callbacks whose calls it holds."""
        held = sorted(holding) if holding is not None else None
        return int(await self._value("callbacks_extend_leases", owner, now, lease, held))

    async def release_leases(self, owner: UUID, *, now: datetime) -> int:
        return int((await self._execute("callbacks_release_leases", owner, now)).split()[-1])

    async def next_due_at(self) -> datetime | None:
        return await self._value("callbacks_next_due")

    async def history(self, callback_id: UUID) -> list[StateChange]:
        rows = await self._fetch("callback_history", callback_id)
        return [StateChange(at=r["at"], from_state=CallbackState(r["from_state"]) if r["from_state"] else None,
                            to_state=CallbackState(r["to_state"]), reason=Reason(r["reason"]), actor=r["actor"],
                            due_at=r["due_at"]) for r in rows]

    async def booked_slots(self, queue_id: str, start: datetime, end: datetime) -> dict[datetime, int]:
        rows = await self._fetch("slots_booked", queue_id, start, end, sorted(ACTIVE_STATES))
        return {r["slot"]: r["booked"] for r in rows}

    async def pending_caller_callbacks(self, queue_id: str) -> int:
        async with self._pool.acquire() as conn:
            return await conn.fetchval(self._q["caller_callbacks_pending"], queue_id, sorted(PENDING_STATES))

    async def watch_rows(self, since: datetime, limit: int = 40) -> list[dict[str, Any]]:
        return [dict(r) for r in await self._fetch("callbacks_watch", since, limit)]

    async def active_for_contact(self, destination: str, queue_id: str | None = None) -> list[Callback]:
        return [callback_from_row(r) for r in await self._fetch("callbacks_active_for_contact", destination, queue_id)]

    async def search_callbacks(self, query: CallbackQuery, *, limit: int) -> list[Callback]:
        q = query
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(self._q["plan_each_call"])
            rows = await conn.fetch(
                self._q["callbacks_search"], q.state.value if q.state else None, q.queue_id, q.agent_id,
                q.created_by, q.destination, q.created_from, q.created_to, q.due_from, q.due_to,
                q.after[0] if q.after else None, q.after[1] if q.after else None,
                q.scope_agent, sorted(q.scope_teams), limit, sorted(q.scope_queues), sorted(QUEUE_TYPES),
                sorted(ACTIVE_STATES), sorted(DUE_WAITING_STATES))
        return [callback_from_row(r) for r in rows]

    async def edit_callback(self, old: Callback, new: Callback, *, now: datetime, actor: str) -> Callback | None:
        """Apply a person's edit, if the callback is still in the state `old` was read in."""
        rows = await self._fetch("callback_edit", old.id, old.state.value, new.start_at, new.due_at, new.end_at,
                                 new.remark, new.agent_id, new.team_id, new.customer_timezone, new.type.value,
                                 new.destination, now, actor, old.due_at, new.slot)
        return callback_from_row(rows[0]) if rows else None
