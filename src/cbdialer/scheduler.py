"""The scheduler: the shell around the callback book's rules. Rule: it claims what is due, asks the pure
core what to do with each callback, and carries that out through the store (guarded transitions) or the
dialer port; it decides nothing itself.

It claims no more than can be offered now (the agent board's free agents and dial slots, plus a tenth), so a
burst waits in the database in due order instead of churning through postponements.

It wakes on whichever comes first: a NOTIFY or an agent freed (`wake`), the earliest due time it knows of (or,
while every agent is taken, the earliest end of a wrap-up), the fallback poll, or stop. A lost NOTIFY therefore
delays by at most the poll interval; it never loses a callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Collection, Coroutine
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import structlog

from cbdialer.domain.book import End, Hold, Present, Recover, decide_due, decide_postponed
from cbdialer.domain.lifecycle import transition
from cbdialer.domain.models import Callback, Queue
from cbdialer.domain.place import keeps_place
from cbdialer.domain.routing import Postpone, route
from cbdialer.ports import AgentDirectory, CallbackStore, DialerPort, StoreUnavailable
from cbdialer.ports.metrics import NO_METRICS, Metrics


class Scheduler:
    def __init__(self, store: CallbackStore, dialer: DialerPort, agents: AgentDirectory, *, owner: UUID,
                 clock: Callable[[], datetime], batch: int = 100, lease: timedelta = timedelta(seconds=30),
                 poll_interval: float = 1.0, concurrency: int = 4, ready: asyncio.Event | None = None,
                 holding: Callable[[], Collection[UUID]] | None = None, metrics: Metrics = NO_METRICS,
                 log: Any = None) -> None:
        self.store = store
        self.dialer = dialer
        self.agents = agents
        self.owner = owner
        self.clock = clock
        self.batch = batch
        self.lease = lease
        self.poll_interval = poll_interval
        # Writes and Originates in flight at once: a few, so that the AMI event consumer and the heartbeat
        # still find a free database connection in the pool.
        self.concurrency = concurrency
        self.wake = asyncio.Event()
        # Claims wait for this (the dialer's: the AMI link up, presence known, reconciled): while Asterisk is
        # out of reach nothing is claimed, so no agent is reserved, no attempt written, nothing counted.
        self.ready = ready
        # The callbacks whose calls the dialer holds: the heartbeat keeps only their in-progress leases alive.
        self.holding = holding
        self.actor = f"scheduler:{owner}"
        self.presented = 0
        self.placed = 0
        self._wide = False  # the next claim is a whole batch (see run)
        self.metrics = metrics
        self._log = log or structlog.get_logger("cbdialer.scheduler")

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                if self.ready is not None and not self.ready.is_set():
                    await _first_of(self.ready, stop)
                    continue
                limit = self._claim_limit()
                claimed = await self.tick(limit)
                if claimed < limit:
                    await self._sleep(stop)  # nothing more is due now
                elif limit < self.batch and self.presented == claimed:
                    # More is due than can be offered, and every one claimed wanted an agent.
                    if not self.agents.free_agents():
                        await self._sleep(stop, until_freed=True)  # none left: wait for one to be freed
                    elif not self.placed:
                        # None found an agent, not even a busy one to wait for, though agents are left (another
                        # queue's, other skills): the next claim is a whole batch, to get past them to the
                        # callbacks that can use them.
                        self._wide = True
        finally:
            with contextlib.suppress(Exception):
                # Hand back what was claimed but not started, so another process takes it at once.
                await self.store.release_leases(self.owner, now=self.clock())

    def agent_freed(self, agent_id: str, at: datetime) -> None:
        """An agent may take a callback (from `at`): claim now what can be offered, rather than at the poll."""
        self.wake.set()

    async def heartbeat(self, stop: asyncio.Event) -> None:
        """Keep this process's leases alive: every third of the lease."""
        while not stop.is_set():
            held = self.holding() if self.holding is not None else None
            await self.store.extend_leases(self.owner, now=self.clock(), lease=self.lease, holding=held)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.lease.total_seconds() / 3):
                    await stop.wait()

    def _claim_limit(self) -> int:
        """As many as can be offered now, a tenth more (for callbacks that need no agent, and what the board
        cannot see), at least one (so that holds and expiries still come through while every agent is busy)."""
        free = self.agents.free_agents()
        if free is None or self._wide:
            self._wide = False
            return self.batch
        return max(1, min(self.batch, free + free // 10))

    async def tick(self, limit: int | None = None) -> int:
        """Claim one batch of due callbacks (at most `limit`) and deal with each; return how many were claimed.

        Decisions and routing are made one callback at a time, in due order, so each sees what the previous
        one took; the writes and Originates they lead to then run side by side (at most `concurrency` at
        once), so that one batch costs a few round trips of wall time, not one per callback."""
        now = self.clock()
        started = time.perf_counter()
        self.presented = 0  # of those claimed, how many were to be offered to an agent
        self.placed = 0  # of those, how many routing found an agent for (to offer now, or to wait for)
        claimed = await self.store.claim_due(self.owner, now=now, limit=limit or self.batch, lease=self.lease,
                                             actor=self.actor)
        self.metrics.claimed(time.perf_counter() - started, len(claimed))
        queues: dict[str, Queue | None] = {}
        dnc, excluded = await self.store.restricted([c.destination for c in claimed]) if claimed else (set(), set())
        work: list[Awaitable[None]] = []
        try:
            for callback in claimed:
                if callback.queue_id not in queues:
                    queues[callback.queue_id] = await self.store.get_queue(callback.queue_id)
                queue = queues[callback.queue_id]
                if queue is None:  # the foreign key makes this impossible; say so loudly if it happens
                    self._log.error("callback_without_queue", callback_id=str(callback.id),
                                    queue_id=callback.queue_id)
                    continue
                work.append(await self._plan(callback, queue, now, on_dnc=callback.destination in dnc,
                                             excluded=callback.destination in excluded))
        except BaseException:
            for step in work:  # planned but never to run: close them, so none is left un-awaited
                if isinstance(step, Coroutine):
                    step.close()
            raise
        await self._carry_out(work)
        return len(claimed)

    async def _carry_out(self, work: list[Awaitable[None]]) -> None:
        limit = asyncio.Semaphore(self.concurrency)

        async def one(step: Awaitable[None]) -> None:
            async with limit:
                await step

        try:
            async with asyncio.TaskGroup() as group:
                for step in work:
                    group.create_task(one(step))
        except* StoreUnavailable as outage:
            # One outage, however many steps met it: the task's supervisor rides it through.
            raise outage.exceptions[0] from None

    async def _plan(self, callback: Callback, queue: Queue, now: datetime, *, on_dnc: bool,
                    excluded: bool) -> Awaitable[None]:
        decision = decide_due(callback, queue, now=now, on_dnc=on_dnc, excluded=excluded)
        if isinstance(decision, Recover) and await self.dialer.recover(callback, queue, now=now):
            return _done()
        if isinstance(decision, Present):
            self.presented += 1
            if keeps_place(callback, queue.settings) and not await self.dialer.place_reached(callback, queue):
                return self.dialer.wait_for_place(callback, now=now)
            routed = route(callback, queue, await self.agents.pool_for(queue, callback), now=now)
            if not isinstance(routed, Postpone):
                self.placed += 1
            if isinstance(routed, Postpone):
                return self._apply(callback, decide_postponed(callback, routed, now=now), now)
            return self.dialer.present(callback, queue, routed, now=now)
        return self._apply(callback, decision, now)

    async def _apply(self, callback: Callback, decision: Hold | End | Recover, now: datetime) -> None:
        expected = callback.state
        if isinstance(decision, Recover):
            step = decision.step
            changed = await self.store.transition(
                callback.id, expected=expected, to=step.state, reason=step.reason, now=now, actor=self.actor,
                owner=self.owner, due_at=step.due_at, attempts_count=step.attempts_count,
                network_failures=step.network_failures, completion_status=step.status)
        elif isinstance(decision, Hold):
            changed = await self.store.transition(
                callback.id, expected=expected, to=transition(expected, decision.reason), reason=decision.reason,
                now=now, actor=self.actor, owner=self.owner, due_at=decision.due_at,
                strict_retries=callback.strict_retries + 1 if decision.strict_retry else None,
                assigned_agent=None)  # held back: it no longer waits in any agent's own callback queue
        else:
            changed = await self.store.transition(
                callback.id, expected=expected, to=transition(expected, decision.reason), reason=decision.reason,
                now=now, actor=self.actor, owner=self.owner)
        if changed is None:
            # Someone else won (a person cancelled it, or our lease was taken over): nothing to do.
            self._log.info("transition_lost", callback_id=str(callback.id), expected=expected.value)
        else:
            if not isinstance(decision, Recover):
                self.metrics.held(decision.reason.value)
            self._log.debug("callback_changed", callback_id=str(callback.id), state=changed.state.value,
                            reason=changed.reason.value)

    async def _sleep(self, stop: asyncio.Event, *, until_freed: bool = False) -> None:
        delay = self.poll_interval
        # Every agent taken: what is due waits for one to be freed (an end heard wakes us; a wrap-up's end
        # is known ahead). Else: until the next due time.
        next_at = self.agents.next_free_at() if until_freed else await self.store.next_due_at()
        if next_at is not None:
            delay = min(delay, max(0.0, (next_at - self.clock()).total_seconds()))
        if delay <= 0:
            return
        waiters = [asyncio.ensure_future(self.wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        self.wake.clear()


async def _first_of(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _done() -> None:
    """Nothing left to do (the step was carried out while planning)."""
