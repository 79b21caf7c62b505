"""Who may do what through the admin API (issue 5). Rule: every route names one permission, and every
callback an agent reads or changes passes `sees`; nothing here reads a token or a request.

Admins and supervisors steer everything the API offers, but only an admin changes what reaches the telephony:
a queue's dial string, caller ID and AMD, and an agent's dial string (so, creating an agent). An agent sees and changes its own callbacks (created
by it, meant for it, or waiting in its callback queue), its teams', and the standard and campaign callbacks of
the queues it serves (seed 004: "any pending callbacks that they may handle"); it may mark itself ready or not
ready, and reads queues without changing them (the queue monitor, with the shift's figures, is the supervisor's).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from cbdialer.domain.lifecycle import ACTIVE_STATES
from cbdialer.domain.models import QUEUE_TYPES, Callback


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"


class Permission(StrEnum):
    READ_CALLBACKS = "read_callbacks"
    WRITE_CALLBACKS = "write_callbacks"  # create, edit, cancel, call now, disposition (agents: their own)
    STEER_CALLBACKS = "steer_callbacks"  # purge, send to queue (ECS: the supervisor's right-click actions)
    READ_QUEUES = "read_queues"
    MANAGE_QUEUES = "manage_queues"  # create, edit settings, start, stop
    READ_AGENTS = "read_agents"  # agents: only themselves
    MANAGE_AGENTS = "manage_agents"  # create and edit agents and teams
    SET_READY = "set_ready"  # agents: only themselves
    MANAGE_LISTS = "manage_lists"  # DNC and exclusion lists
    READ_REPORTS = "read_reports"
    MONITOR_QUEUES = "monitor_queues"  # the queue monitor and its charts (seed 002: the supervisor's, not agents')
    MANAGE_TELEPHONY = "manage_telephony"  # dial strings, caller ID, AMD: admins only


_EVERYTHING = frozenset(Permission)
PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: _EVERYTHING,
    Role.SUPERVISOR: _EVERYTHING - {Permission.MANAGE_TELEPHONY},
    Role.AGENT: frozenset({Permission.READ_CALLBACKS, Permission.WRITE_CALLBACKS, Permission.READ_QUEUES,
                           Permission.READ_AGENTS, Permission.SET_READY}),
}


# The queue settings that reach the telephony: changing one needs MANAGE_TELEPHONY.
TELEPHONY_SETTINGS = frozenset({"customer_dial_string", "caller_id", "amd", "asterisk_queue"})


class AccessDenied(Exception):
    """The token is valid but its holder may not do this; the message says what was refused."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a token speaks for."""

    token_id: UUID
    role: Role
    agent_id: str | None = None  # set for (and only for) the agent role
    teams: frozenset[str] = frozenset()
    queues: frozenset[str] = frozenset()  # the queues the agent serves
    name: str | None = None  # set for the operator at the command line, who has no token
    sessions_ended_at: datetime | None = None  # the pages' sessions of this token opened until then have ended

    @property
    def actor(self) -> str:
        """How the audit trail names this person."""
        if self.name is not None:
            return self.name
        return f"agent:{self.agent_id}" if self.role is Role.AGENT else f"{self.role.value}:{self.token_id}"


# The operator at the command line: whoever can reach the database already has every right.
COMMAND_LINE = Principal(token_id=UUID(int=0), role=Role.ADMIN, name="cli")


def require(principal: Principal, permission: Permission) -> None:
    if permission not in PERMISSIONS[principal.role]:
        raise AccessDenied(f"the {principal.role.value} role may not {permission.value.replace('_', ' ')}")


def owns(principal: Principal, callback: Callback) -> bool:
    """Whether the callback is the principal's to change as it likes: staff, or the agent's own (created by
    it, meant for it, waiting in its callback queue) or its teams'."""
    if principal.role is not Role.AGENT:
        return True
    me = principal.agent_id
    return (callback.created_by == me or callback.agent_id == me or callback.assigned_agent == me
            or (callback.team_id is not None and callback.team_id in principal.teams))


def handles(principal: Principal, callback: Callback) -> bool:
    """A pending standard or campaign callback of a queue the agent serves (seed 004: "any pending callbacks
    that they may handle"): the agent may see it, reschedule it (QUEUE_SCOPE_CHANGES), call it now or delete
    it, but not turn it into someone's own."""
    return (principal.role is Role.AGENT and callback.type in QUEUE_TYPES and callback.state in ACTIVE_STATES
            and callback.queue_id in principal.queues)


# What an agent may change of a callback it only handles (seed 004: "edit their scheduled times").
QUEUE_SCOPE_CHANGES = frozenset({"start_at", "start_in", "end_at", "customer_timezone"})


def sees(principal: Principal, callback: Callback) -> bool:
    """Whether `principal` may read (and, with WRITE_CALLBACKS, change) this callback."""
    return owns(principal, callback) or handles(principal, callback)


def may_act_for_agent(principal: Principal, agent_id: str) -> bool:
    """Agent-scoped routes (ready, the callback panel, the agent's record): the agent itself, or staff."""
    return principal.role is not Role.AGENT or principal.agent_id == agent_id
