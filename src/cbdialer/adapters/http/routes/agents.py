"""The agents (create, change, ready or not, their callback panel) and the teams."""

from __future__ import annotations

from typing import Any

from cbdialer.adapters.http import models as m
from cbdialer.adapters.http.routes.callbacks import callback_out
from cbdialer.adapters.http.table import Call, Route
from cbdialer.domain.models import Agent, Team
from cbdialer.ports import AgentRecord


def agent_out(call: Call, record: AgentRecord) -> m.AgentOut:
    a = record.agent
    now = call.admin.clock()
    return m.AgentOut(id=a.id, name=a.name, dial_string=a.dial_string, queues=sorted(a.queues), skills=sorted(a.skills),
                      teams=sorted(a.teams), ready=record.ready, presence=call.api.presence(a.dial_string),
                      on_call=record.reserved_until is not None and record.reserved_until > now,
                      wrap_up_until=record.wrap_up_until)


def team_out(team: Team) -> m.TeamOut:
    return m.TeamOut(id=team.id, name=team.name)


async def create_agent(call: Call) -> Any:
    b: m.AgentIn = call.body
    record = await call.admin.agents.create_agent(call.principal, Agent(
        id=b.id, dial_string=b.dial_string, queues=frozenset(b.queues), skills=frozenset(b.skills),
        teams=frozenset(b.teams), name=b.name or ""))
    return 201, agent_out(call, record)


async def list_agents(call: Call) -> Any:
    return [agent_out(call, r) for r in await call.admin.agents.agents(call.principal)]


async def get_agent(call: Call) -> Any:
    return agent_out(call, await call.admin.agents.agent(call.principal, call.param("id")))


async def patch_agent(call: Call) -> Any:
    changes = {k: frozenset(v) if isinstance(v, list) else v
               for k, v in call.body.model_dump(exclude_unset=True).items() if v is not None}
    return agent_out(call, await call.admin.agents.update_agent(call.principal, call.param("id"), changes))


async def set_ready(call: Call) -> Any:
    return agent_out(call, await call.admin.agents.set_ready(call.principal, call.param("id"), call.body.ready))


async def panel(call: Call) -> Any:
    agent_id = call.param("id")
    pending, first = await call.admin.agents.panel(call.principal, agent_id)
    return m.PanelOut(agent=agent_id, pending=pending, callbacks=[callback_out(c) for c in first])


async def list_teams(call: Call) -> Any:
    return [team_out(t) for t in await call.admin.agents.teams(call.principal)]


async def create_team(call: Call) -> Any:
    team = await call.admin.agents.save_team(call.principal, Team(id=call.body.id, name=call.body.name), create=True)
    return 201, team_out(team)


async def patch_team(call: Call) -> Any:
    team = await call.admin.agents.save_team(call.principal, Team(id=call.param("id"), name=call.body.name),
                                             create=False)
    return team_out(team)


_AG = "agents"

ROUTES = [
    Route("POST", "/agents", create_agent, "Create an agent", m.AgentOut, 201, body=m.AgentIn, tag=_AG),
    Route("GET", "/agents", list_agents, "The agents", list[m.AgentOut], tag=_AG),
    Route("GET", "/agents/{id}", get_agent, "An agent", m.AgentOut, tag=_AG),
    Route("PATCH", "/agents/{id}", patch_agent, "Change an agent", m.AgentOut, body=m.AgentPatch, tag=_AG),
    Route("PUT", "/agents/{id}/ready", set_ready, "Ready or not ready", m.AgentOut, body=m.ReadyIn, tag=_AG),
    Route("GET", "/agents/{id}/callbacks", panel, "The agent's callback panel", m.PanelOut, tag=_AG),
    Route("GET", "/teams", list_teams, "The teams", list[m.TeamOut], tag=_AG),
    Route("POST", "/teams", create_team, "Create a team", m.TeamOut, 201, body=m.TeamIn, tag=_AG),
    Route("PATCH", "/teams/{id}", patch_team, "Rename a team", m.TeamOut, body=m.TeamPatch, tag=_AG),
]
