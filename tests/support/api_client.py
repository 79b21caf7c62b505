"""An admin API on a fresh PostgreSQL database, through aiohttp's test client, with a token per role."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from cbdialer.adapters.db import Database
from cbdialer.adapters.http import make_app
from cbdialer.adapters.prometheus import PrometheusMetrics
from cbdialer.domain.access import Role
from cbdialer.domain.models import Agent, Queue, QueueSettings, Team
from cbdialer.services import Admin


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def daytime(self) -> None:
        """Tomorrow at noon UTC: inside the calling window of the fixture's UK numbers, whenever tests run."""
        self.now = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), time(12), UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Api:
    client: TestClient
    db: Database
    admin: Admin
    clock: Clock
    tokens: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def call(self, method: str, path: str, who: str | None = "admin", *, expect: int | None = None,
                   **kwargs: Any) -> Any:
        headers = {**kwargs.pop("headers", {}), **(self.auth(who) if who else {})}
        unversioned = path in ("/healthz", "/metrics")
        response = await self.client.request(method, path if unversioned else f"/api/v1{path}", headers=headers,
                                             **kwargs)
        body = await response.json() if response.content_type == "application/json" else await response.text()
        if expect is not None:
            assert response.status == expect, (response.status, body)
        return body


async def open_api(db: Database, presence: Callable[[str], str] | None = None,
                   recordings_dir: Path | None = None, changed: asyncio.Event | None = None) -> AsyncIterator[Api]:
    """Queues sales (default settings) and support; agents 1001 (sales, team blue), 1002 (sales), 1003
    (support); team blue; tokens admin, supervisor, agent1001 and agent1002."""
    store = db.store()
    for queue_id in ("sales", "support"):
        await store.save_queue(Queue(id=queue_id, name=queue_id.title(), settings=QueueSettings()))
    await store.save_team(Team(id="blue", name="Blue"))
    await store.upsert_agent(Agent(id="1001", dial_string="PJSIP/agent-1001", queues=frozenset({"sales"}),
                                   teams=frozenset({"blue"})))
    await store.upsert_agent(Agent(id="1002", dial_string="PJSIP/agent-1002", queues=frozenset({"sales"})))
    await store.upsert_agent(Agent(id="1003", dial_string="PJSIP/agent-1003", queues=frozenset({"support"})))
    clock = Clock()
    admin = Admin(store, clock)
    tokens = {"admin": await admin.tokens.issue_token(Role.ADMIN), "supervisor": await admin.tokens.issue_token(Role.SUPERVISOR),
              "agent1001": await admin.tokens.issue_token(Role.AGENT, "1001"),
              "agent1002": await admin.tokens.issue_token(Role.AGENT, "1002")}
    metrics = PrometheusMetrics(process=False)
    client = TestClient(TestServer(make_app(admin, presence=presence, recordings_dir=recordings_dir,
                                            changed=changed, metrics=metrics, exposition=metrics.exposition)))
    await client.start_server()
    try:
        yield Api(client, db, admin, clock, tokens)
    finally:
        await client.close()
