"""The queue monitor (seed 002, docs/design.md section 15): every queue's supervisor columns for its current
shift, and the figures of the supervisor's charts. Rule: one read of the store per version of the book serves
every viewer at once (the pages' live updates move the version when the book changes, and at each instant
`next_change` names: a queue opening or closing, a shift beginning); no read served is older than MAX_AGE."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cbdialer.domain.access import Permission, Principal, require
from cbdialer.domain.models import Queue, QueueStatus
from cbdialer.domain.timing import next_schedule_change
from cbdialer.ports import QueueStore
from cbdialer.services.queues import Queues, queue_status, shift_start

# A shared read is done again after this long even if the version stayed (a notification lost with a link).
MAX_AGE = timedelta(seconds=15)


def _row(queue: Queue, raw: dict[str, Any], now: datetime) -> dict[str, Any]:
    processed, reached = raw["processed"], raw["reached"]
    average = raw["average_handle_seconds"]
    return {
        "queue": queue.id, "status": queue_status(queue, now).value, "shift_start": shift_start(queue, now),
        "processed": processed, "to_be_processed": raw["to_be_processed"],
        "average_handle_time": round(float(average), 1) if average is not None else None,
        "purged": raw["purged"], "live_now": raw["live_now"], "agents_ready": raw["agents_ready"],
        "outcomes": raw["outcomes"],
        "percent_reached": round(100.0 * reached / processed, 1) if processed else None,
        "percent_failed": round(100.0 * (processed - reached) / processed, 1) if processed else None,
    }


def next_shift(queue: Queue, now: datetime) -> datetime:
    """When the queue's next shift begins: the next local midnight of its schedule's time zone."""
    zone = ZoneInfo(queue.settings.schedule.timezone)
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=zone).astimezone(UTC)


def _failed(task: asyncio.Task[Any]) -> bool:
    return task.done() and (task.cancelled() or task.exception() is not None)


class Monitor:
    def __init__(self, store: QueueStore, clock: Callable[[], datetime], queues: Queues) -> None:
        self.store = store
        self.clock = clock
        self.queues = queues
        self._shared: tuple[int, datetime, asyncio.Task[list[dict[str, Any]]]] | None = None

    async def _read_all(self, who: Principal) -> list[dict[str, Any]]:
        return await self._read(await self.queues.queues(who))

    async def _read(self, queues: list[Queue]) -> list[dict[str, Any]]:
        now = self.clock()
        raw = await self.store.queues_metrics({q.id: shift_start(q, now) for q in queues})
        return [_row(q, raw[q.id], now) for q in queues]

    async def rows(self, who: Principal, *, version: int | None = None) -> list[dict[str, Any]]:
        """Every queue's row, in the queues' order. With `version` (the book's, as the pages know it), a read
        of the same version and younger than MAX_AGE is shared, also with viewers asking meanwhile; without,
        a read of its own."""
        require(who, Permission.MONITOR_QUEUES)
        if version is None:
            return await self._read_all(who)
        now = self.clock()
        shared = self._shared
        if shared is None or shared[0] != version or now - shared[1] >= MAX_AGE or _failed(shared[2]):
            # Begun with no await before it: viewers asking meanwhile find it and wait for it too.
            task = asyncio.create_task(self._read_all(who), name="monitor-read")
            task.add_done_callback(_failed)  # its failure is its viewers' to see; retrieved even if all left
            self._shared = shared = (version, now, task)
        # Shielded: a viewer who goes away does not cancel the read the others wait for.
        return await asyncio.shield(shared[2])

    async def row(self, who: Principal, queue_id: str) -> dict[str, Any]:
        """One queue's row, read now (GET /queues/{id}/metrics: the API's minimum contract, docs/design.md
        section 13, so anyone who may read the queue may read it, agents too, as before the screens)."""
        return (await self._read([await self.queues.queue(who, queue_id)]))[0]

    async def due_per_hour(self, who: Principal, queue_id: str, hours: int = 24) -> list[tuple[datetime, int]]:
        """The next `hours` UTC hours from the current one, each with how many of the queue's waiting
        callbacks fall due in it (the overdue in the first): the supervisor's chart."""
        require(who, Permission.MONITOR_QUEUES)
        queue = await self.queues.queue(who, queue_id)
        now = self.clock()
        first = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        counts = await self.store.due_per_hour(queue.id, since=now, until=first + timedelta(hours=hours))
        return [(first + timedelta(hours=h), counts.get(first + timedelta(hours=h), 0)) for h in range(hours)]

    async def next_change(self, now: datetime) -> datetime | None:
        """The first instant after `now` at which a row changes with no write to the book: a running queue
        opens or closes by its schedule, or a queue's shift begins (None: no queues). It tells no one
        anything but when to look again."""
        turns: list[datetime] = []
        for queue in await self.store.queues():
            if queue.status is QueueStatus.TERMINATED:
                continue
            shift = next_shift(queue, now)
            turns.append(shift)
            if queue.status is not QueueStatus.STOPPED:
                # Only a turn before the shift's end matters: the shift's end is one already.
                turn = next_schedule_change(queue.settings.schedule, now, horizon=shift - now)
                if turn is not None:
                    turns.append(turn)
        return min(turns, default=None)
