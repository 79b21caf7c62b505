"""API tokens: issue, authenticate, list and revoke. Rule: a token is shown once and only its hash is
stored; what this process read of a token is trusted for TOKEN_TTL seconds, so a revoked token stops working
everywhere within that."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime
from time import monotonic
from typing import Any

from cbdialer.domain.access import Principal, Role
from cbdialer.domain.models import InvalidValue
from cbdialer.ports import TokenPort

TOKEN_TTL = 5.0
CACHE_LIMIT = 10_000


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class Tokens:
    def __init__(self, store: TokenPort) -> None:
        self.store = store
        self._principals: dict[str, tuple[float, Principal]] = {}

    async def authenticate(self, token: str) -> Principal | None:
        return await self.authenticate_hash(hash_token(token)) if token else None

    async def authenticate_hash(self, key: str) -> Principal | None:
        """Who holds the token of that hash (a page's session keeps only the hash)."""
        cached = self._principals.get(key)
        if cached is not None and monotonic() - cached[0] < TOKEN_TTL:
            return cached[1]
        principal = await self.store.principal(key)
        if principal is not None:  # only a known token is remembered: a new one works at once
            if len(self._principals) >= CACHE_LIMIT:
                self._principals.clear()
            self._principals[key] = (monotonic(), principal)
        return principal

    async def issue_token(self, role: Role, agent_id: str | None = None) -> str:
        """A new bearer token; only its hash is stored, so it is shown once."""
        if (role is Role.AGENT) != (agent_id is not None):
            raise InvalidValue("agent", "an agent token needs --agent, and only an agent token takes one")
        if agent_id is not None and await self.store.get_agent(agent_id) is None:
            raise InvalidValue("agent", f"no agent {agent_id!r}")
        token = secrets.token_urlsafe(32)
        await self.store.create_token(uuid.uuid4(), hash_token(token), role, agent_id)
        return token

    async def tokens(self) -> list[dict[str, Any]]:
        """Every token's id, role, agent and dates (the tokens themselves are not kept)."""
        return await self.store.tokens()

    async def end_sessions(self, who: Principal, at: datetime) -> None:
        """A logout from a page: that token's sessions opened until `at` end, here at once and on every other
        node within TOKEN_TTL seconds."""
        await self.store.end_sessions(who.token_id, at=at)
        self._principals = {k: v for k, v in self._principals.items() if v[1].token_id != who.token_id}

    async def revoke_token(self, token_id: str) -> None:
        """Revoke a token by its id (`cbdialer token list`); every process stops honouring it within
        TOKEN_TTL seconds."""
        try:
            ident = uuid.UUID(token_id)
        except ValueError:
            raise InvalidValue("token_id", f"{token_id!r} is not a token id (see `cbdialer token list`)") from None
        if not await self.store.revoke_token(ident):
            raise InvalidValue("token_id", f"no live token {token_id}")
        self._principals = {k: v for k, v in self._principals.items() if v[1].token_id != ident}
