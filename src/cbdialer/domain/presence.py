"""Agent presence (docs/design.md section 5): what an agent can take now, from the device state Asterisk
reports for its endpoint, its ready flag, its wrap-up and any offer reserved for it. Rule: pure; the time
is a parameter."""

from __future__ import annotations

from datetime import datetime

from cbdialer.domain.models import Agent, CallbackType
from cbdialer.domain.routing import AgentView

LOGGED_OFF_STATES = frozenset({"UNAVAILABLE", "INVALID", "UNKNOWN", ""})
BUSY_STATES = frozenset({"INUSE", "RINGING", "RINGINUSE", "BUSY", "ONHOLD"})


def device_of(dial_string: str) -> str:
    """The device whose state Asterisk reports for a dial string: PJSIP/agent-1001 (or
    PJSIP/agent-1001/sip:...) -> PJSIP/agent-1001."""
    tech, _, rest = dial_string.partition("/")
    return f"{tech}/{rest.split('/', 1)[0]}" if rest else dial_string


def agent_view(agent: Agent, *, device_state: str, ready: bool, now: datetime,
               wrap_up_until: datetime | None = None, reserved_until: datetime | None = None,
               idle_since: datetime | None = None, agent_queue: tuple[CallbackType, ...] = ()) -> AgentView:
    state = device_state.upper()
    in_wrap_up = wrap_up_until is not None and wrap_up_until > now
    reserved = reserved_until is not None and reserved_until > now
    return AgentView(
        id=agent.id,
        queues=agent.queues,
        skills=agent.skills,
        teams=agent.teams,
        logged_in=state not in LOGGED_OFF_STATES,
        ready=ready,
        busy=state in BUSY_STATES or in_wrap_up or reserved,
        idle_since=idle_since,
        agent_queue=agent_queue,
    )
