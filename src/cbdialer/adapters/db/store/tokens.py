"""API tokens in PostgreSQL. Rule: only hashes are stored; a token is looked up by its hash."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from cbdialer.adapters.db.store.base import StoreBase
from cbdialer.domain.access import Principal, Role


class PostgresTokens(StoreBase):
    async def create_token(self, token_id: UUID, token_hash: str, role: Role, agent_id: str | None) -> None:
        await self._execute("token_insert", token_id, token_hash, role.value, agent_id)

    async def tokens(self) -> list[dict[str, Any]]:
        """Every token's id, role, agent and dates (never a token: only hashes are stored)."""
        return [dict(r) for r in await self._fetch("tokens_list")]

    async def revoke_token(self, token_id: UUID) -> bool:
        return await self._value("token_revoke", token_id) is not None

    async def end_sessions(self, token_id: UUID, *, at: datetime) -> bool:
        return await self._value("token_end_sessions", token_id, at) is not None

    async def principal(self, token_hash: str) -> Principal | None:
        rows = await self._fetch("token_principal", token_hash)
        if not rows:
            return None
        row = rows[0]
        return Principal(token_id=row["id"], role=Role(row["role"]), agent_id=row["agent_id"],
                         teams=frozenset(row["teams"]), queues=frozenset(row["queues"]),
                         sessions_ended_at=row["sessions_ended_at"])
