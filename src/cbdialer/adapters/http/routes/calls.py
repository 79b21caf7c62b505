"""The agent's inbound queue calls (the one it is on, and its last ones) and a callback made from one of them,
with the caller's number and the queue the call arrived on filled in (seeds 003 and 004), and their bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cbdialer.adapters.http import models as m
from cbdialer.adapters.http.routes.callbacks import callback_out
from cbdialer.adapters.http.table import ApiError, Call, Route
from cbdialer.domain.models import CallbackType
from cbdialer.services.calls import CallView


class CallOut(BaseModel):
    id: UUID
    number: str | None = Field(description="the caller's number (E.164 where it reads as one); null when withheld")
    withheld: bool = Field(description="the caller withheld their number: a callback needs one to be given")
    caller_name: str
    asterisk_queue: str = Field(description="the app_queue queue the call came through")
    queue: str | None = Field(description="the queue whose asterisk_queue setting names it (null: none)")
    agent: str
    answered_at: datetime
    ended_at: datetime | None


class AgentCallsOut(BaseModel):
    agent: str
    current: CallOut | None = Field(description="the call the agent is on (null: none)")
    calls: list[CallOut] = Field(description="the agent's last calls, newest first (the current one included)")


class CallbackFromCallIn(BaseModel):
    """POST /callbacks's body without queue (the call's) and with destination optional (the call's CLI)."""

    model_config = ConfigDict(extra="forbid")

    destination: m.Number | None = Field(
        default=None, description="the number to call back: the caller's by default; required when withheld")
    type: CallbackType = CallbackType.STANDARD
    agent: m.Id | None = Field(default=None, description="the target agent (agent and strict_agent types)")
    team: m.Id | None = None
    start_at: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="ISO 8601; without an offset it is local time in customer_timezone")
    start_in: m.StartIn | None = Field(default=None, description="seconds from now (or a delay such as 2h30m)")
    end_at: m.Instant | None = None
    customer_timezone: m.Zone | None = Field(default=None, description="IANA time zone, e.g. Europe/London")
    remark: m.Remark = ""
    created_by: m.Id | None = Field(default=None, description="the creating agent (an agent token: always itself)")


def call_out(view: CallView) -> CallOut:
    c = view.call
    return CallOut(id=c.id, number=view.number, withheld=c.withheld, caller_name=c.caller_name,
                   asterisk_queue=c.asterisk_queue, queue=view.queue_id, agent=c.agent_id, answered_at=c.answered_at,
                   ended_at=c.ended_at)


def _call_id(call: Call) -> UUID:
    try:
        return UUID(call.param("call_id"))
    except ValueError:
        raise ApiError(404, "not_found", f"no call {call.param('call_id')!r}") from None


async def agent_calls(call: Call) -> Any:
    agent_id = call.param("id")
    current, calls = await call.admin.calls.calls(call.principal, agent_id)
    return AgentCallsOut(agent=agent_id, current=call_out(current) if current is not None else None,
                         calls=[call_out(v) for v in calls])


async def callback_from_call(call: Call) -> Any:
    body: CallbackFromCallIn = call.body
    created, new = await call.admin.calls.callback_from_call(call.principal, call.param("id"), _call_id(call),
                                                             **body.model_dump())
    return (201 if new else 200), callback_out(created)


_AG = "agents"

ROUTES = [
    Route("GET", "/agents/{id}/calls", agent_calls, "The agent's inbound queue calls: the current one and the last",
          AgentCallsOut, tag=_AG),
    Route("POST", "/agents/{id}/calls/{call_id}/callback", callback_from_call,
          "Schedule a callback from one of the agent's calls (its number and queue filled in)", m.CallbackOut, 201,
          body=CallbackFromCallIn, tag=_AG, path_formats={"call_id": "uuid"}),
]
