"""The dialer's port on the book: attempts, reservations and dial slots. Rule: an attempt is started in one
statement committed before anything is sent to Asterisk, and only its first end counts."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from cbdialer.domain.lifecycle import Reason
from cbdialer.domain.models import Attempt, Callback, CompletionStatus, InteractionState
from cbdialer.domain.outcomes import NextStep
from cbdialer.ports.agents import AgentRecord
from cbdialer.ports.callbacks import UNCHANGED, CallbackStore, Unchanged
from cbdialer.ports.nodes import NodeStore
from cbdialer.ports.places import PlaceStore


class StartOutcome(StrEnum):
    """What became of an attempt's start (the values the database returns)."""

    STARTED = "started"
    NOT_OURS = "not_ours"  # the callback changed hands (a person, or a takeover)
    NO_SLOT = "no_slot"  # the queue's pacing, across every process: max_concurrent_calls or calls_per_second
    AGENT_TAKEN = "agent_taken"  # the agent was reserved meanwhile, or is not ready or wrapping up


@dataclass(frozen=True)
class Started:
    """What starting an attempt did, and the callback now in progress (None unless started)."""

    outcome: StartOutcome
    callback: Callback | None


@dataclass(frozen=True)
class Ended:
    """What ending an attempt did: whether this was its first end, and the callback as it is after it (None if
    the callback had already moved on, e.g. a person cancelled it meanwhile)."""

    finished: bool
    callback: Callback | None


class DialerStore(CallbackStore, PlaceStore, NodeStore, Protocol):
    async def attempts(self, callback_id: uuid.UUID) -> list[Attempt]: ...

    async def agents_of_queue(self, queue_id: str) -> list[AgentRecord]: ...

    async def get_agent(self, agent_id: str) -> AgentRecord | None: ...

    async def set_agent_ready(self, agent_id: str, ready: bool) -> bool: ...

    async def start_attempt(self, callback: Callback, *, attempt_id: uuid.UUID, agent_id: str, owner: uuid.UUID,
                            now: datetime, lease: timedelta, reserve_until: datetime, actor: str,
                            max_calls: int, calls_per_second: float) -> Started: ...

    async def set_attempt_states(self, states: Mapping[uuid.UUID, InteractionState]) -> None: ...

    async def record_result(self, attempt_id: uuid.UUID, *, agent_id: str, heard_at: datetime, dial_status: str,
                            hangup_cause: int, amd_status: str, wrap_up_until: datetime,
                            status: CompletionStatus) -> bool: ...

    async def result_heard(self, attempt_id: uuid.UUID, *, heard_at: datetime, dial_status: str, hangup_cause: int,
                           amd_status: str) -> bool: ...

    async def end_attempt(self, attempt_id: uuid.UUID, *, agent_id: str, owner: uuid.UUID, now: datetime,
                          wrap_up_until: datetime, step: NextStep, dial_status: str, hangup_cause: int,
                          amd_status: str, actor: str) -> Ended: ...

    async def take_disposition(self, attempt_id: uuid.UUID) -> tuple[CompletionStatus, datetime | None,
                                                                       str | None] | None: ...

    async def wait(self, callback: Callback, *, owner: uuid.UUID, reason: Reason, due_at: datetime, now: datetime,
                   actor: str, assigned_agent: str | None | Unchanged = UNCHANGED) -> Callback | None: ...

    async def return_lease(self, callback_id: uuid.UUID, *, owner: uuid.UUID, due_at: datetime) -> bool: ...
