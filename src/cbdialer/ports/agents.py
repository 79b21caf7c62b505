"""The agents' and teams' ports. Rule: an agent as stored (AgentRecord) carries what routing needs beside
Asterisk's device state; memberships name queues and teams that exist."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from cbdialer.domain.models import Agent, Callback, CallbackType, Team


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """An agent as stored: who it is, plus what routing needs beside Asterisk's device state."""

    agent: Agent
    ready: bool
    wrap_up_until: datetime | None
    reserved_until: datetime | None
    idle_since: datetime | None
    waiting: tuple[tuple[UUID, CallbackType], ...]  # the agent's own callback queue, in the order they joined


class Directory(Protocol):
    """Looking up one agent or team by id."""

    async def get_agent(self, agent_id: str) -> AgentRecord | None: ...

    async def get_team(self, team_id: str) -> Team | None: ...


class AgentStore(Directory, Protocol):
    async def agents(self) -> list[AgentRecord]: ...

    async def agents_of_queue(self, queue_id: str) -> list[AgentRecord]: ...

    async def upsert_agent(self, agent: Agent, *, create_only: bool = False) -> bool:
        """Save the agent with its queues and teams; with `create_only`, False if it exists already."""
        ...

    async def set_agent_ready(self, agent_id: str, ready: bool) -> bool: ...

    async def agent_panel(self, agent_id: str, limit: int) -> tuple[int, list[Callback]]:
        """How many callbacks wait for the agent, and the first `limit` of them, soonest first."""
        ...

    async def teams(self) -> list[Team]: ...

    async def save_team(self, team: Team) -> None: ...

    async def missing(self, kind: str, ids: Collection[str]) -> list[str]:
        """Which of `ids` name no queue (`queues`) or team (`teams`)."""
        ...
