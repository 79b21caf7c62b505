"""The dialer: agent first, then the customer (DESIGN.md section 4). Rule: an attempt is written and
committed before its Originate is sent, at most one Originate is sent per attempt, and every attempt ends
exactly once, through the outcome table, whichever of Asterisk's report, our watchdog or a reconcile
comes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog

from cbdialer.adapters.ami import (
    AmiDisconnected,
    AmiError,
    AmiEvent,
    AmiTimeout,
    AmiUnavailable,
    AttemptReport,
    ChannelInfo,
    DeviceStateChange,
    InboundCall,
    LinkUp,
    OriginateRequest,
    OriginateResponse,
)
from cbdialer.domain.book import cancelled_by_inbound
from cbdialer.domain.lifecycle import CallbackState, Reason, transition
from cbdialer.domain.models import (
    Agent,
    Attempt,
    Callback,
    CallbackType,
    CompletionStatus,
    InteractionState,
    InvalidValue,
    PreviewMode,
    Queue,
)
from cbdialer.domain.outcomes import (
    LineReport,
    NextStep,
    after_attempt,
    after_disposition,
    after_unknown_outcome,
    classify,
)
from cbdialer.domain.presence import agent_view, device_of
from cbdialer.domain.routing import AgentView, EnqueueForAgent, Offer
from cbdialer.ports import UNCHANGED, AgentRecord, CallbackStore, Ended, Started, Unchanged

CALLBACK_CONTEXT = "cbdialer-callback"
# How often a callback waiting in a busy agent's own queue looks whether the agent is free.
AGENT_QUEUE_RECHECK = timedelta(seconds=2)
# How long one read of a queue's agents serves routing (seconds).
AGENTS_SNAPSHOT_TTL = 0.25
_FOREVER = datetime.max.replace(tzinfo=UTC)


def _ahead_of(callback: Callback, waiting: Sequence[tuple[uuid.UUID, CallbackType]]) -> tuple[CallbackType, ...]:
    """An agent's own callback queue as `callback` sees it: what joined before it (all of it, if it is not
    in that queue)."""
    ids = [cid for cid, _ in waiting]
    ahead = waiting[: ids.index(callback.id)] if callback.id in ids else waiting
    return tuple(kind for _, kind in ahead)


class Telephony(Protocol):
    async def originate(self, request: OriginateRequest) -> str: ...

    async def hangup(self, channel: str, cause: int = 16) -> None: ...

    async def core_show_channels(self) -> list[ChannelInfo]: ...

    async def device_states(self) -> dict[str, str]: ...


class DialerStore(CallbackStore, Protocol):
    async def attempts(self, callback_id: uuid.UUID) -> list[Attempt]: ...

    async def agents_of_queue(self, queue_id: str) -> list[AgentRecord]: ...

    async def get_agent(self, agent_id: str) -> AgentRecord | None: ...

    async def set_agent_ready(self, agent_id: str, ready: bool) -> bool: ...

    async def release_agent(self, agent_id: str, attempt_id: uuid.UUID, *, wrap_up_until: datetime) -> None: ...

    async def start_attempt(self, callback: Callback, *, attempt_id: uuid.UUID, agent_id: str, owner: uuid.UUID,
                            now: datetime, lease: timedelta, reserve_until: datetime, actor: str) -> Started: ...

    async def set_attempt_states(self, states: Mapping[uuid.UUID, InteractionState]) -> None: ...

    async def end_attempt(self, attempt_id: uuid.UUID, *, agent_id: str, owner: uuid.UUID, now: datetime,
                          wrap_up_until: datetime, step: NextStep, dial_status: str, hangup_cause: int,
                          amd_status: str, actor: str) -> Ended: ...

    async def take_disposition(self, attempt_id: uuid.UUID) -> tuple[CompletionStatus, datetime | None] | None: ...


@dataclass
class LiveAttempt:
    id: uuid.UUID
    callback: Callback
    queue: Queue
    agent: Agent
    started_at: datetime
    deadline: datetime  # the watchdog's: no report by then, and the attempt is ended as no_answer
    channel: str = ""
    state: InteractionState = InteractionState.OFFERED
    timed_out: bool = False
    ending: bool = False
    events: list[str] = field(default_factory=list)
    # In wrap-up: what the line said, applied at the end of the wrap-up unless the agent's disposition
    # overrides it.
    pending: tuple[NextStep, LineReport] | None = None


class _Pacer:
    """Calls per second for one queue: a token bucket refilled continuously."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = max(1.0, rate)
        self.at: datetime | None = None

    def take(self, now: datetime) -> bool:
        if self.at is not None:
            self.tokens = min(max(1.0, self.rate), self.tokens + (now - self.at).total_seconds() * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Dialer:
    """The DialerPort and the AgentDirectory of the scheduler, and the consumer of AMI events."""

    def __init__(self, store: DialerStore, telephony: Telephony, *, owner: uuid.UUID, clock: Callable[[], datetime],
                 lease: timedelta = timedelta(seconds=30), grace: timedelta = timedelta(seconds=5),
                 context: str = CALLBACK_CONTEXT, log: Any = None) -> None:
        self.store = store
        self.telephony = telephony
        self.owner = owner
        self.clock = clock
        self.lease = lease
        self.grace = grace
        self.context = context
        self.actor = f"dialer:{owner}"
        self.live: dict[uuid.UUID, LiveAttempt] = {}
        self.device_states: dict[str, str] = {}
        self._pacers: dict[str, _Pacer] = {}
        # Offers being written, not yet live: attempt id -> (queue id, agent id); they count for pacing and
        # make their agent busy for routing.
        self._offering: dict[uuid.UUID, tuple[str, str]] = {}
        self._snapshots: dict[str, tuple[float, dict[str, AgentRecord]]] = {}
        # Interaction states heard but not yet stored; write_states stores them in the background.
        self._unwritten_states: dict[uuid.UUID, InteractionState] = {}
        self._states_to_write = asyncio.Event()
        self._log = log or structlog.get_logger("cbdialer.dialer")

    # -- the agent directory ---------------------------------------------------------------------------

    async def agents_for(self, queue: Queue, callback: Callback) -> Sequence[AgentView]:
        # One read of the queue's agents serves a whole batch (it costs O(agents)); what this process did
        # since (offers, agents' own queues) is laid over it, and the reservation in PostgreSQL still has
        # the last word if another process changed something meanwhile.
        snapshot = self._snapshots.get(queue.id)
        if snapshot is None or time.monotonic() - snapshot[0] > AGENTS_SNAPSHOT_TTL:
            snapshot = (time.monotonic(), {r.agent.id: r for r in await self.store.agents_of_queue(queue.id)})
            self._snapshots[queue.id] = snapshot
        now = self.clock()
        offered_here = {live.agent.id for live in self.live.values()} | {a for _, a in self._offering.values()}
        return [agent_view(r.agent, device_state=self._device_state(r.agent.dial_string),
                           ready=r.ready, now=now, wrap_up_until=r.wrap_up_until,
                           reserved_until=_FOREVER if r.agent.id in offered_here else r.reserved_until,
                           idle_since=r.idle_since, agent_queue=_ahead_of(callback, r.waiting))
                for r in snapshot[1].values()]

    def _note_waiting(self, callback: Callback, agent_id: str | None) -> None:
        """Keep the snapshots true to what this process just did: `callback` now waits for `agent_id` (or,
        with None, for nobody: it was offered)."""
        for _, records in self._snapshots.values():
            for other, record in records.items():
                waiting = tuple(w for w in record.waiting if w[0] != callback.id)
                if other == agent_id:
                    waiting += ((callback.id, callback.type),)
                if waiting != record.waiting:
                    records[other] = dataclasses.replace(record, waiting=waiting)

    def _agent(self, queue: Queue, agent_id: str) -> Agent | None:
        """The chosen agent, from the snapshot routing chose it from (its reservation re-checks everything)."""
        snapshot = self._snapshots.get(queue.id)
        record = snapshot[1].get(agent_id) if snapshot is not None else None
        return record.agent if record is not None else None

    def presence(self, dial_string: str) -> str:
        """The agent's device state as this dialer last heard it from Asterisk (for the admin API)."""
        return self._device_state(dial_string)

    def _device_state(self, dial_string: str) -> str:
        device = device_of(dial_string)
        if device in self.device_states:
            return self.device_states[device]
        # Asterisk lists no Local/... devices until they have been used: such an agent's presence cannot be
        # known, so it counts as idle and its ready flag and reservation govern. Other unknown devices are off.
        return "NOT_INUSE" if dial_string.startswith("Local/") else "UNKNOWN"

    # -- the dialer port ---------------------------------------------------------------------------------

    def present(self, callback: Callback, queue: Queue, decision: Offer | EnqueueForAgent, *,
                now: datetime) -> Awaitable[None]:
        # Settled now, before any await, so that routing the next callback sees it: the dial slot (pacing)
        # and the agent being offered. The batch's `now` may be seconds old by the time this callback's turn
        # comes: the attempt's start, its reservation and its lease are reckoned from the time it is offered.
        now = max(now, self.clock())
        settings = queue.settings
        if isinstance(decision, EnqueueForAgent):
            # It waits in the busy agent's own callback queue, keeping its place there; routing is redone
            # every few seconds, and offers it to that agent once the agent is free and it is first in line.
            self._note_waiting(callback, decision.agent_id)
            return self._hold(callback, Reason.DIAL_SLOT_UNAVAILABLE, now + AGENT_QUEUE_RECHECK, now,
                              assigned_agent=decision.agent_id)
        if not self._slot_free(queue, now):
            return self._hold(callback, Reason.DIAL_SLOT_UNAVAILABLE,
                              now + timedelta(seconds=1 / settings.calls_per_second), now)
        agent = self._agent(queue, decision.agent_id)
        if agent is None:
            return self._hold(callback, Reason.POSTPONED, now + timedelta(seconds=settings.retry_interval), now)
        attempt_id = uuid.uuid4()
        self._offering[attempt_id] = (queue.id, agent.id)
        self._note_waiting(callback, None)
        return self._offer(callback, queue, agent, attempt_id, now)

    async def _offer(self, callback: Callback, queue: Queue, agent: Agent, attempt_id: uuid.UUID,
                     now: datetime) -> None:
        settings = queue.settings
        preview = settings.max_preview_time if settings.preview_mode is not PreviewMode.DISABLED else 0
        ceiling = now + timedelta(seconds=settings.agent_offer_timeout + preview + settings.duration_for_no_answer) \
            + 2 * self.grace
        try:
            outcome = await self.store.start_attempt(callback, attempt_id=attempt_id, agent_id=agent.id,
                                                     owner=self.owner, now=now, lease=self.lease,
                                                     reserve_until=ceiling, actor=self.actor)
            started = outcome.callback
            if started is not None:
                live = LiveAttempt(attempt_id, started, queue, agent, now, deadline=ceiling)
                self.live[attempt_id] = live
        finally:
            self._offering.pop(attempt_id, None)
        if started is None:
            if outcome.agent_reserved:  # the callback changed hands in between: hand the agent back
                await self.store.release_agent(agent.id, attempt_id, wrap_up_until=now)
            else:  # the agent was taken meanwhile (by another process); the hold is void if the callback is not ours
                await self._hold(callback, Reason.DIAL_SLOT_UNAVAILABLE, now + timedelta(seconds=1), now)
            return
        self._log.info("attempt_started", attempt_id=str(attempt_id), callback_id=str(callback.id),
                       agent=agent.id, destination=callback.destination)
        try:
            await self.telephony.originate(self._originate_request(live))
        except (AmiUnavailable, ValueError) as exc:
            # Never sent: nobody was dialled. Requeued soon, as trunk trouble is (bounded, not counted).
            self._log.warning("originate_not_sent", attempt_id=str(attempt_id), error=str(exc))
            await self._end(live, after_attempt(live.callback, queue.settings, CompletionStatus.NETWORK_FAILURE,
                                                now=self.clock()), LineReport())
        except (AmiDisconnected, AmiTimeout) as exc:
            # Sent, fate unknown: the reconcile after the reconnect or the watchdog ends it; never re-sent.
            self._log.warning("originate_outcome_unknown", attempt_id=str(attempt_id), error=str(exc))

    def _slot_free(self, queue: Queue, now: datetime) -> bool:
        live = sum(1 for a in self.live.values() if a.queue.id == queue.id) \
            + sum(1 for queue_id, _ in self._offering.values() if queue_id == queue.id)
        if live >= queue.settings.max_concurrent_calls:
            return False
        pacer = self._pacers.setdefault(queue.id, _Pacer(queue.settings.calls_per_second))
        pacer.rate = queue.settings.calls_per_second
        return pacer.take(now)

    def _originate_request(self, live: LiveAttempt) -> OriginateRequest:
        settings = live.queue.settings
        callback = live.callback
        variables = {
            "CBDIALER_ATTEMPT": str(live.id),
            "CBDIALER_CUSTOMER": settings.customer_dial_string.replace("{number}", callback.destination),
            "CBDIALER_TIMEOUT": str(settings.duration_for_no_answer),
            "CBDIALER_AMD": "on" if settings.amd else "off",
            "CBDIALER_PREVIEW": settings.preview_mode.value,
            "CBDIALER_PREVIEW_TIME": str(settings.max_preview_time),
        }
        if settings.caller_id:
            variables["CBDIALER_CALLER_ID"] = settings.caller_id
        return OriginateRequest(channel=live.agent.dial_string, channel_id=str(live.id), context=self.context,
                                timeout_ms=settings.agent_offer_timeout * 1000,
                                caller_id=f'"Callback" <{callback.destination}>', variables=variables)

    async def _hold(self, callback: Callback, reason: Reason, due_at: datetime, now: datetime, *,
                    assigned_agent: str | None | Unchanged = UNCHANGED) -> None:
        if due_at >= callback.end_at:
            reason, due_at, assigned_agent = Reason.EXPIRED, callback.end_at, None
        await self.store.transition(callback.id, expected=callback.state, to=transition(callback.state, reason),
                                    reason=reason, now=now, actor=self.actor, owner=self.owner, due_at=due_at,
                                    assigned_agent=assigned_agent)

    # -- what Asterisk reports -----------------------------------------------------------------------------

    async def on_event(self, event: AmiEvent) -> None:
        match event:
            case LinkUp(reconnect=reconnect):
                self.device_states = await self.telephony.device_states()
                if reconnect:
                    await self.reconcile()
            case DeviceStateChange(device=device, state=state):
                self.device_states[device] = state
            case OriginateResponse():
                await self._on_originate_response(event)
            case AttemptReport():
                await self._on_report(event)
            case InboundCall(caller_number=number, withheld=withheld):
                await self.cancel_for_inbound(number, withheld)
            case _:
                pass

    def _find(self, attempt_id: str) -> LiveAttempt | None:
        try:
            return self.live.get(uuid.UUID(attempt_id))
        except ValueError:
            return None

    async def _on_originate_response(self, event: OriginateResponse) -> None:
        live = self._find(event.uniqueid) or self._find(event.action_id.removeprefix("cbd-originate-"))
        if live is None:
            return
        if event.success:
            live.channel = event.channel
            return
        # The agent did not answer, rejected, or is unreachable: back to the queue, not counted. Set not
        # ready first (if the queue says so), so that the requeued callback is not offered to them again.
        if live.queue.settings.not_ready_after_missed_offer:
            await self.store.set_agent_ready(live.agent.id, False)
            self._log.info("agent_set_not_ready", agent=live.agent.id, reason="missed_offer")
        await self._end(live, after_attempt(live.callback, live.queue.settings, CompletionStatus.CANCEL,
                                            now=self.clock(), agent_missed=True), LineReport(), talked=False)

    async def _on_report(self, event: AttemptReport) -> None:
        live = self._find(event.attempt_id)
        if live is None:
            return
        now = self.clock()
        live.events.append(event.kind)
        if event.kind == "Result":
            report = LineReport(event.dial_status, event.hangup_cause, event.amd_status, timed_out=live.timed_out)
            status = classify(report)
            step = after_attempt(live.callback, live.queue.settings, status, now=now)
            wrap_up = timedelta(seconds=live.queue.settings.wrap_up_time)
            if status in (CompletionStatus.HANDLED, CompletionStatus.ANSWERING_MACHINE) and wrap_up:
                # The agent wraps up, and may set a disposition meanwhile; no new offer reaches them until then.
                live.state, live.pending, live.deadline = InteractionState.WRAP_UP, (step, report), now + wrap_up
                # Written before the agent is released: a disposition is accepted only in wrap-up.
                await self.store.set_attempt_states({live.id: InteractionState.WRAP_UP})
                await self.store.release_agent(live.agent.id, live.id, wrap_up_until=now + wrap_up)
                return
            await self._end(live, step, report)
            return
        state = {"Preview": InteractionState.PREVIEW, "Dialing": InteractionState.DIALING,
                 "CustomerAnswered": InteractionState.HANDLING}.get(event.kind)
        if state is None:
            return
        live.state = state
        if state is InteractionState.DIALING:
            # Our own duration-for-no-answer, beside the Dial timeout (DESIGN.md section 4, step 4).
            live.deadline = now + timedelta(seconds=live.queue.settings.duration_for_no_answer) + self.grace
        elif state is InteractionState.HANDLING:
            live.deadline = datetime.max.replace(tzinfo=now.tzinfo)  # a conversation has no timeout
        self._unwritten_states[live.id] = state
        self._states_to_write.set()

    async def _end(self, live: LiveAttempt, step: NextStep, report: LineReport, *, talked: bool | None = None) -> None:
        if live.ending:
            return
        live.ending = True
        now = self.clock()
        try:
            spoke = talked if talked is not None else report.dial_status.upper() == "ANSWER"
            wrap_up = timedelta(seconds=live.queue.settings.wrap_up_time) if spoke else timedelta(0)
            await self.store.end_attempt(live.id, agent_id=live.agent.id, owner=self.owner, now=now,
                                         wrap_up_until=now + wrap_up, step=step, dial_status=report.dial_status,
                                         hangup_cause=report.hangup_cause, amd_status=report.amd_status,
                                         actor=self.actor)
            self._log.info("attempt_ended", attempt_id=str(live.id), callback_id=str(live.callback.id),
                           status=step.status.value, state=step.state.value, reason=step.reason.value,
                           attempts=step.attempts_count, due_at=step.due_at.isoformat() if step.due_at else None)
        finally:
            self.live.pop(live.id, None)

    async def write_states(self, stop: asyncio.Event) -> None:
        """Store the interaction states the event consumer heard, many per statement, so that the consumer
        never waits for these writes (they inform watchers and a takeover; no decision waits on them). Order
        does not matter: the statement only moves a state forward, and not after the attempt ended."""
        while True:
            if not self._unwritten_states:
                if stop.is_set():
                    return
                waiters = [asyncio.ensure_future(self._states_to_write.wait()), asyncio.ensure_future(stop.wait())]
                try:
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waiters:
                        waiter.cancel()
            self._states_to_write.clear()
            batch, self._unwritten_states = self._unwritten_states, {}
            if batch:
                await self.store.set_attempt_states(batch)

    # -- the watchdog and the reconcile -------------------------------------------------------------------

    async def watchdog(self, stop: asyncio.Event, interval: float = 0.5) -> None:
        while not stop.is_set():
            now = self.clock()
            for live in list(self.live.values()):
                if live.ending or now < live.deadline:
                    continue
                if live.pending is not None:
                    await self._end_wrap_up(live, now)
                elif not live.timed_out:
                    live.timed_out = True
                    live.deadline = now + self.grace  # the Result of the hang-up should follow
                    self._log.info("attempt_timed_out", attempt_id=str(live.id), state=live.state.value)
                    if live.channel:  # without it the agent never answered: the offer's own timeout ends it
                        with contextlib.suppress(AmiError):
                            await self.telephony.hangup(live.channel)
                else:
                    await self._end(live, after_attempt(live.callback, live.queue.settings, CompletionStatus.NO_ANSWER,
                                                        now=now), LineReport(timed_out=True), talked=False)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await stop.wait()

    async def _end_wrap_up(self, live: LiveAttempt, now: datetime) -> None:
        assert live.pending is not None
        step, report = live.pending
        disposition = await self.store.take_disposition(live.id)
        if disposition is not None:
            status, start = disposition
            try:
                step = after_disposition(live.callback, live.queue.settings, status, now=now, new_start=start)
            except (InvalidValue, OverflowError) as exc:  # e.g. a requested start that has passed by now: the
                # line's status stands; one bad disposition must not stop the watchdog (and the daemon)
                self._log.warning("disposition_refused", attempt_id=str(live.id), error=str(exc))
        await self._end(live, step, report, talked=False)

    async def reconcile(self) -> None:
        """After a reconnect: an attempt whose channels are gone ended while we could not hear it."""
        channels = await self.telephony.core_show_channels()
        alive = {c.uniqueid for c in channels} | {c.linkedid for c in channels}
        for live in list(self.live.values()):
            if str(live.id) not in alive and not live.ending:
                self._log.warning("attempt_outcome_unknown", attempt_id=str(live.id))
                await self._end(live, after_unknown_outcome(live.callback, live.queue.settings, now=self.clock()),
                                LineReport(), talked=False)

    async def recover(self, callback: Callback, queue: Queue, *, now: datetime) -> bool:
        attempts = await self.store.attempts(callback.id)
        last = attempts[-1] if attempts and attempts[-1].ended_at is None else None
        if last is None or last.agent_id is None:
            return False
        try:
            channels = await self.telephony.core_show_channels()
        except AmiError:
            # Cannot see the line: decide nothing now; the lease we just took makes it due again soon.
            return True
        agent = await self.store.get_agent(last.agent_id)
        legs = [c for c in channels if c.linkedid == str(last.id)]
        agent_leg = next((c for c in legs if c.uniqueid == str(last.id)), None)
        if agent is None or agent_leg is None:
            return False
        live = LiveAttempt(last.id, callback, queue, agent.agent, last.started_at, deadline=now, channel=agent_leg.channel,
                           state=last.interaction_state)
        settings = queue.settings
        live.deadline = (datetime.max.replace(tzinfo=now.tzinfo) if last.interaction_state is InteractionState.HANDLING
                         else now + timedelta(seconds=settings.duration_for_no_answer + settings.agent_offer_timeout)
                         + self.grace)
        self.live[last.id] = live
        self._log.info("attempt_reattached", attempt_id=str(last.id), callback_id=str(callback.id),
                       channel=agent_leg.channel)
        return True

    # -- inbound calls ---------------------------------------------------------------------------------------

    async def cancel_for_inbound(self, caller_number: str, withheld: bool) -> list[uuid.UUID]:
        if withheld or not caller_number:
            return []
        now = self.clock()
        cancelled = []
        for callback in cancelled_by_inbound(caller_number, withheld,
                                             await self.store.active_for_contact(caller_number)):
            if await self.store.transition(callback.id, expected=callback.state, to=transition(callback.state,
                                           Reason.INBOUND_CALL), reason=Reason.INBOUND_CALL, now=now,
                                           actor=f"inbound:{caller_number}") is not None:
                cancelled.append(callback.id)
        if cancelled:
            self._log.info("callbacks_cancelled_by_inbound", caller_number=caller_number, count=len(cancelled))
        return cancelled
