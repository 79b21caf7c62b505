"""Agents and teams: who they are (an id and a name), their queues, skills and teams, ready or not, and the
agent's callback panel. Rule: an agent sees and changes only itself (domain/access.py); a name is checked and
memberships must name queues and teams that exist, or nothing is stored."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from cbdialer.domain.access import Permission, Principal, Role, may_act_for_agent, require
from cbdialer.domain.dialstrings import check_dial_string
from cbdialer.domain.models import Agent, Callback, InvalidValue, Team
from cbdialer.ports import AgentRecord, AgentStore
from cbdialer.services.callbacks import MAX_PAGE
from cbdialer.services.errors import Conflict, NotFound

# An agent's name, as the reports show it (seed 001's Serviced By, seed 002's Agent Name): a cell of a CSV and
# a line of a log, so printable, on one line, and short.
AGENT_NAME_LENGTH = 100


def check_agent_name(name: str) -> str:
    """The name, trimmed; InvalidValue("name", ...) if it is empty, too long or not printable."""
    trimmed = name.strip()
    if not 1 <= len(trimmed) <= AGENT_NAME_LENGTH:
        raise InvalidValue("name", f"must be 1 to {AGENT_NAME_LENGTH} characters")
    if not trimmed.isprintable():
        raise InvalidValue("name", "must be printable text on one line (no control characters)")
    return trimmed


class Agents:
    def __init__(self, store: AgentStore, *, dial_contexts: frozenset[str] = frozenset()) -> None:
        self.store = store
        self.dial_contexts = dial_contexts

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
        require(who, Permission.MANAGE_TELEPHONY)  # a new agent has a dial string
        check_dial_string("dial_string", agent.dial_string, self.dial_contexts)
        # Unnamed, an agent is named by its id (as migration 0011 named the agents it found).
        agent = dataclasses.replace(agent, name=check_agent_name(agent.name or agent.id))
        await self._check_memberships(agent.queues, agent.teams)
        if not await self.store.upsert_agent(agent, create_only=True):
            raise Conflict(f"agent {agent.id!r} exists already")
        return await self.agent(who, agent.id)

    async def update_agent(self, who: Principal, agent_id: str, changes: Mapping[str, Any]) -> AgentRecord:
        require(who, Permission.MANAGE_AGENTS)
        current = (await self.agent(who, agent_id)).agent
        if changes.get("dial_string") not in (None, current.dial_string):
            require(who, Permission.MANAGE_TELEPHONY)
            check_dial_string("dial_string", changes["dial_string"], self.dial_contexts)
        updated = dataclasses.replace(current, **{k: v for k, v in changes.items() if v is not None})
        if changes.get("name") is not None:
            updated = dataclasses.replace(updated, name=check_agent_name(changes["name"]))
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
