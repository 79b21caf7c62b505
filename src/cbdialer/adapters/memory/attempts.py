"""Attempts in memory. Rule: a start needs the lease, a paced dial slot and a free agent; only the first end counts."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from uuid import UUID

from cbdialer.adapters.memory.state import AttemptRow, MemoryBase, QueueRow
from cbdialer.domain.attempt import WRITTEN_FORWARD
from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import Attempt, Callback, CallbackType, CompletionStatus, InteractionState
from cbdialer.domain.outcomes import NextStep, results_allowing
from cbdialer.ports import UNCHANGED, Ended, Started, StartOutcome, Unchanged


class AttemptsMixin(MemoryBase):
    def _free_slot(self, queue: QueueRow, max_calls: int) -> int | None:
        """The first free slot below max_calls, unless the calls in every slot (a lowered max_concurrent_calls
        leaves some above it) already reach max_calls."""
        free = min((n for n, attempt in queue.slots.items() if n < max_calls and attempt is None), default=None)
        if free is not None and sum(1 for a in queue.slots.values() if a is not None) >= max_calls:
            return None
        return free

    async def start_attempt(self, callback: Callback, *, attempt_id: UUID, agent_id: str, owner: UUID,
                            now: datetime, lease: timedelta, reserve_until: datetime, actor: str,
                            max_calls: int, calls_per_second: float) -> Started:
        """cbdialer_start_attempt (migration 0006), step by step."""
        s = self._s
        row = s.callbacks.get(callback.id)
        if row is None or row.state is not CallbackState.QUEUED or row.lease_owner != owner:
            return Started(StartOutcome.NOT_OURS, None)
        queue = s.queues[row.queue_id]
        step = timedelta(seconds=1.0 / calls_per_second)
        burst = max(1, math.floor(calls_per_second))
        if queue.next_dial_at is not None and queue.next_dial_at - now > step * (burst - 1):
            return Started(StartOutcome.NO_SLOT, None)
        slot = self._free_slot(queue, max_calls)
        if slot is None:  # the second round: create the missing slots, free those of attempts seen ended
            for n in range(max_calls):
                queue.slots.setdefault(n, None)
            for n, attempt in queue.slots.items():
                if attempt is not None and attempt in s.attempts and s.attempts[attempt].ended_at is not None:
                    queue.slots[n] = None
            slot = self._free_slot(queue, max_calls)
        if slot is None:
            return Started(StartOutcome.NO_SLOT, None)
        agent = s.agents.get(agent_id)
        if (agent is None or not agent.ready
                or not (agent.reserved_for is None
                        or (agent.reserved_until is not None and agent.reserved_until <= now))
                or not (agent.wrap_up_until is None or agent.wrap_up_until <= now)):
            return Started(StartOutcome.AGENT_TAKEN, None)
        if attempt_id in s.attempts:
            raise KeyError(f"attempt {attempt_id} exists already")  # PostgreSQL: a unique violation, rolled back
        agent.reserved_for, agent.reserved_until = attempt_id, reserve_until
        row.state, row.reason, row.due_at = CallbackState.IN_PROGRESS, Reason.DIALING, now + lease
        row.assigned_agent = row.assigned_at = row.call_now_agent = None  # call_now_agent: migration 0009's trigger
        row.touch(now)
        s.attempts[attempt_id] = AttemptRow(id=attempt_id, callback_id=row.id, queue_id=row.queue_id,
                                            agent_id=agent_id, owner=owner, started_at=now)
        queue.slots[slot] = attempt_id
        self._audit(row.id, now, CallbackState.QUEUED, CallbackState.IN_PROGRESS, Reason.DIALING, actor, row.due_at)
        queue.next_dial_at = max(queue.next_dial_at or now, now) + step
        return Started(StartOutcome.STARTED, row.callback())

    async def release_agent(self, agent_id: str, attempt_id: UUID, *, wrap_up_until: datetime) -> None:
        agent = self._s.agents.get(agent_id)
        if agent is not None and agent.reserved_for == attempt_id:
            agent.release(wrap_up_until)

    async def record_result(self, attempt_id: UUID, *, agent_id: str, heard_at: datetime, dial_status: str,
                            hangup_cause: int, amd_status: str, wrap_up_until: datetime,
                            status: CompletionStatus) -> bool:
        """The holder heard the line's result: on record at once (the first record wins), with the status it
        means, the attempt in wrap-up, the agent released into it. False if the attempt had ended."""
        attempt = self._s.attempts.get(attempt_id)
        if attempt is None or attempt.ended_at is not None:
            return False
        if attempt.result_at is None:
            attempt.dial_status, attempt.hangup_cause, attempt.amd_status = dial_status, hangup_cause, amd_status
            attempt.result_at = heard_at
        attempt.completion_status = attempt.completion_status or status
        attempt.interaction_state = InteractionState.WRAP_UP
        self._release(agent_id, attempt_id, wrap_up_until)
        return True

    def _release(self, agent_id: str, attempt_id: UUID, wrap_up_until: datetime) -> None:
        agent = self._s.agents.get(agent_id)
        if agent is not None and agent.reserved_for == attempt_id:
            agent.release(wrap_up_until)

    async def result_heard(self, attempt_id: UUID, *, heard_at: datetime, dial_status: str, hangup_cause: int,
                           amd_status: str) -> bool:
        """Record a result heard for an attempt this process does not hold; False if one was on record, or the
        attempt has ended (or is not cbdialer's)."""
        attempt = self._s.attempts.get(attempt_id)
        if attempt is None or attempt.ended_at is not None or attempt.result_at is not None:
            return False
        attempt.result_at, attempt.dial_status = heard_at, dial_status
        attempt.hangup_cause, attempt.amd_status = hangup_cause, amd_status
        return True

    async def wait(self, callback: Callback, *, owner: UUID, reason: Reason, due_at: datetime, now: datetime,
                   actor: str, assigned_agent: str | None | Unchanged = UNCHANGED) -> Callback | None:
        """A due callback waits, still queued, until `due_at`; audited only when the reason or the agent it
        waits for changes. None if it is not ours."""
        row = self._s.callbacks.get(callback.id)
        if row is None or row.state is not CallbackState.QUEUED or row.lease_owner != owner:
            return None
        old_reason, old_agent = row.reason, row.assigned_agent
        row.reason, row.due_at, row.lease_owner = Reason(reason), due_at, None
        if not isinstance(assigned_agent, Unchanged):
            row.assign(assigned_agent, now)
            if row.type is CallbackType.AGENT and assigned_agent == row.agent_id and row.agent_wait_since is None:
                row.agent_wait_since = now  # callback_wait: the first wait for its named agent counts
        row.touch(now)
        if old_reason != row.reason or old_agent != row.assigned_agent:
            self._audit(row.id, now, CallbackState.QUEUED, CallbackState.QUEUED, row.reason, actor, row.due_at)
        return row.callback()

    async def return_lease(self, callback_id: UUID, *, owner: UUID, due_at: datetime) -> bool:
        """Hand back the lease of an in-progress callback whose line could not be seen; it falls due at `due_at`."""
        row = self._s.callbacks.get(callback_id)
        if row is None or row.lease_owner != owner or row.state is not CallbackState.IN_PROGRESS:
            return False
        row.lease_owner, row.due_at = None, due_at
        return True

    async def set_attempt_states(self, states: Mapping[UUID, InteractionState]) -> None:
        """Move live attempts' interaction states forward only (in the domain's order, WRITTEN_FORWARD, which
        attempt_states takes as a parameter), never after the attempt ended."""
        for attempt_id, state in states.items():
            attempt = self._s.attempts.get(attempt_id)
            if (attempt is not None and attempt.ended_at is None and state in WRITTEN_FORWARD
                    and attempt.interaction_state in WRITTEN_FORWARD
                    and WRITTEN_FORWARD.index(state) > WRITTEN_FORWARD.index(attempt.interaction_state)):
                attempt.interaction_state = state

    async def end_attempt(self, attempt_id: UUID, *, agent_id: str, owner: UUID, now: datetime,
                          wrap_up_until: datetime, step: NextStep, dial_status: str, hangup_cause: int,
                          amd_status: str, actor: str) -> Ended:
        """attempt_end: the first end wins; the agent's reservation for it is released in any case; only the
        attempt that ends here moves its callback out of in_progress (guarded by state and lease)."""
        s = self._s
        attempt = s.attempts.get(attempt_id)
        finished = attempt is not None and attempt.ended_at is None
        self._release(agent_id, attempt_id, wrap_up_until)
        freed = s.agents.get(agent_id)
        if wrap_up_until <= now and freed is not None and freed.reserved_for is None \
                and (freed.wrap_up_until is None or freed.wrap_up_until <= now):
            # callback_wake_for_agent: the agent is free, so the first of its own callback queue falls due now
            waiting = sorted((r for r in s.callbacks.values()
                              if r.assigned_agent == agent_id and r.state is CallbackState.QUEUED),
                             key=lambda r: (r.assigned_at or now, r.id))
            if waiting and waiting[0].lease_owner is None and waiting[0].reason is Reason.DIAL_SLOT_UNAVAILABLE \
                    and waiting[0].due_at > now:
                waiting[0].due_at = min(now, waiting[0].due_since or now) - timedelta(milliseconds=1)  # see attempt_end
                waiting[0].touch(now)
        if attempt is None or not finished:
            return Ended(finished=False, callback=None)
        attempt.ended_at, attempt.interaction_state = now, InteractionState.ENDED
        attempt.completion_status = step.status
        if attempt.result_at is None:  # a result recorded when it was heard stands
            attempt.dial_status, attempt.hangup_cause, attempt.amd_status = dial_status, hangup_cause, amd_status
            attempt.result_at = now if dial_status != "" else None
        attempt.counted = step.counted
        slots = s.queues[attempt.queue_id].slots
        for n, taken in list(slots.items()):
            if taken == attempt_id:
                slots[n] = None
        row = s.callbacks.get(attempt.callback_id)
        if row is None or row.state is not CallbackState.IN_PROGRESS or row.lease_owner != owner:
            return Ended(finished=True, callback=None)
        row.state, row.reason, row.completion_status = CallbackState(step.state), Reason(step.reason), step.status
        if step.agent_id is not None:  # callback_requested for a particular agent
            row.type, row.agent_id, row.team_id = CallbackType.AGENT, step.agent_id, None
        if step.renews_agent_wait:
            row.agent_wait_since = None
        for name, value in (("due_at", step.due_at), ("attempts_count", step.attempts_count),
                            ("network_failures", step.network_failures), ("end_at", step.end_at)):
            if value is not None:
                setattr(row, name, value)
        row.lease_owner = None
        row.touch(now)
        self._audit(row.id, now, CallbackState.IN_PROGRESS, row.state, row.reason, actor, row.due_at)
        return Ended(finished=True, callback=row.callback())

    async def set_disposition(self, callback_id: UUID, disposition: CompletionStatus,
                              start: datetime | None = None, *, agent_id: str | None = None,
                              new_agent: str | None = None) -> bool:
        """The agent's disposition for the call of `callback_id` now in wrap-up (with `agent_id`: only if that
        agent had the call), if the line's result allows it; False if there is no such call."""
        after = results_allowing(disposition)
        matched = [a for a in self._s.attempts.values()
                   if a.callback_id == callback_id and a.ended_at is None and a.completion_status in after
                   and a.interaction_state is InteractionState.WRAP_UP and (agent_id is None or a.agent_id == agent_id)]
        for attempt in matched:
            attempt.disposition, attempt.disposition_start = disposition, start
            attempt.disposition_agent = new_agent
        return bool(matched)

    async def take_disposition(self, attempt_id: UUID) -> tuple[CompletionStatus, datetime | None, str | None] | None:
        """Close the attempt's wrap-up to dispositions and return the one set, if any."""
        attempt = self._s.attempts.get(attempt_id)
        if attempt is None or attempt.ended_at is not None:
            return None
        attempt.interaction_state = InteractionState.ENDED
        if attempt.disposition is None:
            return None
        return attempt.disposition, attempt.disposition_start, attempt.disposition_agent

    async def attempts(self, callback_id: UUID) -> list[Attempt]:
        mine = sorted((a for a in self._s.attempts.values() if a.callback_id == callback_id),
                      key=lambda a: a.started_at)
        return [Attempt(id=a.id, callback_id=a.callback_id, agent_id=a.agent_id, started_at=a.started_at,
                        interaction_state=a.interaction_state, ended_at=a.ended_at,
                        completion_status=a.completion_status, dial_status=a.dial_status or "",
                        hangup_cause=a.hangup_cause or 0, amd_status=a.amd_status or "", counted=a.counted,
                        result_at=a.result_at) for a in mine]
