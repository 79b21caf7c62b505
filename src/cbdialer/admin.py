"""What supervisors and agents can do to the callback book (issue 5), whatever carries the request. Rule:
access is checked (domain/access.py) before anything is read or written, input is validated by the domain's
rules before anything is stored, and every change of a callback's state is a guarded store transition.

No HTTP here: the http adapter maps NotFound to 404, InvalidValue to 422, AccessDenied to 403 and Conflict
to 409.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
from time import monotonic
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from cbdialer.domain.access import AccessDenied, Permission, Principal, Role, may_act_for_agent, require, sees
from cbdialer.domain.book import OVERWRITTEN_STATES
from cbdialer.domain.codec import settings_from_dict, settings_to_dict
from cbdialer.domain.lifecycle import CallbackState, IllegalTransition, Reason, transition
from cbdialer.domain.models import (
    Agent,
    Attempt,
    Callback,
    CallbackType,
    CompletionStatus,
    InvalidValue,
    Queue,
    QueueStatus,
    Team,
    check_aware,
    check_zone,
)
from cbdialer.domain.numbers import to_e164
from cbdialer.domain.outcomes import DISPOSITIONS
from cbdialer.domain.timing import end_of, is_open, parse_start
from cbdialer.ports import AgentRecord, CallbackQuery

__all__ = ["AccessDenied", "Admin", "Conflict", "NotFound"]

# Words of seed 001 for a callback's status.
CALLBACK_STATUS = {
    CallbackState.SCHEDULED: "Active", CallbackState.QUEUED: "Active", CallbackState.IN_PROGRESS: "Active",
    CallbackState.WAITING_FOR_QUEUE: "Active", CallbackState.COMPLETED: "Completed", CallbackState.FAILED: "Failed",
    CallbackState.EXPIRED: "Expired", CallbackState.CANCELLED: "Cancelled",
    CallbackState.CANCELLED_BY_INBOUND: "Cancelled By Inbound", CallbackState.OVERWRITTEN: "Overwritten",
    CallbackState.CONTACT_EXCLUDED: "Contact Excluded", CallbackState.PURGED: "Purged",
    CallbackState.QUEUE_TERMINATED: "Campaign Terminated",
}
# Reasons that are POM system completion codes when nothing was dialled.
_SYSTEM_CODES = frozenset({Reason.RESTRICTED_DNC, Reason.RESTRICTED_TIME, Reason.POSTPONED, Reason.EXPIRED,
                           Reason.CONTACT_EXCLUDED, Reason.AGENT_UNAVAILABLE, Reason.OFF_SCHEDULE})
MAX_PAGE = 500
MAX_REPORT_ROWS = 100_000


class NotFound(Exception):
    """No such thing, or not one this principal may see."""


class Conflict(Exception):
    """The request is valid, but the thing is not in a state that allows it."""


class AdminStore(Protocol):
    async def principal(self, token_hash: str) -> Principal | None: ...
    async def create_token(self, token_id: uuid.UUID, token_hash: str, role: Role, agent_id: str | None) -> None: ...
    async def tokens(self) -> list[dict[str, Any]]: ...
    async def revoke_token(self, token_id: uuid.UUID) -> bool: ...
    async def get_queue(self, queue_id: str) -> Queue | None: ...
    async def get_agent(self, agent_id: str) -> AgentRecord | None: ...
    async def get_team(self, team_id: str) -> Team | None: ...
    async def get_callback(self, callback_id: uuid.UUID) -> Callback | None: ...
    async def active_for_contact(self, destination: str, queue_id: str | None = None) -> list[Callback]: ...
    async def create_callback(self, callback: Callback, *, actor: str, overwrite: Any = (),
                              idempotency: tuple[uuid.UUID, str, str] | None = None) -> tuple[Callback, bool]: ...
    async def search_callbacks(self, query: CallbackQuery, *, limit: int) -> list[Callback]: ...
    async def edit_callback(self, old: Callback, new: Callback, *, now: datetime, actor: str) -> Callback | None: ...
    async def transition(self, callback_id: uuid.UUID, **kwargs: Any) -> Callback | None: ...
    async def set_disposition(self, callback_id: uuid.UUID, disposition: CompletionStatus,
                              start: datetime | None = None, *, agent_id: str | None = None) -> bool: ...
    async def attempts(self, callback_id: uuid.UUID) -> list[Attempt]: ...
    async def history(self, callback_id: uuid.UUID) -> list[Any]: ...
    async def queues(self) -> list[Queue]: ...
    async def create_queue(self, queue: Queue) -> bool: ...
    async def update_queue(self, queue: Queue) -> bool: ...
    async def set_queue_running(self, queue_id: str, running: bool, *, now: datetime, actor: str) -> int | None: ...
    async def queue_metrics(self, queue_id: str, *, since: datetime) -> dict[str, Any]: ...
    async def agents(self) -> list[AgentRecord]: ...
    async def upsert_agent(self, agent: Agent, *, create_only: bool = False) -> bool: ...
    async def set_agent_ready(self, agent_id: str, ready: bool) -> bool: ...
    async def agent_panel(self, agent_id: str, limit: int) -> tuple[int, list[Callback]]: ...
    async def teams(self) -> list[Team]: ...
    async def save_team(self, team: Team) -> None: ...
    async def missing(self, kind: str, ids: Any) -> list[str]: ...
    async def add_dnc(self, number: str, *, actor: str) -> None: ...
    async def remove_dnc(self, number: str) -> bool: ...
    async def add_exclusion(self, number: str, *, actor: str) -> None: ...
    async def remove_exclusion(self, number: str) -> bool: ...
    async def numbers(self, listing: str, limit: int) -> list[dict[str, Any]]: ...
    async def report(self, name: str, *, start: datetime, end: datetime, agent_id: str | None,
                     queue_id: str | None, limit: int) -> list[dict[str, Any]]: ...
    async def metrics(self) -> dict[str, Any]: ...


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def shift_start(queue: Queue, now: datetime) -> datetime:
    """The current shift began at local midnight of the queue's schedule time zone."""
    zone = ZoneInfo(queue.settings.schedule.timezone)
    local = now.astimezone(zone)
    return datetime.combine(local.date(), time(0), tzinfo=zone).astimezone(UTC)


def queue_status(queue: Queue, now: datetime) -> QueueStatus:
    """Seed 004's CLBK Stat: stopped by a person, else active or off schedule by the weekly schedule."""
    if queue.status is QueueStatus.STOPPED:
        return QueueStatus.STOPPED
    return QueueStatus.ACTIVE if is_open(queue.settings.schedule, now) else QueueStatus.OFF_SCHEDULE


# How long this process trusts what it read of a token (a revoked token stops working within this) and of a
# queue's settings for a create (its own changes apply at once; another process's within this).
TOKEN_TTL = 5.0
QUEUE_TTL = 1.0
_CACHE_LIMIT = 10_000


class Admin:
    def __init__(self, store: AdminStore, clock: Callable[[], datetime], *, default_region: str | None = None) -> None:
        self.store = store
        self.clock = clock
        self.default_region = default_region
        self._principals: dict[str, tuple[float, Principal]] = {}
        self._queues: dict[str, tuple[float, Queue]] = {}

    # -- tokens --------------------------------------------------------------------------------------------

    async def authenticate(self, token: str) -> Principal | None:
        if not token:
            return None
        key = hash_token(token)
        cached = self._principals.get(key)
        if cached is not None and monotonic() - cached[0] < TOKEN_TTL:
            return cached[1]
        principal = await self.store.principal(key)
        if principal is not None:  # only a known token is remembered: a new one works at once
            if len(self._principals) >= _CACHE_LIMIT:
                self._principals.clear()
            self._principals[key] = (monotonic(), principal)
        return principal

    async def issue_token(self, role: Role, agent_id: str | None = None) -> str:
        """A new bearer token; only its hash is stored, so it is shown once."""
        if (role is Role.AGENT) != (agent_id is not None):
            raise InvalidValue("agent", "an agent token needs --agent, and only an agent token takes one")
        if agent_id is not None and await self.store.get_agent(agent_id) is None:
            raise InvalidValue("agent", f"no agent {agent_id!r}")
        token = secrets.token_urlsafe(32)
        await self.store.create_token(uuid.uuid4(), hash_token(token), role, agent_id)
        return token

    async def revoke_token(self, token_id: str) -> None:
        """Revoke a token by its id (`cbdialer token list`); every process stops honouring it within
        TOKEN_TTL seconds."""
        try:
            ident = uuid.UUID(token_id)
        except ValueError:
            raise InvalidValue("token_id", f"{token_id!r} is not a token id (see `cbdialer token list`)") from None
        if not await self.store.revoke_token(ident):
            raise InvalidValue("token_id", f"no live token {token_id}")
        self._principals = {k: v for k, v in self._principals.items() if v[1].token_id != ident}

    # -- callbacks ---------------------------------------------------------------------------------------

    async def _queue(self, queue_id: str, field_name: str = "queue") -> Queue:
        cached = self._queues.get(queue_id)
        if cached is not None and monotonic() - cached[0] < QUEUE_TTL:
            return cached[1]
        queue = await self.store.get_queue(queue_id)
        if queue is None:
            raise InvalidValue(field_name, f"no queue {queue_id!r}")
        if len(self._queues) >= _CACHE_LIMIT:
            self._queues.clear()
        self._queues[queue_id] = (monotonic(), queue)
        return queue

    async def _check_targets(self, kind: CallbackType, agent_id: str | None, team_id: str | None) -> None:
        if kind in (CallbackType.AGENT, CallbackType.STRICT_AGENT) and not agent_id:
            raise InvalidValue("agent", f"a {kind.value} callback needs the target agent")
        if agent_id is not None and await self.store.get_agent(agent_id) is None:
            raise InvalidValue("agent", f"no agent {agent_id!r}")
        if team_id is not None and await self.store.get_team(team_id) is None:
            raise InvalidValue("team", f"no team {team_id!r}")

    async def create_callback(self, who: Principal, *, queue: str, destination: str, type: CallbackType,
                              agent: str | None = None, team: str | None = None, start_at: str | None = None,
                              start_in: int | str | None = None, end_at: datetime | None = None,
                              customer_timezone: str | None = None, remark: str = "", created_by: str | None = None,
                              idempotency: tuple[str, str] | None = None) -> tuple[Callback, bool]:
        """A new callback (and the older ones of the same contact and queue overwritten). `idempotency` =
        (key, fingerprint of the request): a retried create returns the first callback, with False."""
        require(who, Permission.WRITE_CALLBACKS)
        now = self.clock()
        target_queue = await self._queue(queue)
        number = to_e164(destination, default_region=self.default_region)
        start = parse_start(start_at=start_at, start_in=start_in, now=now, customer_timezone=customer_timezone)
        if end_at is not None:
            check_aware("end_at", end_at)
        end = end_of(start, end_at=end_at, default_end_offset=target_queue.settings.default_end_offset)
        if agent is not None and type in (CallbackType.STANDARD, CallbackType.CAMPAIGN):
            raise InvalidValue("agent", f"a {type.value} callback has no target agent (use type agent or strict_agent)")
        await self._check_targets(type, agent, team)
        if who.role is Role.AGENT:
            created_by = who.agent_id  # an agent creates in its own name
        stopped = target_queue.status is QueueStatus.STOPPED
        callback = Callback(
            id=uuid.uuid4(), queue_id=target_queue.id, destination=number, type=type,
            state=CallbackState.WAITING_FOR_QUEUE if stopped else CallbackState.SCHEDULED,
            reason=Reason.QUEUE_STOPPED if stopped else Reason.CREATED, due_at=start, start_at=start, end_at=end,
            created_at=now, agent_id=agent, team_id=team, created_by=created_by,
            customer_timezone=customer_timezone, remark=remark)
        return await self.store.create_callback(
            callback, actor=who.actor, overwrite=OVERWRITTEN_STATES,
            idempotency=(who.token_id, idempotency[0], idempotency[1]) if idempotency else None)

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
            query = dataclasses.replace(query, scope_agent=who.agent_id, scope_teams=who.teams)
        # One more than a page may be asked for: that is how the caller learns there is a next page.
        return await self.store.search_callbacks(query, limit=max(1, min(limit, MAX_PAGE + 1)))

    async def edit_callback(self, who: Principal, callback_id: uuid.UUID, changes: Mapping[str, Any]) -> Callback:
        """Edit or reschedule a waiting callback; a new start in the past is refused (POM)."""
        require(who, Permission.WRITE_CALLBACKS)
        old = await self.callback(who, callback_id)
        if old.state not in (CallbackState.SCHEDULED, CallbackState.QUEUED, CallbackState.WAITING_FOR_QUEUE):
            raise Conflict(f"a {old.state.value} callback cannot be edited")
        now = self.clock()
        queue = await self._queue(old.queue_id)
        zone = changes.get("customer_timezone", old.customer_timezone)
        if zone is not None:
            check_zone("customer_timezone", zone)
        start, due = old.start_at, old.due_at
        if changes.get("start_at") is not None or changes.get("start_in") is not None:
            start = parse_start(start_at=changes.get("start_at"), start_in=changes.get("start_in"), now=now,
                                customer_timezone=zone)
            due = start
        end = old.end_at
        if changes.get("end_at") is not None:
            check_aware("end_at", changes["end_at"])
            end = end_of(start, end_at=changes["end_at"], default_end_offset=queue.settings.default_end_offset)
        elif end <= start:  # moved past its old end: a fresh window from the new start
            end = end_of(start, end_at=None, default_end_offset=queue.settings.default_end_offset)
        kind = changes.get("type") or old.type
        agent = changes["agent"] if "agent" in changes else old.agent_id
        team = changes["team"] if "team" in changes else old.team_id
        if kind in (CallbackType.STANDARD, CallbackType.CAMPAIGN) and "type" in changes and "agent" not in changes:
            agent = None
        if agent is not None and kind in (CallbackType.STANDARD, CallbackType.CAMPAIGN):
            raise InvalidValue("agent", f"a {kind.value} callback has no target agent (use type agent or strict_agent)")
        await self._check_targets(kind, agent, team)
        destination = old.destination
        if changes.get("destination") is not None:
            destination = to_e164(changes["destination"], default_region=self.default_region)
        remark = changes["remark"] if changes.get("remark") is not None else old.remark
        new = dataclasses.replace(old, start_at=start, due_at=due, end_at=end, remark=remark, agent_id=agent,
                                  team_id=team, customer_timezone=zone, type=kind, destination=destination)
        edited = await self.store.edit_callback(old, new, now=now, actor=who.actor)
        if edited is None:
            raise Conflict("the callback changed meanwhile (it may be in a call now); read it again")
        return edited

    async def _move(self, who: Principal, callback_id: uuid.UUID, reason: Reason, *, due_now: bool = False,
                    permission: Permission = Permission.WRITE_CALLBACKS) -> Callback:
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
                                              actor=who.actor, due_at=now if due_now else None)
        if changed is None:
            raise Conflict("the callback changed meanwhile; read it again")
        return changed

    async def cancel(self, who: Principal, callback_id: uuid.UUID) -> Callback:
        return await self._move(who, callback_id, Reason.CANCELLED)

    async def call_now(self, who: Principal, callback_id: uuid.UUID) -> Callback:
        """An immediate call (seeds 003, 004): due now; a successful call completes it as any other. The
        queue's schedule, the calling window and the DNC list still apply."""
        return await self._move(who, callback_id, Reason.CALL_NOW, due_now=True)

    async def send_to_queue(self, who: Principal, callback_id: uuid.UUID) -> Callback:
        return await self._move(who, callback_id, Reason.SEND_TO_QUEUE, due_now=True,
                                permission=Permission.STEER_CALLBACKS)

    async def purge(self, who: Principal, callback_id: uuid.UUID) -> Callback:
        return await self._move(who, callback_id, Reason.PURGED, permission=Permission.STEER_CALLBACKS)

    async def disposition(self, who: Principal, callback_id: uuid.UUID, status: CompletionStatus, *,
                          start_at: str | None = None, start_in: int | str | None = None) -> None:
        require(who, Permission.WRITE_CALLBACKS)
        # The agent who had the call gives its disposition even for a callback it could not otherwise see
        # (one of another team's, say); the store checks that the call in wrap-up was that agent's.
        current = await self.store.get_callback(callback_id)
        mine = who.agent_id if who.role is Role.AGENT else None
        if current is None:
            raise NotFound(f"no callback {callback_id}")
        if status not in DISPOSITIONS:
            raise InvalidValue("status", f"must be one of {', '.join(sorted(d.value for d in DISPOSITIONS))}")
        start = None
        if status is CompletionStatus.CALLBACK_REQUESTED:
            start = parse_start(start_at=start_at, start_in=start_in, now=self.clock(),
                                customer_timezone=current.customer_timezone)
        elif start_at is not None or start_in is not None:
            raise InvalidValue("start_at", "only a callback_requested disposition takes a new start")
        # An agent gives the disposition of its own call only (a team's callback may be another agent's call).
        if not await self.store.set_disposition(current.id, status, start, agent_id=mine):
            if not sees(who, current):
                raise NotFound(f"no callback {callback_id}")
            raise Conflict(f"callback {callback_id} has no call in wrap-up" + (" of yours" if mine else ""))

    async def attempts(self, who: Principal, callback_id: uuid.UUID) -> list[Attempt]:
        current = await self.callback(who, callback_id)
        return await self.store.attempts(current.id)

    async def history(self, who: Principal, callback_id: uuid.UUID) -> list[Any]:
        current = await self.callback(who, callback_id)
        return await self.store.history(current.id)

    # -- queues --------------------------------------------------------------------------------------------

    async def queue(self, who: Principal, queue_id: str) -> Queue:
        require(who, Permission.READ_QUEUES)
        found = await self.store.get_queue(queue_id)
        if found is None:
            raise NotFound(f"no queue {queue_id!r}")
        return found

    async def queues(self, who: Principal) -> list[Queue]:
        require(who, Permission.READ_QUEUES)
        return await self.store.queues()

    async def create_queue(self, who: Principal, *, id: str, name: str | None, settings: Mapping[str, Any],
                           skills: frozenset[str]) -> Queue:
        require(who, Permission.MANAGE_QUEUES)
        queue = Queue(id=id, name=name or id, settings=settings_from_dict(dict(settings)), skills=skills)
        if not await self.store.create_queue(queue):
            raise Conflict(f"queue {id!r} exists already")
        return queue

    async def update_queue(self, who: Principal, queue_id: str, *, name: str | None = None,
                           settings: Mapping[str, Any] | None = None, skills: frozenset[str] | None = None) -> Queue:
        """Change some settings; those not given keep their values."""
        require(who, Permission.MANAGE_QUEUES)
        queue = await self.queue(who, queue_id)
        merged = settings_to_dict(queue.settings) | dict(settings or {})
        updated = dataclasses.replace(queue, name=name or queue.name, settings=settings_from_dict(merged),
                                      skills=queue.skills if skills is None else skills)
        if not await self.store.update_queue(updated):
            raise NotFound(f"no queue {queue_id!r}")
        self._queues.pop(queue_id, None)
        return updated

    async def run_queue(self, who: Principal, queue_id: str, running: bool) -> tuple[Queue, int]:
        """Start or stop a queue's callbacks (POM: its waiting callbacks wait for it, then resume)."""
        require(who, Permission.MANAGE_QUEUES)
        moved = await self.store.set_queue_running(queue_id, running, now=self.clock(), actor=who.actor)
        self._queues.pop(queue_id, None)
        if moved is None:
            raise NotFound(f"no queue {queue_id!r}")
        return await self.queue(who, queue_id), moved

    async def queue_metrics(self, who: Principal, queue_id: str) -> dict[str, Any]:
        """Seed 004's supervisor columns for the current shift."""
        require(who, Permission.READ_QUEUES)
        queue = await self.queue(who, queue_id)
        now = self.clock()
        since = shift_start(queue, now)
        raw = await self.store.queue_metrics(queue.id, since=since)
        processed, reached = raw["processed"], raw["reached"]
        average = raw["average_handle_seconds"]
        return {
            "queue": queue.id, "status": queue_status(queue, now).value, "shift_start": since,
            "processed": processed, "to_be_processed": raw["to_be_processed"],
            "average_handle_time": round(float(average), 1) if average is not None else None,
            "purged": raw["purged"],
            "percent_reached": round(100.0 * reached / processed, 1) if processed else None,
            "percent_failed": round(100.0 * (processed - reached) / processed, 1) if processed else None,
        }

    # -- agents and teams ---------------------------------------------------------------------------------

    async def _check_memberships(self, queues: frozenset[str], teams: frozenset[str]) -> None:
        for kind, ids in (("queues", queues), ("teams", teams)):
            missing = await self.store.missing(kind, ids) if ids else []
            if missing:
                raise InvalidValue(kind, f"no such {kind[:-1]}: {', '.join(missing)}")

    async def agent(self, who: Principal, agent_id: str) -> AgentRecord:
        require(who, Permission.READ_AGENTS)
        found = await self.store.get_agent(agent_id) if may_act_for_agent(who, agent_id) else None
        if found is None:
            raise NotFound(f"no agent {agent_id!r}")
        return found

    async def agents(self, who: Principal) -> list[AgentRecord]:
        require(who, Permission.READ_AGENTS)
        if who.role is Role.AGENT:
            return [await self.agent(who, who.agent_id or "")]
        return await self.store.agents()

    async def create_agent(self, who: Principal, agent: Agent) -> AgentRecord:
        require(who, Permission.MANAGE_AGENTS)
        await self._check_memberships(agent.queues, agent.teams)
        if not await self.store.upsert_agent(agent, create_only=True):
            raise Conflict(f"agent {agent.id!r} exists already")
        return await self.agent(who, agent.id)

    async def update_agent(self, who: Principal, agent_id: str, changes: Mapping[str, Any]) -> AgentRecord:
        require(who, Permission.MANAGE_AGENTS)
        current = (await self.agent(who, agent_id)).agent
        updated = dataclasses.replace(current, **{k: v for k, v in changes.items() if v is not None})
        await self._check_memberships(updated.queues, updated.teams)
        await self.store.upsert_agent(updated)
        return await self.agent(who, agent_id)

    async def set_ready(self, who: Principal, agent_id: str, ready: bool) -> AgentRecord:
        require(who, Permission.SET_READY)
        await self.agent(who, agent_id)
        await self.store.set_agent_ready(agent_id, ready)
        return await self.agent(who, agent_id)

    async def panel(self, who: Principal, agent_id: str, *, limit: int = 100) -> tuple[int, list[Callback]]:
        """The agent's callback panel (seed 003): how many are pending, and the first of them, soonest first."""
        await self.agent(who, agent_id)
        return await self.store.agent_panel(agent_id, max(1, min(limit, MAX_PAGE)))

    async def teams(self, who: Principal) -> list[Team]:
        require(who, Permission.READ_AGENTS)
        return await self.store.teams()

    async def save_team(self, who: Principal, team: Team, *, create: bool) -> Team:
        require(who, Permission.MANAGE_AGENTS)
        exists = await self.store.get_team(team.id) is not None
        if create and exists:
            raise Conflict(f"team {team.id!r} exists already")
        if not create and not exists:
            raise NotFound(f"no team {team.id!r}")
        await self.store.save_team(team)
        return team

    # -- DNC and exclusion lists -----------------------------------------------------------------------------

    async def list_numbers(self, who: Principal, listing: str, *, limit: int = 1000) -> list[dict[str, Any]]:
        require(who, Permission.MANAGE_LISTS)
        return await self.store.numbers(listing, max(1, min(limit, 10_000)))

    async def add_number(self, who: Principal, listing: str, number: str) -> str:
        require(who, Permission.MANAGE_LISTS)
        e164 = to_e164(number, field_name="number", default_region=self.default_region)
        add = self.store.add_dnc if listing == "dnc" else self.store.add_exclusion
        await add(e164, actor=who.actor)
        return e164

    async def remove_number(self, who: Principal, listing: str, number: str) -> str:
        require(who, Permission.MANAGE_LISTS)
        e164 = to_e164(number, field_name="number", default_region=self.default_region)
        remove = self.store.remove_dnc if listing == "dnc" else self.store.remove_exclusion
        if not await remove(e164):
            raise NotFound(f"{e164} is not on the {'DNC' if listing == 'dnc' else 'exclusion'} list")
        return e164

    # -- reports ---------------------------------------------------------------------------------------------

    def _period(self, start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
        now = self.clock()
        end = end or now
        start = start or end - timedelta(days=1)
        check_aware("from", start)
        check_aware("to", end)
        if start >= end:
            raise InvalidValue("from", "must be before to")
        return start, end

    async def scheduled_report(self, who: Principal, *, start: datetime | None = None, end: datetime | None = None,
                               agent: str | None = None, queue: str | None = None) -> dict[str, Any]:
        """Callbacks Scheduled Details (seed 001)."""
        require(who, Permission.READ_REPORTS)
        start, end = self._period(start, end)
        rows = await self.store.report("scheduled", start=start, end=end, agent_id=agent, queue_id=queue,
                                       limit=MAX_REPORT_ROWS)
        records = []
        for r in rows:
            state, kind = CallbackState(r["state"]), CallbackType(r["type"])
            records.append({
                "queue": r["queue_name"], "queue_id": r["queue_id"], "creator_agent_id": r["created_by"],
                "callback_id": str(r["id"]), "callback_type": kind.value,
                "created_for": r["agent_id"] if kind in (CallbackType.AGENT, CallbackType.STRICT_AGENT)
                else r["queue_name"],
                "contact": r["destination"], "creation_time": r["created_at"], "scheduled_start_time": r["start_at"],
                "scheduled_end_time": r["end_at"], "callback_status": CALLBACK_STATUS[state], "state": state.value,
                "serviced_by_agent_id": r["serviced_by"], "interaction_attempt_time": r["attempt_at"],
                "custom_completion_code": r["custom_code"],
                "system_completion_code": r["completion_status"]
                or (r["reason"] if Reason(r["reason"]) in _SYSTEM_CODES else None),
            })
        return self._report(start, end, agent, queue, records)

    async def completed_report(self, who: Principal, *, start: datetime | None = None, end: datetime | None = None,
                               agent: str | None = None, queue: str | None = None) -> dict[str, Any]:
        """Completed Callback Interaction (seed 002): each callback that ended, with every attempt."""
        require(who, Permission.READ_REPORTS)
        start, end = self._period(start, end)
        rows = await self.store.report("completed", start=start, end=end, agent_id=agent, queue_id=queue,
                                       limit=MAX_REPORT_ROWS)
        records = []
        for r in rows:
            attempts = json.loads(r["attempts"])  # one JSON text per callback, from the report's query
            records.append({
                "callback_id": str(r["id"]), "queue": r["queue_name"], "queue_id": r["queue_id"],
                "contact": r["destination"], "end_state": r["state"], "completion_status": r["completion_status"],
                "entrance_time": r["created_at"], "ended_at": r["ended_at"],
                "last_attempt_time": attempts[-1]["started_at"] if attempts else None,
                "attempts_count": len(attempts),
                "attempts": [{"time": a["started_at"], "agent": a["agent"], "state": a["state"]} for a in attempts],
            })
        return self._report(start, end, agent, queue, records)

    def _report(self, start: datetime, end: datetime, agent: str | None, queue: str | None,
                records: list[dict[str, Any]]) -> dict[str, Any]:
        return {"time_period": {"from": start, "to": end}, "query_time": self.clock(),
                "filters": {k: v for k, v in (("agent", agent), ("queue", queue)) if v is not None},
                "total_records": len(records), "records": records}

    async def metrics(self) -> dict[str, Any]:
        return await self.store.metrics()

