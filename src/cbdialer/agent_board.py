"""The agent board: who can take a callback right now, for routing (docs/design.md section 5). Rule: one read of a
queue's agents serves a whole batch, with what this process did since laid over it (its offers, the agents'
own callback queues); PostgreSQL's reservation still has the last word if another process changed something.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from uuid import UUID

from cbdialer.domain.models import Agent, Callback, CallbackType, Queue
from cbdialer.domain.presence import agent_view, device_of
from cbdialer.domain.routing import AgentView
from cbdialer.ports import AgentRecord, AgentSource

# How long one read of a queue's agents serves routing (seconds).
AGENTS_SNAPSHOT_TTL = 0.25
_FOREVER = datetime.max.replace(tzinfo=UTC)


def _ahead_of(callback: Callback, waiting: Sequence[tuple[UUID, CallbackType]]) -> tuple[CallbackType, ...]:
    """An agent's own callback queue as `callback` sees it: what joined before it (all of it, if it is not
    in that queue)."""
    ids = [cid for cid, _ in waiting]
    ahead = waiting[: ids.index(callback.id)] if callback.id in ids else waiting
    return tuple(kind for _, kind in ahead)


class AgentBoard:
    """The scheduler's AgentDirectory. `device_states` is what Asterisk last said (the dialer keeps it);
    `busy_here` names the agents this process is offering a call to or has on a call."""

    def __init__(self, store: AgentSource, clock: Callable[[], datetime], *,
                 busy_here: Callable[[], set[str]]) -> None:
        self.store = store
        self.clock = clock
        self.busy_here = busy_here
        self.device_states: dict[str, str] = {}
        self._snapshots: dict[str, tuple[float, dict[str, AgentRecord]]] = {}

    async def agents_for(self, queue: Queue, callback: Callback) -> Sequence[AgentView]:
        snapshot = self._snapshots.get(queue.id)
        if snapshot is None or time.monotonic() - snapshot[0] > AGENTS_SNAPSHOT_TTL:
            snapshot = (time.monotonic(), {r.agent.id: r for r in await self.store.agents_of_queue(queue.id)})
            self._snapshots[queue.id] = snapshot
        now = self.clock()
        offered_here = self.busy_here()
        return [agent_view(r.agent, device_state=self.presence(r.agent.dial_string),
                           ready=r.ready, now=now, wrap_up_until=r.wrap_up_until,
                           reserved_until=_FOREVER if r.agent.id in offered_here else r.reserved_until,
                           idle_since=r.idle_since, agent_queue=_ahead_of(callback, r.waiting))
                for r in snapshot[1].values()]

    def note_waiting(self, callback: Callback, agent_id: str | None) -> None:
        """Keep the snapshots true to what this process just did: `callback` now waits for `agent_id` (or,
        with None, for nobody: it was offered)."""
        for _, records in self._snapshots.values():
            for other, record in records.items():
                waiting = tuple(w for w in record.waiting if w[0] != callback.id)
                if other == agent_id:
                    waiting += ((callback.id, callback.type),)
                if waiting != record.waiting:
                    records[other] = dataclasses.replace(record, waiting=waiting)

    def agent(self, queue: Queue, agent_id: str) -> Agent | None:
        """The chosen agent, from the snapshot routing chose it from (its reservation re-checks everything)."""
        snapshot = self._snapshots.get(queue.id)
        record = snapshot[1].get(agent_id) if snapshot is not None else None
        return record.agent if record is not None else None

    def records(self, queue_id: str) -> list[AgentRecord]:
        """The queue's agents as routing last read them (empty if it has not read them)."""
        snapshot = self._snapshots.get(queue_id)
        return list(snapshot[1].values()) if snapshot is not None else []

    def presence_counts(self) -> dict[str, int]:
        """The agents routing has read (of every queue, once each) by presence, lower case (for the metrics)."""
        agents = {r.agent.id: r.agent for _, records in self._snapshots.values() for r in records.values()}
        counts: dict[str, int] = {}
        for agent in agents.values():
            presence = self.presence(agent.dial_string).lower()
            counts[presence] = counts.get(presence, 0) + 1
        return counts

    def presence(self, dial_string: str) -> str:
        """The agent's device state as this dialer last heard it from Asterisk (for routing and the admin API)."""
        device = device_of(dial_string)
        if device in self.device_states:
            return self.device_states[device]
        # Asterisk lists no Local/... devices until they have been used: such an agent's presence cannot be
        # known, so it counts as idle and its ready flag and reservation govern. Other unknown devices are off.
        return "NOT_INUSE" if dial_string.startswith("Local/") else "UNKNOWN"
