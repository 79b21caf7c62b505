"""Attempts in PostgreSQL: start (dial slot, agent reservation, attempt row and in_progress in one statement),
the heard result, the end, dispositions. Rule: an attempt starts in one statement committed before any
Originate, and only its first end counts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from uuid import UUID

from cbdialer.adapters.db.store.base import StoreBase, callback_from_row
from cbdialer.domain.attempt import WRITTEN_FORWARD
from cbdialer.domain.lifecycle import Reason
from cbdialer.domain.models import (
    Attempt,
    Callback,
    CompletionStatus,
    InteractionState,
)
from cbdialer.domain.outcomes import NextStep, results_allowing
from cbdialer.ports import (
    UNCHANGED,
    Ended,
    Started,
    StartOutcome,
    Unchanged,
)


class PostgresAttempts(StoreBase):
    async def start_attempt(self, callback: Callback, *, attempt_id: UUID, agent_id: str, owner: UUID,
                            now: datetime, lease: timedelta, reserve_until: datetime, actor: str,
                            max_calls: int, calls_per_second: float) -> Started:
        """Take a dial slot of the queue (across every process), reserve the agent until `reserve_until`,
        write the attempt and move the callback to in_progress, in one statement committed before anything is
        sent to Asterisk (docs/design.md sections 4 and 8)."""
        rows = await self._fetch("attempt_start", callback.id, attempt_id, agent_id, owner, now, lease,
                                 reserve_until, actor, max_calls, calls_per_second)
        row = rows[0]
        return Started(outcome=StartOutcome(row["outcome"]),
                       callback=callback_from_row(row) if row["id"] is not None else None)

    async def record_result(self, attempt_id: UUID, *, agent_id: str, heard_at: datetime, dial_status: str,
                            hangup_cause: int, amd_status: str, wrap_up_until: datetime,
                            status: CompletionStatus) -> bool:
        """The holder heard the line's result: on record at once (with the status it means, which decides the
        dispositions allowed), the attempt in wrap-up, the agent released into it (see attempt_record_result).
        False if the attempt had ended."""
        return bool(await self._fetch("attempt_record_result", attempt_id, heard_at, dial_status, hangup_cause,
                                      amd_status, agent_id, wrap_up_until, status.value))

    async def result_heard(self, attempt_id: UUID, *, heard_at: datetime, dial_status: str, hangup_cause: int,
                           amd_status: str) -> bool:
        """Record a result heard for an attempt this process does not hold; False if one was on record, or the
        attempt has ended (or is not cbdialer's)."""
        return await self._value("attempt_result_heard", attempt_id, heard_at, dial_status, hangup_cause,
                                 amd_status) is not None

    async def wait(self, callback: Callback, *, owner: UUID, reason: Reason, due_at: datetime, now: datetime,
                   actor: str, assigned_agent: str | None | Unchanged = UNCHANGED) -> Callback | None:
        """A due callback waits, still queued, until `due_at` (see callback_wait); None if it is not ours."""
        change = not isinstance(assigned_agent, Unchanged)
        rows = await self._fetch("callback_wait", callback.id, owner, reason.value, due_at, now, change,
                                 assigned_agent if change else None, actor)
        return callback_from_row(rows[0]) if rows else None

    async def return_lease(self, callback_id: UUID, *, owner: UUID, due_at: datetime) -> bool:
        """Hand back the lease of an in-progress callback whose line could not be seen; it falls due at `due_at`."""
        return await self._value("callback_lease_return", callback_id, owner, due_at) is not None

    async def set_attempt_states(self, states: Mapping[UUID, InteractionState]) -> None:
        """Move live attempts' interaction states forward, in one statement (see attempt_states)."""
        await self._execute("attempt_states", list(states), [state.value for state in states.values()],
                            [state.value for state in WRITTEN_FORWARD])

    async def end_attempt(self, attempt_id: UUID, *, agent_id: str, owner: UUID, now: datetime,
                          wrap_up_until: datetime, step: NextStep, dial_status: str, hangup_cause: int,
                          amd_status: str, actor: str) -> Ended:
        """Record how the attempt ended and apply `step` to its callback, and free the agent, in one statement.
        Only the first end of an attempt counts (`Ended.finished` is False for any later one)."""
        rows = await self._fetch(
            "attempt_end", attempt_id, now, step.status.value, dial_status, hangup_cause, amd_status, step.counted,
            agent_id, wrap_up_until, owner, step.state.value, step.reason.value, step.due_at, step.attempts_count,
            step.network_failures, step.end_at, actor, step.agent_id, step.renews_agent_wait)
        row = rows[0]
        if wrap_up_until <= now:  # free at once: the callback waiting first for it is due (also on a replay: the
            # first end may have committed and its wake not, in an outage; the statement is guarded)
            await self._execute("callback_wake_for_agent", agent_id, now)
        return Ended(finished=row["finished"], callback=callback_from_row(row) if row["id"] is not None else None)

    async def set_disposition(self, callback_id: UUID, disposition: CompletionStatus,
                              start: datetime | None = None, *, agent_id: str | None = None,
                              new_agent: str | None = None) -> bool:
        """The agent's disposition for the call of `callback_id` now in wrap-up (with `agent_id`: only if that
        agent had the call), if the line's result allows it; False if there is no such call."""
        return await self._value("attempt_disposition_set", callback_id, disposition.value, start, agent_id,
                                 sorted(r.value for r in results_allowing(disposition)), new_agent) is not None

    async def take_disposition(self, attempt_id: UUID) -> tuple[CompletionStatus, datetime | None, str | None] | None:
        """Close the attempt's wrap-up to dispositions and return the one set, if any."""
        rows = await self._fetch("attempt_disposition_take", attempt_id)
        if not rows or rows[0]["disposition"] is None:
            return None
        return CompletionStatus(rows[0]["disposition"]), rows[0]["disposition_start"], rows[0]["disposition_agent"]

    async def attempts(self, callback_id: UUID) -> list[Attempt]:
        return [Attempt(id=r["id"], callback_id=r["callback_id"], agent_id=r["agent_id"], started_at=r["started_at"],
                        interaction_state=InteractionState(r["interaction_state"]), ended_at=r["ended_at"],
                        completion_status=CompletionStatus(r["completion_status"]) if r["completion_status"] else None,
                        dial_status=r["dial_status"] or "", hangup_cause=r["hangup_cause"] or 0,
                        amd_status=r["amd_status"] or "", counted=r["counted"], result_at=r["result_at"])
                for r in await self._fetch("attempts_of_callback", callback_id)]

    async def release_agent(self, agent_id: str, attempt_id: UUID, *, wrap_up_until: datetime) -> None:
        await self._execute("agent_release", agent_id, attempt_id, wrap_up_until)
