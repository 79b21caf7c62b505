"""The dialer's waits: a due callback held back (a rule), or kept queued until an agent or a dial slot frees up,
and this process's view of its dial slots. Rule: a wait is written once per reason (not once per recheck), and
a callback waiting for an agent is woken when that agent is freed, whichever write comes first."""

from __future__ import annotations

from datetime import datetime

from cbdialer.dialer.live import Pacer
from cbdialer.domain.lifecycle import Reason, transition
from cbdialer.domain.models import Callback, Queue
from cbdialer.ports import UNCHANGED, Unchanged


class Waits:
    """Holds, waits and dial slots, for the Dialer."""

    def _calls_in(self, queue_id: str) -> int:
        """This process's calls of the queue: live, or being offered."""
        return self.live.in_queue(queue_id) + sum(1 for q, _ in self._offering.values() if q == queue_id)

    def _dial_slots(self, queue: Queue) -> int:
        """How many calls of the queue this process may start now: its free concurrent calls, paced."""
        free = max(0, queue.settings.max_concurrent_calls - self._calls_in(queue.id))
        pacer = self._pacers.get(queue.id)
        return free if pacer is None else min(free, pacer.available(self.clock()))

    def _agent_free(self, agent_id: str, at: datetime) -> None:
        """An agent's device went idle (a call that was not ours ended): the keeper makes the callback first in
        its own callback queue due at `at` (the end of a wrap-up, or now). An attempt's end does so itself
        (the store's end_attempt, once the end is committed)."""
        self._free_agents[agent_id] = at
        self.turns_changed.set()

    def _slot_free(self, queue: Queue, now: datetime) -> bool:
        """This process's own view of the queue's pacing (PostgreSQL has the last word, across processes)."""
        if self._calls_in(queue.id) >= queue.settings.max_concurrent_calls:
            return False
        pacer = self._pacers.setdefault(queue.id, Pacer(queue.settings.calls_per_second))
        pacer.rate = queue.settings.calls_per_second
        return pacer.take(now)

    async def _hold(self, callback: Callback, reason: Reason, due_at: datetime, now: datetime) -> None:
        if due_at >= callback.end_at:
            reason, due_at = Reason.EXPIRED, callback.end_at
        self.metrics.held(reason.value)
        await self.store.transition(callback.id, expected=callback.state, to=transition(callback.state, reason),
                                    reason=reason, now=now, actor=self.actor, owner=self.owner, due_at=due_at,
                                    assigned_agent=None if reason is Reason.EXPIRED else UNCHANGED)

    async def _wait(self, callback: Callback, due_at: datetime, now: datetime, *,
                    assigned_agent: str | None | Unchanged = UNCHANGED,
                    reason: Reason = Reason.DIAL_SLOT_UNAVAILABLE) -> None:
        """It stays queued and falls due again at `due_at` (audited once per wait, not once per retry)."""
        if due_at >= callback.end_at:
            await self._hold(callback, Reason.EXPIRED, due_at, now)
            return
        if callback.reason is not reason:  # a wait rechecked every second or two counts once
            self.metrics.held(reason.value)
        await self.store.wait(callback, owner=self.owner, reason=reason, due_at=due_at,
                              now=now, actor=self.actor, assigned_agent=assigned_agent)

    async def _wait_for_agent(self, callback: Callback, due_at: datetime, now: datetime, agent_id: str,
                              freed: int) -> None:
        """It waits in the agent's own callback queue. The agent's end wakes it (attempt_end, then
        callback_wake_for_agent); if the agent was freed while this wait was being written, that wake may
        have come too early to see it: it is made due here instead."""
        await self._wait(callback, due_at, now, assigned_agent=agent_id)
        if self.board.ending(agent_id):
            self.board.wake_after_end(agent_id, callback.id)  # that end's wake may not see this wait
        elif self.board.freed_count(agent_id) != freed:
            now = self.clock()
            at = self.board.free_at(agent_id)  # freed into a wrap-up: due at its end
            await self.store.due_now(callback.id, reason=Reason.DIAL_SLOT_UNAVAILABLE, now=now,
                                     at=at if at is not None and at > now else None)
