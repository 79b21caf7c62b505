"""The agents' inbound queue calls in memory. Rule: as agent_call_record and its prune write them: one row per
caller channel, merged when heard again, the agent's last few kept."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from datetime import datetime
from uuid import UUID

from cbdialer.adapters.memory.state import MemoryBase, utc_now
from cbdialer.ports.calls import CALLS_KEPT, AgentCall


def _newest_first(call: AgentCall) -> tuple[datetime, UUID]:
    return call.answered_at, call.id  # ORDER BY answered_at DESC, id DESC (with reverse=True)


class CallsMixin(MemoryBase):
    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        super().__init__(clock)
        self._agent_calls: dict[str, AgentCall] = {}  # agent_calls, by caller_uniqueid

    async def record_agent_call(self, call: AgentCall, *, keep: int = CALLS_KEPT) -> AgentCall | None:
        old = self._agent_calls.get(call.caller_uniqueid)
        if old is None:
            # The table's foreign keys (a merge keeps the stored agent and queue, so it checks none).
            if call.agent_id not in self._s.agents or (call.queue_id is not None
                                                       and call.queue_id not in self._s.queues):
                return None
            written = dataclasses.replace(call, caller_number="" if call.withheld else call.caller_number)
        else:
            written = dataclasses.replace(old, withheld=old.withheld or call.withheld,
                                          caller_number="" if call.withheld else old.caller_number,
                                          ended_at=old.ended_at if old.ended_at is not None else call.ended_at)
        for other in list(self._agent_calls.values()):
            if (other.agent_id == written.agent_id and other.ended_at is None
                    and other.answered_at < written.answered_at and other.caller_uniqueid != written.caller_uniqueid):
                self._agent_calls[other.caller_uniqueid] = dataclasses.replace(other, ended_at=written.answered_at)
        self._agent_calls[written.caller_uniqueid] = written
        mine = sorted((c for c in self._agent_calls.values() if c.agent_id == written.agent_id),
                      key=_newest_first, reverse=True)
        for pruned in mine[max(keep, 1):]:
            del self._agent_calls[pruned.caller_uniqueid]
        return written

    async def end_agent_calls(self, *, live: Collection[str], answered_before: datetime, now: datetime) -> int:
        gone = [c for c in self._agent_calls.values()
                if c.ended_at is None and c.answered_at < answered_before and c.caller_uniqueid not in set(live)]
        for call in gone:
            self._agent_calls[call.caller_uniqueid] = dataclasses.replace(call, ended_at=now)
        return len(gone)

    async def agent_calls(self, agent_id: str, limit: int = CALLS_KEPT) -> list[AgentCall]:
        mine = sorted((c for c in self._agent_calls.values() if c.agent_id == agent_id), key=_newest_first,
                      reverse=True)
        return mine[:max(limit, 0)]

    async def agent_call(self, agent_id: str, call_id: UUID) -> AgentCall | None:
        return next((c for c in self._agent_calls.values() if c.agent_id == agent_id and c.id == call_id), None)
