"""Queues: create, change, start and stop, and the supervisor's columns. Rule: settings are validated whole
by the domain (codec and QueueSettings) before anything is stored; this process sees its own changes at once
and another process's within QUEUE_TTL seconds."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, time
from time import monotonic
from typing import Any
from zoneinfo import ZoneInfo

from cbdialer.domain.access import TELEPHONY_SETTINGS, Permission, Principal, require
from cbdialer.domain.codec import settings_from_dict, settings_to_dict
from cbdialer.domain.dialstrings import check_dial_string
from cbdialer.domain.models import InvalidValue, Queue, QueueSettings, QueueStatus
from cbdialer.domain.timing import is_open
from cbdialer.ports import QueueStore
from cbdialer.services.errors import Conflict, NotFound

QUEUE_TTL = 1.0
CACHE_LIMIT = 10_000


def shift_start(queue: Queue, now: datetime) -> datetime:
    """The current shift began at local midnight of the queue's schedule time zone."""
    zone = ZoneInfo(queue.settings.schedule.timezone)
    local = now.astimezone(zone)
    return datetime.combine(local.date(), time(0), tzinfo=zone).astimezone(UTC)


def queue_status(queue: Queue, now: datetime) -> QueueStatus:
    """Seed 004's CLBK Stat: stopped by a person, else active or off schedule by the weekly schedule."""
    if queue.status in (QueueStatus.STOPPED, QueueStatus.TERMINATED):
        return queue.status
    return QueueStatus.ACTIVE if is_open(queue.settings.schedule, now) else QueueStatus.OFF_SCHEDULE


class Queues:
    def __init__(self, store: QueueStore, clock: Callable[[], datetime], *,
                 dial_contexts: frozenset[str] = frozenset()) -> None:
        self.store = store
        self.clock = clock
        self.dial_contexts = dial_contexts
        self._cache: dict[str, tuple[float, Queue]] = {}

    async def lookup(self, queue_id: str, field_name: str = "queue") -> Queue:
        """The queue a request names (read through a short cache: creates read it on every call); a queue
        that does not exist is an InvalidValue of `field_name`."""
        cached = self._cache.get(queue_id)
        if cached is not None and monotonic() - cached[0] < QUEUE_TTL:
            return cached[1]
        queue = await self.store.get_queue(queue_id)
        if queue is None:
            raise InvalidValue(field_name, f"no queue {queue_id!r}")
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()
        self._cache[queue_id] = (monotonic(), queue)
        return queue

    async def queue(self, who: Principal, queue_id: str) -> Queue:
        require(who, Permission.READ_QUEUES)
        found = await self.store.get_queue(queue_id)
        if found is None:
            raise NotFound(f"no queue {queue_id!r}")
        return found

    async def queues(self, who: Principal) -> list[Queue]:
        require(who, Permission.READ_QUEUES)
        return await self.store.queues()

    async def create_queue(self, who: Principal, *, id: str, name: str | None, settings: Mapping[str, Any],
                           skills: frozenset[str]) -> Queue:
        require(who, Permission.MANAGE_QUEUES)
        queue = Queue(id=id, name=name or id, settings=settings_from_dict(dict(settings)), skills=skills)
        self._check_telephony(who, QueueSettings(), queue.settings)
        check_dial_string("customer_dial_string", queue.settings.customer_dial_string, self.dial_contexts)
        if not await self.store.create_queue(queue, now=self.clock()):  # created running: its first run opens
            raise Conflict(f"queue {id!r} exists already")
        return queue

    async def update_queue(self, who: Principal, queue_id: str, *, name: str | None = None,
                           settings: Mapping[str, Any] | None = None, skills: frozenset[str] | None = None) -> Queue:
        """Change some settings; those not given keep their values."""
        require(who, Permission.MANAGE_QUEUES)
        queue = await self.queue(who, queue_id)
        merged = settings_to_dict(queue.settings) | dict(settings or {})
        updated = dataclasses.replace(queue, name=name or queue.name, settings=settings_from_dict(merged),
                                      skills=queue.skills if skills is None else skills)
        self._check_telephony(who, queue.settings, updated.settings)
        if updated.settings.customer_dial_string != queue.settings.customer_dial_string:
            check_dial_string("customer_dial_string", updated.settings.customer_dial_string, self.dial_contexts)
        if not await self.store.update_queue(updated):
            raise NotFound(f"no queue {queue_id!r}")
        self._cache.pop(queue_id, None)
        return updated

    @staticmethod
    def _check_telephony(who: Principal, before: QueueSettings, after: QueueSettings) -> None:
        """Only an admin changes what reaches the telephony (dial string, caller ID, AMD); a request that sends
        them back as they were (a read, then a write of the whole) changes nothing and is anyone's."""
        if any(getattr(before, name) != getattr(after, name) for name in TELEPHONY_SETTINGS):
            require(who, Permission.MANAGE_TELEPHONY)

    async def run_queue(self, who: Principal, queue_id: str, running: bool) -> tuple[Queue, int]:
        """Start or stop a queue's callbacks (POM: its waiting callbacks wait for it, then resume). A start opens
        a new run of the queue (POM's job, the reports' Job ID), a stop closes it; starting a running queue keeps
        its run."""
        require(who, Permission.MANAGE_QUEUES)
        if (await self.queue(who, queue_id)).status is QueueStatus.TERMINATED:
            raise Conflict(f"queue {queue_id!r} is terminated: it neither starts nor stops again")
        moved = await self.store.set_queue_running(queue_id, running, now=self.clock(), actor=who.actor)
        self._cache.pop(queue_id, None)
        if moved is None:
            raise Conflict(f"queue {queue_id!r} was terminated meanwhile")
        return await self.queue(who, queue_id), moved

    async def terminate_queue(self, who: Principal, queue_id: str) -> tuple[Queue, int]:
        """Stop a queue for good (seed 000, "Campaign Terminated"): its waiting callbacks end as
        queue_terminated at once, one on a live call when that call ends; it takes no new callbacks."""
        require(who, Permission.MANAGE_QUEUES)
        await self.queue(who, queue_id)
        ended = await self.store.terminate_queue(queue_id, now=self.clock(), actor=who.actor)
        self._cache.pop(queue_id, None)
        if ended is None:
            raise Conflict(f"queue {queue_id!r} is terminated already")
        return await self.queue(who, queue_id), ended
