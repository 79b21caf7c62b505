"""Queues in memory. Rule: settings are kept as the codec writes them; a start or stop moves the waiting callbacks
and opens or closes the queue's run, as store/queues.py does."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from cbdialer.adapters.memory.state import ACTIVE, MemoryBase, QueueRow, QueueRun
from cbdialer.domain.codec import settings_from_dict, settings_to_dict
from cbdialer.domain.lifecycle import WAITING_STATES, CallbackState, Reason, sources_of
from cbdialer.domain.models import RUNNING_STATUSES, CompletionStatus, Queue, QueueStatus

_MICROSECOND = datetime.resolution


def _stored(queue: Queue) -> Queue:
    """The queue as it comes back from its row: settings through JSON, skills as a set."""
    settings = settings_from_dict(json.loads(json.dumps(settings_to_dict(queue.settings))))
    return Queue(id=queue.id, name=queue.name, status=QueueStatus(queue.status), settings=settings,
                 skills=frozenset(queue.skills))


def numeric_avg(micros: list[int]) -> Decimal | None:
    """PostgreSQL's avg() over `extract(epoch FROM interval)` values (numeric, scale 6), given in microseconds:
    the quotient at the scale numeric division picks (select_div_scale: at least 16 significant digits),
    rounded half away from zero, as asyncpg decodes it."""
    if not micros:
        return None
    total, count = sum(micros), len(micros)

    def weight_and_first(value: Decimal) -> tuple[int, int]:  # in base-10000 digits, as numeric stores it
        if value == 0:
            return 0, 0
        weight = value.adjusted() // 4
        return weight, int(value.scaleb(-4 * weight))

    weight1, first1 = weight_and_first(abs(Decimal(total).scaleb(-6)))
    weight2, first2 = weight_and_first(Decimal(count))
    qweight = weight1 - weight2 - (1 if first1 <= first2 else 0)
    scale = min(max(16 - qweight * 4, 6, 0), 1000)
    quotient, remainder = divmod(abs(total) * 10 ** (scale - 6), count)
    if 2 * remainder >= count:
        quotient += 1
    result = Decimal(quotient).scaleb(-scale)
    return -result if total < 0 else result


class QueuesMixin(MemoryBase):
    def _sync_run(self, row: QueueRow, before: QueueStatus | None, now: datetime | None) -> None:
        """store/queues.py's _sync_run: queue_run_close and queue_run_open as the status asks."""
        at = now or self._clock()
        open_run = row.runs[-1] if row.runs and row.runs[-1].stopped_at is None else None
        if row.queue.status in RUNNING_STATUSES:
            if open_run is not None and before is not None and before not in RUNNING_STATUSES:
                open_run.stopped_at, open_run = max(at, open_run.started_at), None
            if open_run is None:  # the identity column counts every queue's runs
                row.runs.append(QueueRun(1 + sum(len(q.runs) for q in self._s.queues.values()), at))
        elif open_run is not None:
            open_run.stopped_at = max(at, open_run.started_at)

    async def save_queue(self, queue: Queue, *, now: datetime | None = None) -> None:
        row = self._s.queues.get(queue.id)
        before = row.queue.status if row is not None else None
        if row is None:
            row = self._s.queues[queue.id] = QueueRow(_stored(queue))
        else:
            row.queue = _stored(queue)
        self._sync_run(row, before, now)

    async def get_queue(self, queue_id: str) -> Queue | None:
        row = self._s.queues.get(queue_id)
        return row.queue if row is not None else None

    async def queues(self) -> list[Queue]:
        return [self._s.queues[q].queue for q in sorted(self._s.queues)]

    async def create_queue(self, queue: Queue, *, now: datetime | None = None) -> bool:
        if queue.id in self._s.queues:
            return False
        self._sync_run(row := QueueRow(_stored(queue)), None, now)
        self._s.queues[queue.id] = row
        return True

    async def update_queue(self, queue: Queue) -> bool:
        """Name, settings and skills; the status stays (set_queue_running changes it)."""
        row = self._s.queues.get(queue.id)
        if row is None:
            return False
        row.queue = dataclasses.replace(_stored(queue), status=row.queue.status)
        return True

    async def terminate_queue(self, queue_id: str, *, now: datetime, actor: str) -> int | None:
        """See queue_callbacks_terminate."""
        row = self._s.queues.get(queue_id)
        if row is None or row.queue.status is QueueStatus.TERMINATED:
            return None
        row.queue = dataclasses.replace(row.queue, status=QueueStatus.TERMINATED)
        self._sync_run(row, None, now)
        ending = sources_of(Reason.QUEUE_TERMINATED)
        moved = [c for c in self._s.callbacks.values() if c.queue_id == queue_id and c.state in ending]
        for c in moved:
            old_state = c.state
            c.state, c.reason, c.lease_owner = CallbackState.QUEUE_TERMINATED, Reason.QUEUE_TERMINATED, None
            c.assigned_agent = c.assigned_at = None
            c.touch(now)
            self._audit(c.id, now, old_state, CallbackState.QUEUE_TERMINATED, Reason.QUEUE_TERMINATED, actor, c.due_at)
        return len(moved)

    async def set_queue_running(self, queue_id: str, running: bool, *, now: datetime, actor: str) -> int | None:
        """Start or stop a queue's callbacks; how many callbacks moved, or None if there is no such queue."""
        row = self._s.queues.get(queue_id)
        if row is None or row.queue.status is QueueStatus.TERMINATED:
            return None
        before = row.queue.status
        row.queue = dataclasses.replace(row.queue, status=QueueStatus.ACTIVE if running else QueueStatus.STOPPED)
        self._sync_run(row, before, now)
        mine = [c for c in self._s.callbacks.values() if c.queue_id == queue_id]
        if running:  # queue_callbacks_start
            moved = [c for c in mine if c.state is CallbackState.WAITING_FOR_QUEUE]
            for c in moved:
                c.state, c.reason, c.due_at = CallbackState.SCHEDULED, Reason.QUEUE_STARTED, max(c.start_at, now)
                c.touch(now)
                self._audit(c.id, now, CallbackState.WAITING_FOR_QUEUE, CallbackState.SCHEDULED,
                            Reason.QUEUE_STARTED, actor, c.due_at)
            return len(moved)
        moved = [c for c in mine if c.state in (CallbackState.SCHEDULED, CallbackState.QUEUED)]  # queue_callbacks_stop
        for c in moved:
            old_state = c.state
            c.state, c.reason, c.lease_owner = CallbackState.WAITING_FOR_QUEUE, Reason.QUEUE_STOPPED, None
            c.touch(now)
            self._audit(c.id, now, old_state, CallbackState.WAITING_FOR_QUEUE, Reason.QUEUE_STOPPED, actor, c.due_at)
        return len(moved)

    async def due_per_hour(self, queue_id: str, *, since: datetime, until: datetime) -> dict[datetime, int]:
        hours: dict[datetime, int] = {}
        for c in self._s.callbacks.values():
            if c.queue_id == queue_id and c.state in WAITING_STATES and c.due_at < until:
                hour = max(c.due_at, since).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
                hours[hour] = hours.get(hour, 0) + 1
        return dict(sorted(hours.items()))

    async def queues_metrics(self, shifts: Mapping[str, datetime]) -> dict[str, dict[str, Any]]:
        """The queue monitor's figures (see the query queues_metrics)."""
        return {queue_id: self._queue_metrics(queue_id, since) for queue_id, since in shifts.items()}

    def _queue_metrics(self, queue_id: str, since: datetime) -> dict[str, Any]:
        s = self._s
        shift = [a for a in s.attempts.values()
                 if s.callbacks[a.callback_id].queue_id == queue_id and a.ended_at is not None and a.ended_at >= since]
        reached: dict[Any, bool] = {}
        for a in shift:
            reached[a.callback_id] = reached.get(a.callback_id, False) or (a.dial_status or "").upper() == "ANSWER"
        handled = [a for a in shift if a.completion_status is CompletionStatus.HANDLED]
        return {
            "processed": len(reached),
            "reached": sum(reached.values()),
            "to_be_processed": sum(1 for c in s.callbacks.values() if c.queue_id == queue_id and c.state in ACTIVE),
            "average_handle_seconds": numeric_avg(
                [(a.ended_at - a.started_at) // _MICROSECOND for a in handled if a.ended_at is not None]),
            "purged": sum(1 for cid, events in s.events.items() if s.callbacks[cid].queue_id == queue_id
                          for e in events if e.to_state is CallbackState.PURGED and e.at >= since),
            "live_now": sum(1 for c in s.callbacks.values()
                            if c.queue_id == queue_id and c.state is CallbackState.IN_PROGRESS),
            "agents_ready": sum(1 for g in s.agents.values() if g.ready and queue_id in g.queues),
            "outcomes": dict(sorted(Counter(a.completion_status.value for a in shift
                                            if a.completion_status is not None).items())),
        }

