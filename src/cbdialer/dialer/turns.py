"""Callers' turns and callbacks' precedence over inbound queue calls (docs/design.md section 14, seed 004).

Rules:
- a caller's callback that keeps a place (domain/place.py) is presented only once no caller who joined that
  Asterisk queue earlier still waits and no earlier one is pending; until then it waits, queued
  (`waiting_for_place`), and the keeper makes it due the moment the queue changes so that its place is reached;
- an agent this process offers a callback to (from the offer until its wrap-up ends), or that a due callback
  waits for (in its own callback queue), is paused in the queue's Asterisk queue with PAUSE_REASON, so that
  app_queue does not hand it an inbound call first; it is unpaused once that is over;
- at every LinkUp the pauses are read from Asterisk, and any with PAUSE_REASON this process does not want is
  lifted a lease later (by then the callbacks a crashed cbdialer held are this one's, and their pauses wanted
  again): a crashed cbdialer's pauses end within a lease of any cbdialer's next connect.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable
from datetime import datetime, timedelta

from cbdialer.dialer.live import AGENT_QUEUE_RECHECK
from cbdialer.domain.lifecycle import Reason
from cbdialer.domain.models import Agent, Callback, CallbackType, Queue
from cbdialer.domain.place import keeps_place, place_reached
from cbdialer.domain.presence import device_of
from cbdialer.domain.routing import EnqueueForAgent
from cbdialer.ports.telephony import TelephonyError

# What a pause by cbdialer says in app_queue (QueueStatus's PausedReason), so that it is known as ours.
PAUSE_REASON = "cbdialer: callback first"
# A caller's callback waiting for its place looks again after this, should the keeper miss a change.
PLACE_RECHECK = timedelta(seconds=10)
# A wait for an agent outlives its last recheck by this much before its pause is lifted.
WAIT_KEPT = 2 * AGENT_QUEUE_RECHECK + timedelta(seconds=1)
# The keeper's round: pauses expire and are re-asserted at this pace; places are looked at on every change.
KEEPER_ROUND = 1.0
PAUSES_REREAD = 30.0
QUEUES_TTL = 10.0

Pair = tuple[str, str]  # (Asterisk queue, case-folded; member interface)


class Turns:
    """The place keeper and the member pauses, for the Dialer."""

    def _init_turns(self) -> None:
        self._turn_waits: dict[uuid.UUID, tuple[frozenset[Pair], datetime]] = {}  # callback -> (pauses, until)
        self._paused: set[Pair] = set()  # what this process has paused
        self._adopted: tuple[frozenset[Pair], datetime | None] = (frozenset(), None)  # found at LinkUp, kept until
        self._freed: set[str] = set()  # devices heard going idle since the keeper's last round
        self._refused: dict[Pair, float] = {}  # pauses Asterisk refused (not a member?): when, to try seldom
        self.turns_changed = asyncio.Event()
        self._place_queues: tuple[float, list[Queue]] = (float("-inf"), [])

    # -- places ----------------------------------------------------------------------------------------

    async def place_reached(self, callback: Callback, queue: Queue) -> bool:
        """Whether `callback` may be presented as far as its caller's place goes (True if it keeps none)."""
        asterisk_queue = queue.settings.asterisk_queue
        if not keeps_place(callback, queue.settings) or asterisk_queue is None or callback.joined_at is None:
            return True
        if not self.places.known:
            return False  # who waits is not known (the link is down, or not yet re-read): nobody jumps ahead
        front = await self.store.caller_front(queue.id)
        earlier = [front.joined_at] if front is not None and front.id != callback.id and front.joined_at else []
        return place_reached(callback.joined_at, waiting_since=self.places.waiting_since(asterisk_queue),
                             earlier_pending=earlier)

    def wait_for_place(self, callback: Callback, *, now: datetime) -> Awaitable[None]:
        return self._wait(callback, now + PLACE_RECHECK, now, reason=Reason.WAITING_FOR_PLACE)

    async def _release_places(self, now: datetime) -> None:
        """Make each queue's front caller's callback due once its place is reached (one index read per queue)."""
        if not self.places.known:
            return
        for queue in await self._queues_with_callers():
            front = await self.store.caller_front(queue.id)
            if front is None or front.reason is not Reason.WAITING_FOR_PLACE or front.joined_at is None:
                continue
            assert queue.settings.asterisk_queue is not None
            if place_reached(front.joined_at, waiting_since=self.places.waiting_since(queue.settings.asterisk_queue),
                             earlier_pending=()):
                if await self.store.due_now(front.id, reason=Reason.WAITING_FOR_PLACE, now=now):
                    self._log.info("caller_place_reached", callback_id=str(front.id), queue=queue.id)

    async def _queues_with_callers(self) -> list[Queue]:
        read_at, queues = self._place_queues
        if time.monotonic() - read_at > QUEUES_TTL:
            queues = [q for q in await self.store.queues() if q.settings.asterisk_queue]
            self._place_queues = (time.monotonic(), queues)
        return queues

    # -- pauses ----------------------------------------------------------------------------------------

    def note_turn(self, callback: Callback, queue: Queue, decision: EnqueueForAgent | Agent, *,
                  now: datetime) -> None:
        """A due callback of `queue` waits for an agent (`decision`), or is being offered to one (an Agent).
        While it waits, the agents who could take it are paused in the queue's Asterisk queue; once offered,
        only that agent stays paused (its live attempt keeps it so once written)."""
        asterisk_queue = queue.settings.asterisk_queue
        if asterisk_queue is None:
            return
        if isinstance(decision, Agent):
            pairs = frozenset({(asterisk_queue.casefold(), decision.dial_string)})
            if self._turn_waits.get(callback.id, (None,))[0] != pairs:
                self._turn_waits[callback.id] = (pairs, now + WAIT_KEPT)
                self.turns_changed.set()
            return
        kind = decision.converted_to or callback.type
        if kind in (CallbackType.AGENT, CallbackType.STRICT_AGENT):
            agents = [a for a in [self.board.agent(queue, decision.agent_id)] if a is not None]
        else:  # any suitable agent may be the one it gets: none of them is handed an inbound call first
            agents = [r.agent for r in self.board.records(queue.id)
                      if r.ready and queue.id in r.agent.queues and queue.skills <= r.agent.skills
                      and (kind is not CallbackType.TEAM or callback.team_id in r.agent.teams)]
        pairs = frozenset((asterisk_queue.casefold(), a.dial_string) for a in agents)
        known = self._turn_waits.get(callback.id)
        self._turn_waits[callback.id] = (pairs, now + WAIT_KEPT)
        if known is None or known[0] != pairs:
            self.turns_changed.set()

    def agent_freed(self, device: str) -> None:
        """A device went idle: a callback waiting for its agent is offered now rather than at its recheck."""
        self._freed.add(device)
        self.turns_changed.set()

    async def pause_for_offer(self, queue: Queue, agent: Agent) -> None:
        """Before the offer's Originate: the agent takes no inbound call from here until its wrap-up ends."""
        asterisk_queue = queue.settings.asterisk_queue
        if asterisk_queue is not None:
            await self._pause({(asterisk_queue.casefold(), agent.dial_string)}, paused=True)

    def _wanted(self, now: datetime) -> set[Pair]:
        wanted = {(live.queue.settings.asterisk_queue.casefold(), live.agent.dial_string)
                  for live in self.live.values() if live.queue.settings.asterisk_queue}
        adopted, until = self._adopted
        if until is not None and now < until:
            wanted |= adopted
        for callback_id, (pairs, until) in list(self._turn_waits.items()):
            if until <= now:
                del self._turn_waits[callback_id]  # offered by another process, ended, or held back
            else:
                wanted |= pairs
        return wanted

    async def _pause(self, pairs: set[Pair], *, paused: bool) -> None:
        for pair in sorted(pairs):
            refused_at = self._refused.get(pair)
            if paused and refused_at is not None and time.monotonic() - refused_at < PAUSES_REREAD:
                continue  # e.g. the agent is not a member of that Asterisk queue: asked again now and then
            try:
                await self.telephony.pause_member(pair[0], pair[1], paused=paused, reason=PAUSE_REASON)
            except TelephonyError as exc:  # not a member, or the link is down: tried again later
                self._refused[pair] = time.monotonic()
                self._log.warning("member_pause_failed", asterisk_queue=pair[0], interface=pair[1], paused=paused,
                                  error=str(exc))
                continue
            self._refused.pop(pair, None)
            if paused:
                self._paused.add(pair)
            else:
                self._paused.discard(pair)
            self._log.info("member_paused" if paused else "member_unpaused", asterisk_queue=pair[0], interface=pair[1])

    async def reread_pauses(self, *, lift_others: bool) -> None:
        """Read the pauses Asterisk holds: those with PAUSE_REASON are taken as this process's own, so that a
        later round lifts what is not wanted (`lift_others`, at LinkUp: a crashed cbdialer's too, kept a lease
        meanwhile so that the callbacks it held keep their precedence) and pauses again what is wanted but was
        lifted by someone else."""
        try:
            members = await self.telephony.queue_members()
        except TelephonyError as exc:
            self._log.warning("queue_members_not_read", error=str(exc))
            return
        ours = {(m.asterisk_queue.casefold(), m.interface) for m in members
                if m.paused and m.paused_reason == PAUSE_REASON}
        if lift_others:
            self._adopted = (frozenset(ours), self.clock() + self.lease)
        else:
            ours &= self._paused | self._wanted(self.clock())
        self._paused = ours

    async def keep_turns(self, stop: asyncio.Event) -> None:
        """The keeper: releases callers' places as the queues change, and keeps the member pauses as wanted."""
        reread_at = time.monotonic()
        try:
            while not stop.is_set():
                waiters = [asyncio.ensure_future(e.wait()) for e in (self.places.changed, self.turns_changed, stop)]
                try:
                    await asyncio.wait(waiters, timeout=KEEPER_ROUND, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waiters:
                        waiter.cancel()
                if stop.is_set() or not self.ready.is_set():
                    continue
                woken = self.places.changed.is_set() or self.turns_changed.is_set()
                self.places.changed.clear()
                self.turns_changed.clear()
                now = self.clock()
                if woken or time.monotonic() - reread_at > PAUSES_REREAD:
                    await self._release_places(now)
                if time.monotonic() - reread_at > PAUSES_REREAD:
                    await self.reread_pauses(lift_others=False)
                    reread_at = time.monotonic()
                await self._offer_freed(now)
                wanted = self._wanted(now)
                await self._pause(wanted - self._paused, paused=True)
                await self._pause(self._paused - wanted, paused=False)
        finally:
            if stop.is_set() and self.telephony.connected:  # a clean stop leaves no member paused
                await self._pause(set(self._paused), paused=False)

    async def _offer_freed(self, now: datetime) -> None:
        freed, self._freed = self._freed, set()
        if not freed:
            return
        for callback_id, (pairs, _) in list(self._turn_waits.items()):
            if any(device_of(interface) in freed for _, interface in pairs):
                await self.store.due_now(callback_id, reason=Reason.DIAL_SLOT_UNAVAILABLE, now=now)
