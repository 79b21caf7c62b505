"""The callback book as supervisors and agents steer it: create, read, search, edit, cancel, call now, purge,
send to queue, dispositions, attempts and history. Rule: access is checked (domain/access.py) before anything
is read or written, input is validated by the domain's rules before anything is stored, and every change of a
callback's state is a guarded store transition from the state it was read in."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from cbdialer.domain.access import (
    QUEUE_SCOPE_CHANGES,
    AccessDenied,
    Permission,
    Principal,
    Role,
    owns,
    require,
    sees,
)
from cbdialer.domain.book import CALL_NOW_REFUSALS, OVERWRITTEN_STATES, call_now_refusal
from cbdialer.domain.lifecycle import CallbackState, IllegalTransition, Reason, transition
from cbdialer.domain.models import (
    TEAM_TYPES,
    Attempt,
    Callback,
    CallbackOrigin,
    CallbackType,
    CompletionStatus,
    InteractionState,
    InvalidValue,
    Queue,
    QueueStatus,
    check_aware,
    check_zone,
)
from cbdialer.domain.numbers import to_e164
from cbdialer.domain.outcomes import DISPOSITIONS_AFTER, disposition_start
from cbdialer.domain.slots import Slot, check_period, slot_at, slots_between
from cbdialer.domain.timing import contact_zone, end_of, open_within, parse_start
from cbdialer.ports import UNCHANGED, CallbackBook, CallbackQuery, CallerLimitReached, SlotFull, StateChange, Unchanged
from cbdialer.services.errors import Conflict, NotFound
from cbdialer.services.queues import Queues

MAX_PAGE = 500
EDITABLE = frozenset({CallbackState.SCHEDULED, CallbackState.QUEUED, CallbackState.WAITING_FOR_QUEUE})


class Callbacks:
    def __init__(self, store: CallbackBook, clock: Callable[[], datetime], queues: Queues, *,
                 default_region: str | None = None) -> None:
        self.store = store
        self.clock = clock
        self.queues = queues
        self.default_region = default_region

    async def _check_targets(self, queue: Queue, kind: CallbackType, agent_id: str | None,
                             team_id: str | None, *, new_type: bool = True) -> None:
        # The queue's routing types bind a type being chosen; a callback made before they narrowed keeps its own.
        if new_type and kind not in queue.settings.routing_types:
            offered = ", ".join(t.value for t in queue.settings.routing_types)
            raise InvalidValue("type", f"queue {queue.id!r} does not offer {kind.value} callbacks (it offers {offered})")
        if kind in TEAM_TYPES and not team_id:
            raise InvalidValue("team", f"a {kind.value} callback needs its team")
        if kind.has_target_agent and not agent_id:
            raise InvalidValue("agent", f"a {kind.value} callback needs the target agent")
        if agent_id is not None and not kind.has_target_agent:
            raise InvalidValue("agent", f"a {kind.value} callback has no target agent (use type agent or strict_agent)")
        if agent_id is not None and await self.store.get_agent(agent_id) is None:
            raise InvalidValue("agent", f"no agent {agent_id!r}")
        if team_id is not None and await self.store.get_team(team_id) is None:
            raise InvalidValue("team", f"no team {team_id!r}")

    async def create_callback(self, who: Principal, *, queue: str, destination: str, type: CallbackType,
                              agent: str | None = None, team: str | None = None, start_at: str | None = None,
                              start_in: int | str | None = None, end_at: datetime | None = None,
                              customer_timezone: str | None = None, remark: str = "", created_by: str | None = None,
                              origin: CallbackOrigin | None = None, joined_at: datetime | None = None,
                              slot: datetime | None = None, recording: str | None = None,
                              idempotency: tuple[str, str] | None = None) -> tuple[Callback, bool]:
        """A new callback (and the older ones of the same contact and queue overwritten). `idempotency` =
        (key, fingerprint of the request): a retried create returns the first callback, with False. `slot`
        books a slot's start in place of a start (409 when full); a caller's second request for the same number
        and queue updates the first (returned with False; domain/caller.py)."""
        require(who, Permission.WRITE_CALLBACKS)
        now = self.clock()
        target_queue = await self.queues.lookup(queue)
        if target_queue.status is QueueStatus.TERMINATED:
            raise InvalidValue("queue", f"queue {queue!r} is terminated")
        if who.role is Role.AGENT and target_queue.id not in who.queues:
            # Seed 004: "Agents can only specify queues for which they can handle calls as the source queue".
            raise InvalidValue("queue", f"you do not serve queue {target_queue.id!r}")
        number = to_e164(destination, default_region=self.default_region)
        settings = target_queue.settings
        if who.role is Role.AGENT and origin not in (None, CallbackOrigin.AGENT):
            raise InvalidValue("origin", "an agent's callbacks are of origin agent")
        if origin is CallbackOrigin.CALLER and who.role is not Role.ADMIN:
            # A caller's place is its join time: only the IVR's side (an admin token, the command line) may
            # claim one, or anyone could put a callback ahead of every caller waiting.
            raise InvalidValue("origin", "only an admin token makes a caller's callback")
        origin = origin or (CallbackOrigin.AGENT if who.role is Role.AGENT else CallbackOrigin.API)
        if joined_at is not None:
            check_aware("joined_at", joined_at)
            if joined_at > now:
                raise InvalidValue("joined_at", "must not be in the future")
            if now - joined_at > timedelta(seconds=settings.caller_callback_expiry):
                raise InvalidValue("joined_at", "is older than the queue's caller_callback_expiry")
        if (origin is CallbackOrigin.CALLER) != (joined_at is not None):
            raise InvalidValue("joined_at", "a caller's callback (origin caller) needs it" if joined_at is None
                               else "only a caller's callback (origin caller) has it")
        if recording is not None and origin is not CallbackOrigin.CALLER:
            raise InvalidValue("recording", "only a caller's callback (origin caller) has a recording")
        if end_at is not None:
            check_aware("end_at", end_at)
        booked = None
        if slot is not None:
            booked = self._slot(target_queue, slot, now, given_start=start_at is not None or start_in is not None)
            start = booked.start
            if end_at is not None and end_at < booked.end:
                raise InvalidValue("end_at", f"must not be before the slot's end ({booked.end.isoformat()})")
            # A slot the queue's schedule or the contact's calling window closes throughout would be held until
            # it expired, never called: refused when booked instead.
            zone = contact_zone(number, customer_timezone=customer_timezone, queue_timezone=settings.schedule.timezone)
            if not open_within(booked.start, booked.end, settings, zone):
                raise InvalidValue("slot", "the queue's schedule or the contact's calling window is closed for the "
                                           "whole slot")
        else:
            start = parse_start(start_at=start_at, start_in=start_in, now=now, customer_timezone=customer_timezone)
        if await self.store.is_excluded(number):  # seed 000: an excluded contact is not called back
            raise InvalidValue("destination", f"{number} is on the exclusion list")
        if end_at is None and booked is not None:
            end = booked.end
        else:
            offset = settings.caller_callback_expiry if origin is CallbackOrigin.CALLER else settings.default_end_offset
            end = end_of(start, end_at=end_at, default_end_offset=offset)
        await self._check_targets(target_queue, type, agent, team)
        if who.role is Role.AGENT:
            created_by = who.agent_id  # an agent creates in its own name
        stopped = target_queue.status is QueueStatus.STOPPED
        callback = Callback(
            id=uuid.uuid4(), queue_id=target_queue.id, destination=number, type=type,
            state=CallbackState.WAITING_FOR_QUEUE if stopped else CallbackState.SCHEDULED,
            reason=Reason.QUEUE_STOPPED if stopped else Reason.CREATED, due_at=start, start_at=start, end_at=end,
            created_at=now, agent_id=agent, team_id=team, created_by=created_by,
            customer_timezone=customer_timezone, remark=remark, origin=origin, joined_at=joined_at,
            slot=booked.start if booked else None, recording=recording)
        try:
            return await self.store.create_callback(
                callback, actor=who.actor, overwrite=OVERWRITTEN_STATES,
                idempotency=(who.token_id, idempotency[0], idempotency[1]) if idempotency else None,
                slot_capacity=booked.capacity if booked else None, slot_end=booked.end if booked else None,
                caller_limit=settings.max_caller_callbacks if origin is CallbackOrigin.CALLER else None)
        except (SlotFull, CallerLimitReached) as exc:
            raise Conflict(str(exc)) from None

    @staticmethod
    def _slot(queue: Queue, start: datetime, now: datetime, *, given_start: bool) -> Slot:
        """The queue's slot that `start` names, in the future (else InvalidValue naming `slot`)."""
        if given_start:
            raise InvalidValue("slot", "give either slot or start_at/start_in, not both")
        check_aware("slot", start)
        found = slot_at(queue.settings, start)
        if found is None:
            raise InvalidValue("slot", f"{start.isoformat()} is not the start of a slot of queue {queue.id!r}")
        if found.start <= now:
            raise InvalidValue("slot", f"has begun; choose one after {now.astimezone(UTC).isoformat()}")
        return found

    async def slots(self, who: Principal, queue_id: str, start: datetime, end: datetime) -> list[tuple[Slot, int]]:
        """The queue's slots starting in [start, end) (at most 31 days), each with its bookings."""
        queue = await self.queues.queue(who, queue_id)
        check_period(start, end)
        booked = await self.store.booked_slots(queue.id, start, end)
        # Bookings made under other slot settings count in the slot they fall in (as the booking guard counts).
        return [(s, sum(n for at, n in booked.items() if s.start <= at < s.end))
                for s in slots_between(queue.settings, start, end)]

    async def callback(self, who: Principal, callback_id: uuid.UUID) -> Callback:
        require(who, Permission.READ_CALLBACKS)
        found = await self.store.get_callback(callback_id)
        if found is None or not sees(who, found):
            raise NotFound(f"no callback {callback_id}")
        return found

    async def search(self, who: Principal, query: CallbackQuery, *, limit: int) -> list[Callback]:
        require(who, Permission.READ_CALLBACKS)
        if query.destination is not None:  # stored in E.164: searched in E.164
            query = dataclasses.replace(query, destination=to_e164(query.destination,
                                                                   default_region=self.default_region))
        if who.role is Role.AGENT:
            query = dataclasses.replace(query, scope_agent=who.agent_id, scope_teams=who.teams,
                                        scope_queues=who.queues)
        # One more than a page may be asked for: that is how the caller learns there is a next page.
        return await self.store.search_callbacks(query, limit=max(1, min(limit, MAX_PAGE + 1)))

    async def edit_callback(self, who: Principal, callback_id: uuid.UUID, changes: Mapping[str, Any]) -> Callback:
        """Edit or reschedule a waiting callback; a new start in the past is refused (POM)."""
        require(who, Permission.WRITE_CALLBACKS)
        old = await self.callback(who, callback_id)
        if old.state not in EDITABLE:
            raise Conflict(f"a {old.state.value} callback cannot be edited")
        if not owns(who, old) and (beyond := sorted(set(changes) - QUEUE_SCOPE_CHANGES)):
            raise AccessDenied(f"an agent only reschedules a callback of its queue that is not its own "
                               f"(not {', '.join(beyond)})")
        now = self.clock()
        queue = await self.queues.lookup(old.queue_id)
        zone = changes.get("customer_timezone", old.customer_timezone)
        if zone is not None:
            check_zone("customer_timezone", zone)
        start, due, slot = old.start_at, old.due_at, old.slot
        if changes.get("start_at") is not None or changes.get("start_in") is not None:
            start = parse_start(start_at=changes.get("start_at"), start_in=changes.get("start_in"), now=now,
                                customer_timezone=zone)
            due = start
            slot = None  # rescheduled out of its slot, which it frees
        end = old.end_at
        if changes.get("end_at") is not None:
            check_aware("end_at", changes["end_at"])
            end = end_of(start, end_at=changes["end_at"], default_end_offset=queue.settings.default_end_offset)
        elif end <= start:  # moved past its old end: a fresh window from the new start
            end = end_of(start, end_at=None, default_end_offset=queue.settings.default_end_offset)
        kind = changes.get("type") or old.type
        agent = changes["agent"] if "agent" in changes else old.agent_id
        team = changes["team"] if "team" in changes else old.team_id
        if not kind.has_target_agent and "type" in changes and "agent" not in changes:
            agent = None  # turned into a queue's callback: it no longer names the agent
        await self._check_targets(queue, kind, agent, team, new_type="type" in changes and kind is not old.type)
        destination = old.destination
        if changes.get("destination") is not None:
            destination = to_e164(changes["destination"], default_region=self.default_region)
        remark = changes["remark"] if changes.get("remark") is not None else old.remark
        new = dataclasses.replace(old, start_at=start, due_at=due, end_at=end, remark=remark, agent_id=agent,
                                  team_id=team, customer_timezone=zone, type=kind, destination=destination,
                                  slot=slot)
        edited = await self.store.edit_callback(old, new, now=now, actor=who.actor)
        if edited is None:
            raise Conflict("the callback changed meanwhile (it may be in a call now); read it again")
        return edited

    async def _move(self, who: Principal, callback_id: uuid.UUID, reason: Reason, *, due_now: bool = False,
                    permission: Permission = Permission.WRITE_CALLBACKS,
                    call_now_agent: str | None | Unchanged = UNCHANGED) -> Callback:
        require(who, permission)
        current = await self.callback(who, callback_id)
        try:
            to = transition(current.state, reason)
        except IllegalTransition as exc:
            raise Conflict(str(exc)) from None
        now = self.clock()
        if due_now and now >= current.end_at:
            raise Conflict("the callback's end has passed; it can no longer be called")
        changed = await self.store.transition(current.id, expected=current.state, to=to, reason=reason, now=now,
                                              actor=who.actor, due_at=now if due_now else None,
                                              call_now_agent=call_now_agent)
        if changed is None:
            raise Conflict("the callback changed meanwhile; read it again")
        return changed

    async def cancel(self, who: Principal, callback_id: uuid.UUID) -> Callback:
        return await self._move(who, callback_id, Reason.CANCELLED)

    async def call_now(self, who: Principal, callback_id: uuid.UUID) -> Callback:
        """An immediate call (seeds 003, 004): due now; a successful call completes it as any other. The
        queue's schedule, the calling window and the DNC list still apply. An agent's call now is offered to
        that agent, ahead of the due order, and is refused at once, saying why, when it may not dial now."""
        if who.role is not Role.AGENT:  # nobody's in particular (an agent's earlier press no longer holds)
            return await self._move(who, callback_id, Reason.CALL_NOW, due_now=True, call_now_agent=None)
        current = await self.callback(who, callback_id)
        queue = await self.store.get_queue(current.queue_id)
        if queue is None or current.queue_id not in who.queues:
            raise Conflict(f"you do not serve queue {current.queue_id!r}, so its calls cannot be offered to you")
        me = await self.store.get_agent(who.agent_id or "")
        if me is None or not me.ready:
            raise Conflict("you are not ready: set yourself ready first (PUT /agents/{id}/ready)")
        dnc, excluded = await self.store.restricted([current.destination])
        refusal = call_now_refusal(current, queue, now=self.clock(), on_dnc=current.destination in dnc,
                                   excluded=current.destination in excluded)
        if refusal is not None:
            raise Conflict(f"{refusal.value}: {CALL_NOW_REFUSALS[refusal]}")
        return await self._move(who, callback_id, Reason.CALL_NOW, due_now=True, call_now_agent=who.agent_id)

    async def send_to_queue(self, who: Principal, callback_id: uuid.UUID) -> Callback:
        return await self._move(who, callback_id, Reason.SEND_TO_QUEUE, due_now=True,
                                permission=Permission.STEER_CALLBACKS)

    async def purge(self, who: Principal, callback_id: uuid.UUID) -> Callback:
        return await self._move(who, callback_id, Reason.PURGED, permission=Permission.STEER_CALLBACKS)

    async def disposition(self, who: Principal, callback_id: uuid.UUID, status: CompletionStatus, *,
                          start_at: str | None = None, start_in: int | str | None = None,
                          agent: str | None = None) -> None:
        """The disposition of the callback's call now in wrap-up, applied when the wrap-up closes; the line's
        result limits the choice (seed 002), and a callback_requested one may name the agent to call back."""
        require(who, Permission.WRITE_CALLBACKS)
        # The agent who had the call gives its disposition even for a callback it could not otherwise see
        # (one of another team's, say); the store checks that the call in wrap-up was that agent's.
        current = await self.store.get_callback(callback_id)
        mine = who.agent_id if who.role is Role.AGENT else None
        if current is None:
            raise NotFound(f"no callback {callback_id}")
        start = disposition_start(status, start_at=start_at, start_in=start_in, now=self.clock(),
                                  customer_timezone=current.customer_timezone, agent=agent)
        if agent is not None:
            queue = await self.store.get_queue(current.queue_id)
            if queue is not None and CallbackType.AGENT not in queue.settings.routing_types:
                raise InvalidValue("agent", f"queue {current.queue_id!r} does not offer agent callbacks")
            named = await self.store.get_agent(agent)
            if named is None:
                raise InvalidValue("agent", f"no agent {agent!r}")
            if current.queue_id not in named.agent.queues:
                raise InvalidValue("agent", f"agent {agent!r} does not serve queue {current.queue_id!r}")
        # An agent gives the disposition of its own call only (a team's callback may be another agent's call).
        if not await self.store.set_disposition(current.id, status, start, agent_id=mine, new_agent=agent):
            if not sees(who, current):
                raise NotFound(f"no callback {callback_id}")
            wrapping = [a for a in await self.store.attempts(current.id)
                        if a.ended_at is None and a.interaction_state is InteractionState.WRAP_UP
                        and (mine is None or a.agent_id == mine)]
            if wrapping and wrapping[-1].completion_status is not None:
                result = wrapping[-1].completion_status
                allowed = ", ".join(sorted(d.value for d in DISPOSITIONS_AFTER.get(result, frozenset())))
                raise InvalidValue("status", f"after a {result.value} call the disposition is one of: {allowed}")
            raise Conflict(f"callback {callback_id} has no call in wrap-up" + (" of yours" if mine else ""))

    async def attempts(self, who: Principal, callback_id: uuid.UUID) -> list[Attempt]:
        current = await self.callback(who, callback_id)
        return await self.store.attempts(current.id)

    async def history(self, who: Principal, callback_id: uuid.UUID) -> list[StateChange]:
        current = await self.callback(who, callback_id)
        return await self.store.history(current.id)

    async def recent(self, who: Principal, since: datetime, *, limit: int = 40) -> list[dict[str, Any]]:
        """What `cbdialer watch` shows: the active callbacks, and those changed since `since`."""
        require(who, Permission.READ_CALLBACKS)
        return await self.store.watch_rows(since, limit)
