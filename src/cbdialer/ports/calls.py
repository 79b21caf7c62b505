"""The agents' inbound queue calls (seeds 003 and 004: a callback from the call the agent is on, or from one in
its history). Rule: a call is keyed by its caller channel's Uniqueid, so that every dialer process that hears
it writes the same row and hearing it twice changes nothing; each agent keeps its last CALLS_KEPT calls; a call
is current while it has not ended, and an end that was never heard is bounded (`current_call`)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

from cbdialer.domain.models import Queue, QueueStatus

CALLS_KEPT = 20
# A call whose end was never heard (the AMI link dropped and nobody saw it end) stops being current after this
# long; the reconcile after every LinkUp ends such calls much sooner, from the live channels.
CURRENT_FOR_AT_MOST = timedelta(hours=4)


@dataclass(frozen=True, slots=True)
class AgentCall:
    """One inbound queue call an agent answered. `caller_number` is as the line gave it (E.164 or national),
    and empty when the caller withheld it; `queue_id` is the cbdialer queue that serves `asterisk_queue`
    (None if none did when the call was answered); `member_uniqueid` is the agent's channel in the call."""

    id: UUID
    caller_uniqueid: str
    agent_id: str
    asterisk_queue: str
    queue_id: str | None
    caller_number: str
    caller_name: str
    withheld: bool
    answered_at: datetime
    ended_at: datetime | None = None
    member_uniqueid: str = ""


def current_call(calls: Sequence[AgentCall], now: datetime) -> AgentCall | None:
    """The call the agent is on: its newest call that has not ended, unless that was answered longer ago than
    CURRENT_FOR_AT_MOST (its end was lost)."""
    newest = max(calls, key=lambda c: c.answered_at, default=None)
    if newest is None or newest.ended_at is not None or now - newest.answered_at > CURRENT_FOR_AT_MOST:
        return None
    return newest


def queue_for(queues: Iterable[Queue], asterisk_queue: str) -> Queue | None:
    """The cbdialer queue whose `asterisk_queue` setting names this app_queue queue: of several, the first by id
    that is not terminated."""
    serving = sorted((q for q in queues if q.settings.asterisk_queue == asterisk_queue
                      and q.status is not QueueStatus.TERMINATED), key=lambda q: q.id)
    return serving[0] if serving else None


class AgentCallStore(Protocol):
    async def record_agent_call(self, call: AgentCall, *, keep: int = CALLS_KEPT) -> AgentCall | None:
        """Write the call, or merge it into the one of the same caller_uniqueid: the first id, agent, queue and
        answered_at stay; withheld once is withheld for good (and the number is dropped); the first end stays.
        The agent's older calls not ended end at this one's answer (an agent is on one queue call at a time),
        and only its `keep` newest calls are kept. Returns the call as stored (None if no such agent or queue)."""
        ...

    async def end_agent_calls(self, *, live: Collection[str], answered_before: datetime, now: datetime) -> int:
        """After a (re)connect: every call not ended, answered before `answered_before`, whose caller channel is
        not among `live` (Uniqueids), ends at `now`. How many ended."""
        ...

    async def agent_calls(self, agent_id: str, limit: int = CALLS_KEPT) -> list[AgentCall]:
        """The agent's calls, newest answered first."""
        ...

    async def agent_call(self, agent_id: str, call_id: UUID) -> AgentCall | None: ...
