"""Agents and teams in memory. Rule: memberships name queues and teams that exist, or nothing is written."""

from __future__ import annotations

from collections.abc import Collection

from cbdialer.adapters.memory.state import ACTIVE, AgentRow, MemoryBase
from cbdialer.domain.models import TARGET_AGENT_TYPES, Agent, Callback, Team
from cbdialer.ports import AgentRecord


class AgentsMixin(MemoryBase):
    async def upsert_agent(self, agent: Agent, *, create_only: bool = False) -> bool:
        """Save the agent with its queues and teams (which must exist). With `create_only`, False and
        nothing written if the agent exists already."""
        row = self._s.agents.get(agent.id)
        if create_only and row is not None:
            return False
        for kind, ids, known in (("queue", agent.queues, self._s.queues), ("team", agent.teams, self._s.teams)):
            for missing in sorted(set(ids) - set(known)):  # PostgreSQL: a foreign key violation, all rolled back
                raise KeyError(f"no {kind} {missing!r}")
        if row is None:
            row = self._s.agents[agent.id] = AgentRow(id=agent.id, dial_string=agent.dial_string,
                                                      skills=frozenset(agent.skills))
        row.dial_string, row.skills, row.name = agent.dial_string, frozenset(agent.skills), agent.name
        row.queues, row.teams = set(agent.queues), set(agent.teams)
        return True

    async def agents(self) -> list[AgentRecord]:
        return [self._record(self._s.agents[a]) for a in sorted(self._s.agents)]

    async def agents_of_queue(self, queue_id: str) -> list[AgentRecord]:
        return [self._record(self._s.agents[a]) for a in sorted(self._s.agents)
                if queue_id in self._s.agents[a].queues]

    async def get_agent(self, agent_id: str) -> AgentRecord | None:
        row = self._s.agents.get(agent_id)
        return self._record(row) if row is not None else None

    async def set_agent_ready(self, agent_id: str, ready: bool) -> bool:
        row = self._s.agents.get(agent_id)
        if row is None:
            return False
        row.ready = ready
        return True

    async def agent_panel(self, agent_id: str, limit: int) -> tuple[int, list[Callback]]:
        """How many callbacks wait for the agent, and the first `limit` of them, soonest first."""
        mine = sorted((c for c in self._s.callbacks.values() if c.state in ACTIVE and (
            c.agent_id == agent_id or c.assigned_agent == agent_id
            or (c.created_by == agent_id and c.type in TARGET_AGENT_TYPES))), key=lambda c: (c.due_at, c.id))
        return len(mine), [c.callback() for c in mine[:max(limit, 0)]]

    async def teams(self) -> list[Team]:
        return [Team(id=t, name=self._s.teams[t]) for t in sorted(self._s.teams)]

    async def get_team(self, team_id: str) -> Team | None:
        name = self._s.teams.get(team_id)
        return Team(id=team_id, name=name) if name is not None else None

    async def save_team(self, team: Team) -> None:
        self._s.teams[team.id] = team.name

    async def missing(self, kind: str, ids: Collection[str]) -> list[str]:
        """Which of `ids` name no queue (`queues`) or team (`teams`)."""
        known = {"queues": self._s.queues, "teams": self._s.teams}[kind]
        return sorted(set(ids) - set(known))
