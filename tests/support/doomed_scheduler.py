"""A scheduler process for the kill -9 test: claims everything due, heartbeats its leases, and gets stuck
presenting (as a dialer mid-call would); it prints CLAIMED n when it holds them. Run by the test only."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from cbdialer.adapters.db import Database
from cbdialer.domain.models import Callback, Queue
from cbdialer.domain.routing import AgentView, EnqueueForAgent, Offer
from cbdialer.scheduler import Scheduler


class StuckDialer:
    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.seen = 0

    async def recover(self, callback: Callback, queue: Queue, *, now: datetime) -> bool:
        return False

    async def present(self, callback: Callback, queue: Queue, decision: Offer | EnqueueForAgent, *,
                      now: datetime) -> None:
        self.seen += 1
        if self.seen == self.expected:
            print(f"CLAIMED {self.seen}", flush=True)
            await asyncio.Event().wait()  # stuck mid-call until killed


class Agents:
    async def pool_for(self, queue: Queue, callback: Callback) -> Sequence[AgentView]:
        return [AgentView(id="1001", queues=frozenset({queue.id}))]

    def free_agents(self) -> int | None:
        return None  # not known: claims are not sized

    def next_free_at(self) -> datetime | None:
        return None


async def main(url: str, expected: int, lease: float) -> None:
    db = await Database.connect(url)
    scheduler = Scheduler(db.store(), StuckDialer(expected), Agents(), owner=uuid.uuid4(),
                          clock=lambda: datetime.now(UTC), batch=expected, lease=timedelta(seconds=lease))
    stop = asyncio.Event()
    await asyncio.gather(scheduler.run(stop), scheduler.heartbeat(stop))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
