"""A DialerPort and AgentDirectory for scheduler tests against PostgreSQL: it records what was presented to it
(and one idle agent, 1001 of queue sales, takes everything), so that a test can wait for it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import datetime

from cbdialer.domain.models import Callback, Queue
from cbdialer.domain.routing import AgentView, EnqueueForAgent, Offer

AGENT = AgentView(id="1001", queues=frozenset({"sales"}))


class RecordingDialer:
    def __init__(self) -> None:
        self.presented: list[uuid.UUID] = []
        self._changed = asyncio.Condition()

    async def recover(self, callback: Callback, queue: Queue, *, now: datetime) -> bool:
        return False

    async def place_reached(self, callback: Callback, queue: Queue) -> bool:
        return True

    async def wait_for_place(self, callback: Callback, *, now: datetime) -> None:
        raise AssertionError("no caller's callback keeps a place here")

    async def present(self, callback: Callback, queue: Queue, decision: Offer | EnqueueForAgent, *,
                      now: datetime) -> None:
        async with self._changed:
            self.presented.append(callback.id)
            self._changed.notify_all()

    async def wait_for(self, count: int, timeout: float) -> None:
        """Until `count` callbacks were presented."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.presented) >= count)

    async def wait_for_callback(self, callback_id: uuid.UUID, timeout: float) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: callback_id in self.presented)


class Agents:
    async def pool_for(self, queue: Queue, callback: Callback) -> Sequence[AgentView]:
        return [AGENT]

    def free_agents(self) -> int | None:
        return None  # not known: claims are not sized

    def next_free_at(self) -> datetime | None:
        return None
