"""Agent presence (docs/design.md section 5): what an agent can take now, from the device state Asterisk
reports for its endpoint, its ready flag, its wrap-up and any offer reserved for it. Rule: pure; the time
is a parameter, or a time until which the agent stays busy."""

from __future__ import annotations

from dataclasses import replace
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


def standing_of(device_state: str) -> tuple[bool, bool]:
    """What a device state means for routing: (logged in, busy)."""
    state = device_state.upper()
    return state not in LOGGED_OFF_STATES, state in BUSY_STATES


def agent_standing(agent: Agent, *, device_state: str, ready: bool, wrap_up_until: datetime | None = None,
                   reserved_until: datetime | None = None, idle_since: datetime | None = None,
                   agent_queue: tuple[CallbackType, ...] = ()) -> tuple[AgentView, datetime | None]:
    """The agent apart from time (busy only if its device is in use), and until when time keeps it busy (its
    wrap-up or a reservation): at a time `now`, it is busy if the view says so or that time is later."""
    logged_in, busy = standing_of(device_state)
    until = max((t for t in (wrap_up_until, reserved_until) if t is not None), default=None)
    view = AgentView(
        id=agent.id,
        queues=agent.queues,
        skills=agent.skills,
        teams=agent.teams,
        logged_in=logged_in,
        ready=ready,
        busy=busy,
        idle_since=idle_since,
        agent_queue=agent_queue,
    )
    return view, until


def agent_view(agent: Agent, *, device_state: str, ready: bool, now: datetime,
               wrap_up_until: datetime | None = None, reserved_until: datetime | None = None,
               idle_since: datetime | None = None, agent_queue: tuple[CallbackType, ...] = ()) -> AgentView:
    """The agent as it is at `now`: busy if its device is in use, or in wrap-up, or reserved for an offer."""
    view, until = agent_standing(agent, device_state=device_state, ready=ready, wrap_up_until=wrap_up_until,
                                 reserved_until=reserved_until, idle_since=idle_since, agent_queue=agent_queue)
    return replace(view, busy=True) if until is not None and until > now else view
