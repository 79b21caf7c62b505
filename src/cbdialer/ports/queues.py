"""The queues' port. Rule: a queue's settings travel whole (the domain's codec), and starting or stopping a
queue moves its waiting callbacks, and opens or closes its run (POM's job), in the same transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from cbdialer.domain.models import Queue


class QueueDirectory(Protocol):
    """Reading queues."""

    async def get_queue(self, queue_id: str) -> Queue | None: ...

    async def queues(self) -> list[Queue]: ...


class QueueStore(QueueDirectory, Protocol):
    async def save_queue(self, queue: Queue, *, now: datetime | None = None) -> None:
        """Write the whole queue; a running one has an open run (from `now`, None: the store's clock), a
        stopped or terminated one none."""
        ...

    async def create_queue(self, queue: Queue, *, now: datetime | None = None) -> bool:
        """False if a queue of that id exists already; created running, its first run opens at `now`."""
        ...

    async def update_queue(self, queue: Queue) -> bool:
        """False if there is no such queue."""
        ...

    async def set_queue_running(self, queue_id: str, running: bool, *, now: datetime, actor: str) -> int | None:
        """How many callbacks moved, or None if there is no such queue. A start of a stopped queue opens a
        run; a start of a running one keeps its run; a stop closes it."""
        ...

    async def terminate_queue(self, queue_id: str, *, now: datetime, actor: str) -> int | None:
        """End the queue's waiting callbacks as queue_terminated, close its run and mark it terminated; how
        many ended, or None if it was terminated already (or does not exist)."""
        ...

    async def queues_metrics(self, shifts: Mapping[str, datetime]) -> dict[str, dict[str, Any]]:
        """The queue monitor's figures of each queue of `shifts` (queue id -> when its shift began), in one read:
        processed, reached, to_be_processed, average_handle_seconds (numeric, or None), purged, live_now,
        agents_ready, and outcomes (completion status -> attempts, sorted). A queue the store does not hold
        gets zeros."""
        ...

    async def due_per_hour(self, queue_id: str, *, since: datetime, until: datetime) -> dict[datetime, int]:
        """How many of the queue's waiting callbacks (domain WAITING_STATES) fall due in each UTC hour from
        `since` until `until`: the hour's start -> the count (hours with none left out; overdue ones count in
        the hour of `since`)."""
        ...
