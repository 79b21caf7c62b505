"""The API tokens' port. Rule: only a token's hash is ever stored or looked up."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol

from cbdialer.domain.access import Principal, Role
from cbdialer.ports.agents import Directory


class TokenStore(Protocol):
    async def principal(self, token_hash: str) -> Principal | None: ...

    async def create_token(self, token_id: uuid.UUID, token_hash: str, role: Role, agent_id: str | None) -> None: ...

    async def tokens(self) -> list[dict[str, Any]]: ...

    async def revoke_token(self, token_id: uuid.UUID) -> bool: ...

    async def end_sessions(self, token_id: uuid.UUID, *, at: datetime) -> bool:
        """A logout: the token's page sessions opened at or before `at` end; False for a revoked token."""
        ...


class TokenPort(TokenStore, Directory, Protocol):
    """What the tokens service needs: the tokens, and the agent a token of the agent role speaks for."""
