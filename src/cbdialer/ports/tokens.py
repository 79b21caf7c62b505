"""The API tokens' port. Rule: only a token's hash is ever stored or looked up."""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from cbdialer.domain.access import Principal, Role


class TokenStore(Protocol):
    async def principal(self, token_hash: str) -> Principal | None: ...

    async def create_token(self, token_id: uuid.UUID, token_hash: str, role: Role, agent_id: str | None) -> None: ...

    async def tokens(self) -> list[dict[str, Any]]: ...

    async def revoke_token(self, token_id: uuid.UUID) -> bool: ...
