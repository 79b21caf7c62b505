"""The agents of one queue, kept sorted for routing (issue 14). Rule: over the same agents at the same time,
`FreeAgents` answers routing's questions (domain/routing.py's AgentPool) exactly as the reference list does,
in O(1) per question and O(log agents) comparisons per change (a change also moves a sorted list's tail, one
memmove), allocating nothing per agent; it is told of every change, and its time only moves forward.

Each agent is filed by what it is apart from time (`view`: its device in use, or offered by this process,
makes it busy) and until when time keeps it busy (`busy_until`: its wrap-up or a reservation). A suitable
agent is filed in the pool of the whole queue and in one pool per team: among the free ones, ordered by
`idle_order`; among the busy ones, by id. Any agent who can be reached and serves the queue is also filed in
`REACHABLE`, whose free ones are what the queue could be offered now (claims are sized to it). Agents that
time will free wait in a heap, and `advance` moves them.
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_left, insort
from dataclasses import dataclass, replace
from datetime import datetime

from cbdialer.domain.models import Queue, check_aware
from cbdialer.domain.routing import AgentView, idle_order, suitable

_Key = tuple[bool, datetime, str]
_Pool = str | None | object
# Reached and serving the queue, whatever its skills or its own callback queue: who could take a callback now.
REACHABLE = object()


@dataclass(slots=True)
class _Filed:
    view: AgentView
    busy_until: datetime | None
    pools: tuple[_Pool, ...]  # REACHABLE, the whole queue (None) and each team, as far as the agent belongs
    key: _Key
    free: bool


class FreeAgents:
    """One queue's agents, for routing: an AgentPool whose answers are as of `now` (see `advance`)."""

    def __init__(self, queue: Queue, *, now: datetime) -> None:
        check_aware("now", now)
        self.queue = queue
        self.now = now
        self._filed: dict[str, _Filed] = {}
        self._free: dict[_Pool, list[_Key]] = {}
        self._busy: dict[_Pool, list[str]] = {}
        self._wakes: list[tuple[datetime, int, _Filed]] = []  # (busy until, tie-break, the filing it frees)
        self._order = itertools.count()

    # -- changes ------------------------------------------------------------------------------------------

    def put(self, view: AgentView, busy_until: datetime | None = None) -> None:
        """The agent is now `view` (busy if `view.busy`, or until `busy_until` if that is later than now)."""
        self.remove(view.id)
        reachable = view.logged_in and view.ready and self.queue.id in view.queues
        pools: tuple[_Pool, ...] = (REACHABLE,) if reachable else ()
        if suitable(view, self.queue):
            pools += (None, *sorted(view.teams))
        timed = busy_until is not None and busy_until > self.now
        filed = _Filed(view, busy_until, pools, idle_order(view), free=not view.busy and not timed)
        self._filed[view.id] = filed
        self._file(filed)
        if pools and not view.busy and timed:
            assert busy_until is not None
            heapq.heappush(self._wakes, (busy_until, next(self._order), filed))
            if len(self._wakes) > 4 * len(self._filed) + 64:  # many superseded: keep the heap O(agents)
                self._wakes = [w for w in self._wakes if self._filed.get(w[2].view.id) is w[2]]
                heapq.heapify(self._wakes)

    def remove(self, agent_id: str) -> None:
        filed = self._filed.pop(agent_id, None)
        if filed is not None:
            self._unfile(filed)

    def advance(self, now: datetime) -> None:
        """Time is now `now`: agents whose wrap-up or reservation ended by then are free. An earlier time
        changes nothing (the board's clock and a batch's time may differ by a little)."""
        if now <= self.now:
            return
        self.now = now
        while self._wakes and self._wakes[0][0] <= now:
            filed = heapq.heappop(self._wakes)[2]
            if self._filed.get(filed.view.id) is filed and not filed.free:
                self._unfile(filed)
                filed.free = True
                self._file(filed)

    # -- routing's questions (AgentPool) --------------------------------------------------------------------

    def get(self, agent_id: str) -> AgentView | None:
        filed = self._filed.get(agent_id)
        if filed is None:
            return None
        if filed.view.busy or not _busy_at(filed, self.now):
            return filed.view
        return replace(filed.view, busy=True)  # made only for the agent asked about

    def longest_idle(self, team_id: str | None, excluded: str | None) -> AgentView | None:
        for key in self._free.get(team_id, ())[:2]:  # the second only if the first is the one left out
            if key[2] != excluded:
                return self._filed[key[2]].view
        return None

    def first_busy(self, team_id: str | None, excluded: str | None) -> AgentView | None:
        for agent_id in self._busy.get(team_id, ())[:2]:
            if agent_id != excluded:
                return self.get(agent_id)
        return None

    # -- for the board and the tests ----------------------------------------------------------------------

    def free_count(self) -> int:
        """How many agents who can be reached and serve the queue are free now."""
        return len(self._free.get(REACHABLE, ()))

    def free_ids(self) -> list[str]:
        """Those agents, longest idle first."""
        return [key[2] for key in self._free.get(REACHABLE, ())]

    def next_free_at(self) -> datetime | None:
        """When time next frees an agent (its wrap-up or reservation ends), if it does."""
        while self._wakes and (self._filed.get(self._wakes[0][2].view.id) is not self._wakes[0][2]
                               or self._wakes[0][2].free):
            heapq.heappop(self._wakes)  # superseded
        return self._wakes[0][0] if self._wakes else None

    def views(self) -> list[AgentView]:
        """Every agent as it is now: what the reference routes over."""
        return [view for agent_id in self._filed if (view := self.get(agent_id)) is not None]

    def _file(self, filed: _Filed) -> None:
        for pool in filed.pools:
            if filed.free:
                insort(self._free.setdefault(pool, []), filed.key)
            else:
                insort(self._busy.setdefault(pool, []), filed.view.id)

    def _unfile(self, filed: _Filed) -> None:
        for pool in filed.pools:
            if filed.free:
                _take(self._free[pool], filed.key)
            else:
                _take(self._busy[pool], filed.view.id)


def _busy_at(filed: _Filed, now: datetime) -> bool:
    return filed.busy_until is not None and filed.busy_until > now


def _take(items: list, item: object) -> None:
    at = bisect_left(items, item)
    assert items[at] == item, "filed and unfiled in step"
    del items[at]
