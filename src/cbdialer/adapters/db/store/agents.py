"""Agents and teams in PostgreSQL. Rule: an agent (its name among its columns) and its memberships are written in
one transaction."""

from __future__ import annotations

from collections.abc import Collection

from cbdialer.adapters.db.store.base import StoreBase, agent_record_from_row, callback_from_row
from cbdialer.domain.lifecycle import ACTIVE_STATES
from cbdialer.domain.models import (
    TARGET_AGENT_TYPES,
    Agent,
    Callback,
    Team,
)
from cbdialer.ports import (
    AgentRecord,
)


class PostgresAgents(StoreBase):
    async def upsert_agent(self, agent: Agent, *, create_only: bool = False) -> bool:
        """Save the agent with its queues and teams (which must exist). With `create_only`, False and
        nothing written if the agent exists already."""
        async with self._pool.acquire() as conn, conn.transaction():
            if create_only:
                if await conn.fetchval(self._q["agent_insert"], agent.id, agent.dial_string,
                                       sorted(agent.skills), agent.name) is None:
                    return False
            else:
                await conn.execute(self._q["agent_upsert"], agent.id, agent.dial_string, sorted(agent.skills),
                                   agent.name)
            await conn.execute(self._q["agent_queues_remove_others"], agent.id, sorted(agent.queues))
            await conn.execute(self._q["agent_queues_add"], agent.id, sorted(agent.queues))
            await conn.execute(self._q["agent_teams_remove_others"], agent.id, sorted(agent.teams))
            await conn.execute(self._q["agent_teams_add"], agent.id, sorted(agent.teams))
        return True

    async def agents_of_queue(self, queue_id: str) -> list[AgentRecord]:
        return [agent_record_from_row(r) for r in await self._fetch("agents_of_queue", queue_id)]

    async def get_agent(self, agent_id: str) -> AgentRecord | None:
        rows = await self._fetch("agent_get", agent_id)
        return agent_record_from_row(rows[0]) if rows else None

    async def set_agent_ready(self, agent_id: str, ready: bool) -> bool:
        return await self._value("agent_set_ready", agent_id, ready) is not None

    async def agents(self) -> list[AgentRecord]:
        return [agent_record_from_row(r) for r in await self._fetch("agents_list")]

    async def agent_panel(self, agent_id: str, limit: int) -> tuple[int, list[Callback]]:
        """How many callbacks wait for the agent, and the first `limit` of them, soonest first."""
        types, states = sorted(TARGET_AGENT_TYPES), sorted(ACTIVE_STATES)
        pending = await self._value("agent_panel_count", agent_id, types, states)
        rows = await self._fetch("agent_panel", agent_id, limit, types, states)
        return int(pending), [callback_from_row(r) for r in rows]

    async def teams(self) -> list[Team]:
        return [Team(id=r["id"], name=r["name"]) for r in await self._fetch("teams_list")]

    async def get_team(self, team_id: str) -> Team | None:
        rows = await self._fetch("team_get", team_id)
        return Team(id=rows[0]["id"], name=rows[0]["name"]) if rows else None

    async def save_team(self, team: Team) -> None:
        await self._execute("team_upsert", team.id, team.name)

    async def missing(self, kind: str, ids: Collection[str]) -> list[str]:
        """Which of `ids` name no queue (`queues`) or team (`teams`)."""
        name = {"queues": "queues_existing", "teams": "teams_existing"}[kind]
        found = {r["id"] for r in await self._fetch(name, sorted(set(ids)))}
        return sorted(set(ids) - found)
