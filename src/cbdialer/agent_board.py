"""The agent board: who can take a callback right now, for routing (docs/design.md section 5). Rule: one read of a
queue's agents serves every callback for a while, kept sorted (domain/free_agents.py) and changed in place by
what this process does and hears (its offers and their ends, the agents' own callback queues, device states);
PostgreSQL's reservation still has the last word if another process changed something meanwhile.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from uuid import UUID

from cbdialer.domain.free_agents import FreeAgents
from cbdialer.domain.models import Agent, Callback, Queue
from cbdialer.domain.presence import agent_standing, device_of, standing_of
from cbdialer.domain.routing import AgentPool, AgentView, SeenBy
from cbdialer.ports import AgentRecord, AgentSource

# How long one read of a queue's agents serves routing (seconds): what another process or the admin API
# changed is seen within this; what this process does is seen at once.
AGENTS_SNAPSHOT_TTL = 0.25
_FOREVER = datetime.max.replace(tzinfo=UTC)


class _QueueBoard:
    """One queue's agents as last read, and the pool routing asks."""

    def __init__(self, queue: Queue, records: dict[str, AgentRecord], now: datetime) -> None:
        self.read_at = time.monotonic()
        self.queue = queue
        self.records = records
        self.pool = FreeAgents(queue, now=now)
        self.told: dict[str, tuple[AgentView, datetime | None]] = {}


class AgentBoard:
    """The scheduler's AgentDirectory. `device_states` is what Asterisk last said (the dialer keeps it);
    `busy_here` names the agents this process is offering a call to or has on a call."""

    def __init__(self, store: AgentSource, clock: Callable[[], datetime], *,
                 busy_here: Callable[[], set[str]],
                 dial_slots: Callable[[Queue], int] = lambda queue: queue.settings.max_concurrent_calls) -> None:
        self.store = store
        self.clock = clock
        self.busy_here = busy_here
        self.dial_slots = dial_slots  # how many calls of a queue this process may start now (concurrency, pacing)
        self._device_states: dict[str, str] = {}
        self._boards: dict[str, _QueueBoard] = {}
        self._waits: dict[UUID, str] = {}  # callback -> the agent in whose own callback queue it waits
        self._offered: set[str] = set()  # busy_here as of the last read, and what was offered or released since
        self._devices: dict[str, set[str]] = {}  # device -> the agents on it (as read)
        self._freed_counts: dict[str, int] = {}
        self._ending: dict[str, int] = {}  # agents whose attempt's end is being written, and how many
        self._after_end: dict[str, list[UUID]] = {}  # waits written meanwhile: made due once it is through
        # Told when an agent may take a callback again, and from when (the end of its wrap-up, or now): the
        # scheduler claims, the callback first in the agent's own callback queue falls due.
        self.on_free: list[Callable[[str, datetime], None]] = []

    # -- what routing reads ---------------------------------------------------------------------------

    async def pool_for(self, queue: Queue, callback: Callback) -> AgentPool:
        """The queue's agents as `callback` sees them now (the AgentDirectory port)."""
        board = self._boards.get(queue.id)
        if board is None or time.monotonic() - board.read_at > AGENTS_SNAPSHOT_TTL or board.queue != queue:
            board = await self._read(queue)
        board.pool.advance(self.clock())
        waits_for = self._waits.get(callback.id)
        seen = board.pool.get(waits_for) if waits_for is not None else None
        if seen is None:
            return board.pool
        assert waits_for is not None
        waiting = board.records[waits_for].waiting
        ids = [cid for cid, _ in waiting]
        # Not (yet) in this read of that agent's queue: all of it is ahead of it, as far as routing can tell.
        ahead = waiting[: ids.index(callback.id)] if callback.id in ids else waiting
        return SeenBy(board.pool, queue, dataclasses.replace(seen, agent_queue=tuple(k for _, k in ahead)))

    async def agents_for(self, queue: Queue, callback: Callback) -> Sequence[AgentView]:
        """The same agents as a list, as `callback` sees them (for the tests and the reference)."""
        pool = await self.pool_for(queue, callback)
        return [view for agent_id in self._boards[queue.id].records if (view := pool.get(agent_id)) is not None]

    def free_agents(self) -> int | None:
        """How many callbacks could be offered now: free agents, each queue's no more than its free dial
        slots, each agent once over the queues read; None before any queue was read."""
        if not self._boards:
            return None
        now = self.clock()
        free: set[str] = set()
        offerable = 0
        for board in self._boards.values():
            board.pool.advance(now)
            ids = board.pool.free_ids()
            offerable += min(len(ids), self.dial_slots(board.queue))
            free.update(ids)
        return min(offerable, len(free))

    def next_free_at(self) -> datetime | None:
        """When the end of a wrap-up or a reservation next frees an agent, as far as the board knows."""
        return min((at for board in self._boards.values() if (at := board.pool.next_free_at()) is not None),
                   default=None)

    def _freshest(self, agent_id: str) -> _QueueBoard | None:
        """Of the queues' reads that hold the agent, the newest."""
        return max((b for b in self._boards.values() if agent_id in b.records), key=lambda b: b.read_at, default=None)

    def free_at(self, agent_id: str) -> datetime | None:
        """When the agent's wrap-up or reservation ends, if only that keeps it busy now."""
        board = self._freshest(agent_id)
        told = board.told.get(agent_id) if board is not None else None
        if told is None:
            return None
        view, until = told  # (an offer of this process's is a reservation until _FOREVER: not time's to end)
        return until if not view.busy and until is not None and self.clock() < until < _FOREVER else None

    def waiting_for(self, agent_id: str) -> list[UUID]:
        """The callbacks in the agent's own callback queue, in the order they joined it."""
        board = self._freshest(agent_id)
        return [cid for cid, _ in board.records[agent_id].waiting] if board is not None else []

    def agents_on(self, device: str) -> set[str]:
        return self._devices.get(device, set())

    async def _read(self, queue: Queue) -> _QueueBoard:
        records = {r.agent.id: r for r in await self.store.agents_of_queue(queue.id)}
        old = self._boards.get(queue.id)
        now = self.clock()
        board = _QueueBoard(queue, records, now)
        if old is not None and old.queue == queue:
            board.pool, board.told = old.pool, old.told  # only what changed is filed again
        for agent_id in set(board.told) - set(records):
            board.pool.remove(agent_id)
            del board.told[agent_id]
        self._boards[queue.id] = board
        for callback_id in [c for c, a in self._waits.items() if a in records]:
            del self._waits[callback_id]
        self._offered = self.busy_here()
        for agent_id, record in records.items():
            self._waits.update((cid, agent_id) for cid, _ in record.waiting)
            self._devices.setdefault(device_of(record.agent.dial_string), set()).add(agent_id)
            self._tell(board, record, offered=agent_id in self._offered)
        return board

    def _tell(self, board: _QueueBoard, record: AgentRecord, *, offered: bool) -> None:
        told = agent_standing(record.agent, device_state=self.presence(record.agent.dial_string),
                              ready=record.ready, wrap_up_until=record.wrap_up_until,
                              reserved_until=_FOREVER if offered else record.reserved_until,
                              idle_since=record.idle_since, agent_queue=tuple(k for _, k in record.waiting))
        if board.told.get(record.agent.id) != told:
            board.told[record.agent.id] = told
            board.pool.put(*told)

    def _retell(self, agent_id: str, change: Callable[[AgentRecord], AgentRecord] | None = None) -> None:
        """The agent changed (in every queue it serves): file it again."""
        for board in self._boards.values():
            record = board.records.get(agent_id)
            if record is not None:
                if change is not None:
                    record = board.records[agent_id] = change(record)
                board.pool.advance(self.clock())
                self._tell(board, record, offered=agent_id in self._offered)

    # -- what this process does and hears ---------------------------------------------------------------

    def offered(self, agent_id: str) -> None:
        """This process is offering the agent a callback: busy from now on, for every queue."""
        self._offered.add(agent_id)
        self._retell(agent_id)

    def withdrawn(self, agent_id: str) -> None:
        """The offer was not made after all (no dial slot, another process took the agent, an outage)."""
        if agent_id in self._offered and agent_id not in self.busy_here():
            self._offered.discard(agent_id)
            self._retell(agent_id)

    def released(self, agent_id: str, *, wrap_up_until: datetime) -> None:
        """The agent's attempt ended here: as PostgreSQL now has it (reservation gone, wrap-up, idle since)."""
        self._offered.discard(agent_id)
        self._retell(agent_id, lambda r: dataclasses.replace(r, reserved_until=None, wrap_up_until=wrap_up_until,
                                                             idle_since=wrap_up_until))
        self._tell_freed(agent_id)

    def freed_count(self, agent_id: str) -> int:
        """How often the agent was freed: a wait for it written meanwhile may have missed its wake."""
        return self._freed_counts.get(agent_id, 0)

    def freeing(self, agent_id: str) -> None:
        """The agent's attempt is about to end (its statements run until `released`)."""
        self._ending[agent_id] = self._ending.get(agent_id, 0) + 1

    def ending(self, agent_id: str) -> bool:
        """Whether an end of the agent's attempt is being written now."""
        return self._ending.get(agent_id, 0) > 0

    def wake_after_end(self, agent_id: str, callback_id: UUID) -> None:
        """A wait for the agent was written while its end was: that end's wake may not have seen it, so it is
        made due once the end is through (`ended`)."""
        self._after_end.setdefault(agent_id, []).append(callback_id)

    def ended(self, agent_id: str) -> list[UUID]:
        """The end being written is through (released or not): the waits to make due now."""
        left = self._ending.get(agent_id, 0) - 1
        if left > 0:
            self._ending[agent_id] = left
        else:
            self._ending.pop(agent_id, None)
        return self._after_end.pop(agent_id, []) if left <= 0 else []

    def _tell_freed(self, agent_id: str) -> None:
        self._freed_counts[agent_id] = self._freed_counts.get(agent_id, 0) + 1
        now = self.clock()
        until = max((told[1] for board in self._boards.values() if (told := board.told.get(agent_id)) is not None
                     and told[1] is not None), default=now)
        for hook in self.on_free:
            hook(agent_id, max(now, until))

    def note_waiting(self, callback: Callback, agent_id: str | None) -> None:
        """Keep the board true to what this process just did: `callback` now waits for `agent_id` (or,
        with None, for nobody: it was offered)."""
        before = self._waits.pop(callback.id, None)
        if agent_id is not None:
            self._waits[callback.id] = agent_id
        if before == agent_id:
            return
        if before is not None:
            self._retell(before, lambda r: dataclasses.replace(
                r, waiting=tuple(w for w in r.waiting if w[0] != callback.id)))
        if agent_id is not None:
            self._retell(agent_id, lambda r: dataclasses.replace(r, waiting=(*r.waiting, (callback.id, callback.type))))

    @property
    def device_states(self) -> Mapping[str, str]:
        """What Asterisk last said of each device (read-only: a change goes through `heard_device`)."""
        return MappingProxyType(self._device_states)

    @device_states.setter
    def device_states(self, states: Mapping[str, str]) -> None:
        """All of Asterisk's device states at once (after a LinkUp): every agent is filed again."""
        freed = {device for device, state in states.items()
                 if state == "NOT_INUSE" and self._device_states.get(device, "NOT_INUSE") != "NOT_INUSE"}
        self._device_states = dict(states)
        for board in self._boards.values():
            board.pool.advance(self.clock())
            for record in board.records.values():
                self._tell(board, record, offered=record.agent.id in self._offered)
        for agent_id in {a for device in freed for a in self._devices.get(device, ())}:
            self._tell_freed(agent_id)  # freed while Asterisk could not be heard

    def heard_device(self, device: str, state: str) -> bool:
        """Asterisk reported one device's state; True if that freed it (busy or away before, idle now)."""
        before = self.presence(device)
        self._device_states[device] = state
        if standing_of(before) == standing_of(state):
            return False  # the same for routing (RINGING to INUSE, say): nothing to file again, nobody freed
        freed = standing_of(state) == (True, False)
        for agent_id in self._devices.get(device, ()):
            self._retell(agent_id)
            if freed:
                self._tell_freed(agent_id)
        return freed

    # -- for the dialer, the metrics and the admin API ------------------------------------------------------

    def agent(self, queue: Queue, agent_id: str) -> Agent | None:
        """The chosen agent, from the read routing chose it from (its reservation re-checks everything)."""
        board = self._boards.get(queue.id)
        record = board.records.get(agent_id) if board is not None else None
        return record.agent if record is not None else None

    def records(self, queue_id: str) -> list[AgentRecord]:
        """The queue's agents as routing last read them (empty if it has not read them)."""
        board = self._boards.get(queue_id)
        return list(board.records.values()) if board is not None else []

    def presence_counts(self) -> dict[str, int]:
        """The agents routing has read (of every queue, once each) by presence, lower case (for the metrics)."""
        agents = {r.agent.id: r.agent for board in self._boards.values() for r in board.records.values()}
        counts: dict[str, int] = {}
        for agent in agents.values():
            presence = self.presence(agent.dial_string).lower()
            counts[presence] = counts.get(presence, 0) + 1
        return counts

    def presence(self, dial_string: str) -> str:
        """The agent's device state as this dialer last heard it from Asterisk (for routing and the admin API)."""
        device = device_of(dial_string)
        if device in self._device_states:
            return self._device_states[device]
        # Asterisk lists no Local/... devices until they have been used: such an agent's presence cannot be
        # known, so it counts as idle and its ready flag and reservation govern. Other unknown devices are off.
        return "NOT_INUSE" if dial_string.startswith("Local/") else "UNKNOWN"
