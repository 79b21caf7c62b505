"""The API tokens' conformance suite: a token names its holder (with the agent's teams) until it is revoked;
tokens are listed without their hashes; a logout ends the token's page sessions opened until then."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from cbdialer.domain.access import Principal, Role
from cbdialer.domain.models import Team
from tests.support.contracts.common import Store, add_agent


class TokenContract:
    async def test_a_token_names_its_holder_until_it_is_revoked(self, store: Store) -> None:
        for team in ("blue", "red"):
            await store.save_team(Team(team, team.title()))
        await add_agent(store, "1001", teams=frozenset({"blue", "red"}))
        agent_token, admin_token = uuid.uuid4(), uuid.uuid4()
        await store.create_token(agent_token, "hash-agent", Role.AGENT, "1001")
        await store.create_token(admin_token, "hash-admin", Role.ADMIN, None)
        assert await store.principal("hash-agent") == Principal(agent_token, Role.AGENT, "1001",
                                                                frozenset({"blue", "red"}), frozenset({"sales"}))
        assert await store.principal("hash-admin") == Principal(admin_token, Role.ADMIN, None, frozenset())
        assert await store.principal("hash-nobody") is None
        await add_agent(store, "1001", teams=frozenset({"red"}))  # the teams are read with the token
        assert (await store.principal("hash-agent")).teams == frozenset({"red"})
        await add_agent(store, "1001", queues=frozenset(), teams=frozenset({"red"}))  # and so are its queues
        assert (await store.principal("hash-agent")).queues == frozenset()
        assert await store.revoke_token(agent_token) is True
        assert await store.revoke_token(agent_token) is False
        assert await store.revoke_token(uuid.uuid4()) is False
        assert await store.principal("hash-agent") is None
        assert await store.principal("hash-admin") is not None

    async def test_a_logout_ends_the_sessions_opened_until_then_and_only_later(self, store: Store) -> None:
        token = uuid.uuid4()
        await store.create_token(token, "hash-sup", Role.SUPERVISOR, None)
        assert (await store.principal("hash-sup")).sessions_ended_at is None
        at = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
        assert await store.end_sessions(token, at=at) is True
        assert (await store.principal("hash-sup")).sessions_ended_at == at
        assert await store.end_sessions(token, at=at - timedelta(hours=1)) is True  # never moved back
        assert (await store.principal("hash-sup")).sessions_ended_at == at
        assert await store.end_sessions(uuid.uuid4(), at=at) is False
        await store.revoke_token(token)
        assert await store.end_sessions(token, at=at) is False

    async def test_tokens_are_listed_oldest_first_without_their_hashes(self, store: Store) -> None:
        await add_agent(store, "1001")
        before = datetime.now(UTC)
        made = [uuid.uuid4() for _ in range(3)]
        for token_id, role in zip(made, (Role.SUPERVISOR, Role.AGENT, Role.ADMIN), strict=True):
            await store.create_token(token_id, f"hash-{token_id}", role, "1001" if role is Role.AGENT else None)
        await store.revoke_token(made[0])
        after = datetime.now(UTC)
        rows = await store.tokens()
        assert [list(r) for r in rows] == [["id", "role", "agent_id", "created_at", "revoked_at"]] * 3
        assert rows == sorted(rows, key=lambda r: (r["created_at"], r["id"]))
        by_id = {r["id"]: r for r in rows}
        assert set(by_id) == set(made)
        assert [(by_id[t]["role"], by_id[t]["agent_id"]) for t in made] == [
            ("supervisor", None), ("agent", "1001"), ("admin", None)]
        assert all(type(r["role"]) is str for r in rows)
        window = (before - timedelta(minutes=1), after + timedelta(minutes=1))
        assert all(window[0] <= r["created_at"] <= window[1] for r in rows)
        assert window[0] <= by_id[made[0]]["revoked_at"] <= window[1]
        assert [by_id[t]["revoked_at"] for t in made[1:]] == [None, None]
