"""What the dialer keeps of each live attempt, and its constants. Rule: a LiveAttempt is the attempt table's
view of one call this process holds (domain/attempt.py) plus what carrying out its effects needs; nothing here
does I/O."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cbdialer.domain.attempt import (
    AttemptEvent,
    Call,
)
from cbdialer.domain.models import Agent, Callback, InteractionState, Queue
from cbdialer.ports.metrics import CallPhase

CALLBACK_CONTEXT = "cbdialer-callback"
# How often a callback waiting in a busy agent's own queue looks whether the agent is free, at the latest: it
# is woken as soon as this process or another frees the agent (the keeper, dialer/turns.py); the recheck is for
# what no process hears (a supervisor setting the agent ready, a wrap-up that simply ends).
AGENT_QUEUE_RECHECK = timedelta(seconds=10)
# The same wait, in a queue whose agents it keeps paused in an Asterisk queue (dialer/turns.py): each recheck
# renews that pause, so it comes this often.
PAUSING_RECHECK = timedelta(seconds=2)
# A callback waiting for a dial slot (this process's, another's, or the AMI link) looks again after this.
SLOT_RECHECK = timedelta(seconds=1)
# A takeover that could not see the line hands the callback back for this long.
TAKEOVER_RETRY = timedelta(seconds=5)
# Where the dialplan keeps each attempt's result in AstDB (asterisk/pbx/extensions_cbdialer.conf).
RESULT_FAMILY = "cbdialer-result"


_AGENT_ANSWERED = frozenset({InteractionState.PREVIEW, InteractionState.DIALING})
_TALK_ENDED = frozenset({InteractionState.WRAP_UP, InteractionState.ENDED})


@dataclass
class LiveAttempt:
    """A live attempt held by this process: the table's view of it (`call`), and what carrying out its
    effects needs. Its lock makes the event consumer and the watchdog take turns on it."""

    call: Call
    queue: Queue
    agent: Agent
    started_at: datetime
    contact_zone: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending: AttemptEvent | None = None  # an event whose effects met an outage, applied again by the watchdog
    reached: dict[InteractionState, datetime] = field(default_factory=dict)  # when each state was first heard

    def phases(self, state: InteractionState, now: datetime) -> list[tuple[CallPhase, float]]:
        """The call's phases that `state`, heard at `now` for the first time, completes (for the metrics): the
        agent answered (preview or dialing, whichever came first), the customer answered (handling after
        dialing), the talk ended (wrap-up or the end, after handling)."""
        if state in self.reached:
            return []
        before = set(self.reached)
        self.reached[state] = now
        done: list[tuple[CallPhase, float]] = []
        if state in _AGENT_ANSWERED and not before & _AGENT_ANSWERED:
            done.append(("offer_to_answer", (now - self.started_at).total_seconds()))
        if state is InteractionState.HANDLING and InteractionState.DIALING in before:
            done.append(("dial_to_answer", (now - self.reached[InteractionState.DIALING]).total_seconds()))
        if state in _TALK_ENDED and InteractionState.HANDLING in before and not before & _TALK_ENDED:
            done.append(("talk", (now - self.reached[InteractionState.HANDLING]).total_seconds()))
        return done

    @property
    def id(self) -> uuid.UUID:
        return self.call.id

    @property
    def callback(self) -> Callback:
        return self.call.callback

    @property
    def state(self) -> InteractionState:
        return self.call.state


class LiveCalls(dict[uuid.UUID, LiveAttempt]):
    """The live attempts this process holds, by id, counted by queue as they come and go (pacing asks often)."""

    def __init__(self) -> None:
        super().__init__()
        self._by_queue: dict[str, int] = {}

    def __setitem__(self, attempt_id: uuid.UUID, live: LiveAttempt) -> None:
        if attempt_id in self:
            self._count(self[attempt_id].queue.id, -1)
        super().__setitem__(attempt_id, live)
        self._count(live.queue.id, 1)

    def __delitem__(self, attempt_id: uuid.UUID) -> None:
        self._count(self[attempt_id].queue.id, -1)
        super().__delitem__(attempt_id)

    def pop(self, attempt_id: uuid.UUID, *default: LiveAttempt | None) -> LiveAttempt | None:  # type: ignore[override]
        if attempt_id in self:
            self._count(self[attempt_id].queue.id, -1)
        return super().pop(attempt_id, *default)

    def clear(self) -> None:
        super().clear()
        self._by_queue.clear()

    def in_queue(self, queue_id: str) -> int:
        return self._by_queue.get(queue_id, 0)

    def _count(self, queue_id: str, by: int) -> None:
        self._by_queue[queue_id] = self._by_queue.get(queue_id, 0) + by


class Pacer:
    """Calls per second for one queue, as this process sees it: a token bucket refilled continuously."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = max(1.0, rate)
        self.at: datetime | None = None

    def available(self, now: datetime) -> int:
        """How many calls it would let go at `now` (taking none)."""
        tokens = self.tokens
        if self.at is not None and now > self.at:
            tokens = min(max(1.0, self.rate), tokens + (now - self.at).total_seconds() * self.rate)
        return int(tokens)

    def take(self, now: datetime) -> bool:
        if self.at is not None:
            self.tokens = min(max(1.0, self.rate), self.tokens + (now - self.at).total_seconds() * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False
