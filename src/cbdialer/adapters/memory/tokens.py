"""API tokens in memory. Rule: only a token's hash is stored, and a revoked token names nobody."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from cbdialer.adapters.memory.state import MemoryBase, TokenRow
from cbdialer.domain.access import Principal, Role


class TokensMixin(MemoryBase):
    async def create_token(self, token_id: UUID, token_hash: str, role: Role, agent_id: str | None) -> None:
        role = Role(role)
        # The table's constraints: a primary key, a unique hash, and an agent for (and only for) the agent role.
        if token_id in self._s.tokens or any(t.token_hash == token_hash for t in self._s.tokens.values()):
            raise ValueError(f"token {token_id} or its hash exists already")
        if (role is Role.AGENT) != (agent_id is not None):
            raise ValueError("an agent token needs an agent, and only an agent token takes one")
        self._s.tokens[token_id] = TokenRow(id=token_id, token_hash=token_hash, role=role.value, agent_id=agent_id,
                                            created_at=self._clock())

    async def tokens(self) -> list[dict[str, Any]]:
        """Every token's id, role, agent and dates (never a token: only hashes are stored)."""
        return [{"id": t.id, "role": t.role, "agent_id": t.agent_id, "created_at": t.created_at,
                 "revoked_at": t.revoked_at}
                for t in sorted(self._s.tokens.values(), key=lambda t: (t.created_at, t.id))]

    async def revoke_token(self, token_id: UUID) -> bool:
        token = self._s.tokens.get(token_id)
        if token is None or token.revoked_at is not None:
            return False
        token.revoked_at = self._clock()
        return True

    async def end_sessions(self, token_id: UUID, *, at: datetime) -> bool:
        token = self._s.tokens.get(token_id)
        if token is None or token.revoked_at is not None:
            return False
        token.sessions_ended_at = max(token.sessions_ended_at or at, at)
        return True

    async def principal(self, token_hash: str) -> Principal | None:
        token = next((t for t in self._s.tokens.values() if t.token_hash == token_hash and t.revoked_at is None),
                     None)
        if token is None:
            return None
        agent = self._s.agents.get(token.agent_id) if token.agent_id is not None else None
        return Principal(token_id=token.id, role=Role(token.role), agent_id=token.agent_id,
                         teams=frozenset(agent.teams) if agent is not None else frozenset(),
                         queues=frozenset(agent.queues) if agent is not None else frozenset(),
                         sessions_ended_at=token.sessions_ended_at)
