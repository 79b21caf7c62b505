"""Callers' turns and callbacks' precedence over inbound queue calls (docs/design.md section 14, seed 004).

Rules:
- a caller's callback that keeps a place (domain/place.py) is presented only once no caller who joined that
  Asterisk queue earlier still waits and no earlier one is pending; until then it waits, queued
  (`waiting_for_place`), and the keeper makes it due the moment the queue changes so that its place is reached;
- an agent this process offers a callback to (from the offer until its wrap-up ends), or that a due callback
  waits for (in its own callback queue), is paused in the queue's Asterisk queue with a reason that names this
  process (pause_reason), so that app_queue does not hand it an inbound call first; it is unpaused once that
  is over, and at every exit of the keeper while the link is up;
- at every LinkUp and every PAUSES_REREAD the pauses are read from Asterisk: this process's own are kept as
  wanted, another live process's are left alone, and a dead process's (stopped, or no heartbeat for a lease:
  its callbacks are being taken over) are lifted: a crashed cbdialer's pauses end within a lease and a reread
  of any cbdialer that is running.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable
from datetime import datetime, timedelta

from cbdialer.dialer.live import PAUSING_RECHECK
from cbdialer.domain.lifecycle import Reason
from cbdialer.domain.models import Agent, Callback, CallbackType, Queue
from cbdialer.domain.place import keeps_place, place_reached
from cbdialer.domain.presence import device_of
from cbdialer.domain.routing import EnqueueForAgent
from cbdialer.ports.errors import StoreUnavailable
from cbdialer.ports.telephony import ActionFailed, TelephonyError

# What a pause by cbdialer says in app_queue (QueueStatus's PausedReason): the process that paused, so that
# each process knows its own pauses and those of a process that died.
_PAUSE_REASON = re.compile(r"cbdialer ([0-9a-f-]{36}): callback first")
# A caller's callback waiting for its place looks again after this, should the keeper miss a change.
PLACE_RECHECK = timedelta(seconds=10)
# A wait for an agent outlives its last recheck by this much before its pause is lifted.
WAIT_KEPT = 2 * PAUSING_RECHECK + timedelta(seconds=1)
# The keeper's round: pauses expire and are re-asserted at this pace; places are looked at on every change.
KEEPER_ROUND = 1.0
PAUSES_REREAD = 30.0
QUEUES_TTL = 10.0
# The keeper waits no longer than this for the database (an outage must not stall the pauses).
STORE_TIMEOUT = 2.0
# At its exit the keeper lifts its pauses for at most this long.
STOP_UNPAUSE_TIMEOUT = 5.0

Pair = tuple[str, str]  # (Asterisk queue, case-folded; member interface)


def pause_reason(node: uuid.UUID) -> str:
    return f"cbdialer {node}: callback first"


def pausing_node(reason: str) -> uuid.UUID | None:
    """The process a pause's reason names, or None if the pause is not cbdialer's (a supervisor's, say)."""
    found = _PAUSE_REASON.fullmatch(reason)
    try:
        return uuid.UUID(found.group(1)) if found else None
    except ValueError:
        return None


class Turns:
    """The place keeper and the member pauses, for the Dialer."""

    def _init_turns(self) -> None:
        self._turn_waits: dict[uuid.UUID, tuple[frozenset[Pair], datetime]] = {}  # callback -> (pauses, until)
        self._paused: set[Pair] = set()  # what this process has paused
        self._orphaned: dict[Pair, uuid.UUID] = {}  # paused by a process found dead at the last reread: to lift
        self._freed: set[str] = set()  # devices heard going idle since the keeper's last round
        self._free_agents: dict[str, datetime] = {}  # agents freed since then, and from when (the board's word)
        self._refused: dict[Pair, float] = {}  # pauses Asterisk refused (not a member?): when, to try seldom
        self.turns_changed = asyncio.Event()
        self.round_kept = asyncio.Event()  # set at the end of each keeper round (for whoever waits on its work)
        self._place_queues: tuple[float, list[Queue]] = (float("-inf"), [])

    # -- places ----------------------------------------------------------------------------------------

    async def place_reached(self, callback: Callback, queue: Queue) -> bool:
        """Whether `callback` may be presented as far as its caller's place goes (True if it keeps none)."""
        asterisk_queue = queue.settings.asterisk_queue
        if not keeps_place(callback, queue.settings) or asterisk_queue is None or callback.joined_at is None:
            return True
        if not self.places.known:
            return False  # who waits is not known (the link is down, or not yet re-read): nobody jumps ahead
        front = await self.store.caller_front(queue.id, now=self.clock())
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
            front = await self.store.caller_front(queue.id, now=now)
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
            known = self._turn_waits.get(callback.id)
            self._turn_waits[callback.id] = (pairs, now + WAIT_KEPT)
            if known is None or known[0] != pairs:
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
        if asterisk_queue is not None:  # tried even if refused lately: an offer is worth one more action
            await self._pause({(asterisk_queue.casefold(), agent.dial_string)}, paused=True, retry_refused=True)

    def _wanted(self, now: datetime) -> set[Pair]:
        wanted = {(live.queue.settings.asterisk_queue.casefold(), live.agent.dial_string)
                  for live in self.live.values() if live.queue.settings.asterisk_queue}
        for callback_id, (pairs, until) in list(self._turn_waits.items()):
            if until <= now:
                del self._turn_waits[callback_id]  # offered by another process, ended, or held back
            else:
                wanted |= pairs
        return wanted

    async def _pause(self, pairs: set[Pair], *, paused: bool, retry_refused: bool = False) -> None:
        for pair in sorted(pairs):
            refused_at = self._refused.get(pair)
            if (paused and not retry_refused and refused_at is not None
                    and time.monotonic() - refused_at < PAUSES_REREAD):
                continue  # the agent is not a member of that Asterisk queue: asked again now and then
            if not paused and not await self._still_paused_by(pair, {self.owner}):
                self._paused.discard(pair)  # someone else's pause now (a supervisor's, another cbdialer's)
                continue
            try:
                await self.telephony.pause_member(pair[0], pair[1], paused=paused, reason=pause_reason(self.owner))
            except TelephonyError as exc:  # not a member, or the link is down: tried again later
                if paused and isinstance(exc, ActionFailed):  # Asterisk said no (not a member): not every round
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

    async def _still_paused_by(self, pair: Pair, nodes: set[uuid.UUID]) -> bool:
        """Whether that member's pause still names one of `nodes`, read just before lifting it: a pause taken over
        since (by a supervisor, or by another cbdialer that wants it) is never lifted. True if it cannot be read:
        the unpause then fails the same way, and is tried again."""
        try:
            members = await self.telephony.queue_members(pair[0], pair[1])
        except TelephonyError:
            return True
        return any(m.asterisk_queue.casefold() == pair[0] and m.interface == pair[1] and m.paused
                   and pausing_node(m.paused_reason) in nodes for m in members)

    async def _lift_orphans(self, wanted: set[Pair]) -> None:
        orphaned, self._orphaned = self._orphaned, {}
        for pair, node in sorted(orphaned.items()):
            if pair in wanted or not await self._still_paused_by(pair, {node}):
                continue
            try:
                await self.telephony.pause_member(pair[0], pair[1], paused=False, reason=pause_reason(self.owner))
            except TelephonyError as exc:
                self._log.warning("member_pause_failed", asterisk_queue=pair[0], interface=pair[1], paused=False,
                                  error=str(exc))
                continue
            self._log.info("dead_dialer_pause_lifted", asterisk_queue=pair[0], interface=pair[1], node_id=str(node))

    async def reread_pauses(self) -> None:
        """Read the pauses Asterisk holds: those naming this process are its own (the next round lifts what is
        not wanted and pauses again what is wanted but was lifted by someone else); those naming a process that is
        not alive are lifted next round unless this process wants them."""
        try:
            members = await self.telephony.queue_members()
        except TelephonyError as exc:
            self._log.warning("queue_members_not_read", error=str(exc))
            return
        by_node: dict[uuid.UUID, set[Pair]] = {}
        for member in members:
            node = pausing_node(member.paused_reason) if member.paused else None
            if node is not None:
                by_node.setdefault(node, set()).add((member.asterisk_queue.casefold(), member.interface))
        # Ours as read: one lifted by someone else is paused again next round if still wanted. (An offer's pause
        # that lands after QueueStatus answered is read as ours at the next reread.)
        self._paused = by_node.pop(self.owner, set())
        if not by_node:
            return
        try:
            async with asyncio.timeout(STORE_TIMEOUT):
                alive = await self.store.live_nodes(set(by_node), within=self.node_silence)
        except (StoreUnavailable, TimeoutError):
            return  # who is alive is not known: nobody's pause is lifted on a guess
        self._orphaned = {pair: node for node, pairs in by_node.items() if node not in alive for pair in pairs}

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
                try:  # the places need the database; the pauses do not, and are kept through an outage
                    async with asyncio.timeout(STORE_TIMEOUT):
                        if woken or time.monotonic() - reread_at > PAUSES_REREAD:
                            await self._release_places(now)
                        await self._offer_freed(now)
                except (StoreUnavailable, TimeoutError) as exc:
                    self._log.warning("places_not_released", error=str(exc) or type(exc).__name__)
                if time.monotonic() - reread_at > PAUSES_REREAD:
                    await self.reread_pauses()
                    reread_at = time.monotonic()
                wanted = self._wanted(now)
                await self._pause(wanted - self._paused, paused=True)
                await self._pause(self._paused - wanted, paused=False)
                await self._lift_orphans(wanted)
                self.round_kept.set()
        finally:
            # Nobody keeps this process's pauses once the keeper is gone (a clean stop, or the keeper failed and
            # is restarted or takes the daemon down): none is left behind while the link can lift them.
            if self.telephony.connected:
                try:  # bounded: a PBX that no longer answers must not hold the stop up
                    async with asyncio.timeout(STOP_UNPAUSE_TIMEOUT):
                        await self._pause(set(self._paused), paused=False)
                except TimeoutError:
                    self._log.warning("pauses_not_lifted", members=len(self._paused))

    async def _offer_freed(self, now: datetime) -> None:
        """Callbacks waiting for an agent who just became free fall due now: a caller's callback waiting for
        its turn, and the callback first in that agent's own callback queue (not left to its recheck)."""
        freed, self._freed = self._freed, set()
        agents, self._free_agents = self._free_agents, {}
        try:
            if freed:
                for callback_id, (pairs, _) in list(self._turn_waits.items()):
                    if any(device_of(interface) in freed for _, interface in pairs):
                        await self.store.due_now(callback_id, reason=Reason.DIAL_SLOT_UNAVAILABLE, now=now)
            for agent_id, at in list(agents.items()):
                # The first in line only (one already due or being routed is the one it gets; never two).
                first = next(iter(self.board.waiting_for(agent_id)), None)
                if first is not None:
                    await self.store.due_now(first, reason=Reason.DIAL_SLOT_UNAVAILABLE, now=now,
                                             at=at if at > now else None)
                del agents[agent_id]
        except (StoreUnavailable, asyncio.CancelledError):
            self._freed |= freed  # tried again next round
            self._free_agents = agents | self._free_agents
            raise
