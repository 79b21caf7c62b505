"""The dialer: agent first, then the customer (docs/design.md section 4). Rule: an attempt is written and
committed before its Originate is sent, at most one Originate is sent per attempt, and every attempt ends
exactly once, through the outcome table, whichever of Asterisk's report, our watchdog or a reconcile
comes first. One attempt moves at a time (its lock), and a move is kept only once its effects are done."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from cbdialer.agent_board import AgentBoard
from cbdialer.dialer.background import Background
from cbdialer.dialer.inbound import Inbound
from cbdialer.dialer.live import (
    AGENT_QUEUE_RECHECK,
    CALLBACK_CONTEXT,
    PAUSING_RECHECK,
    SLOT_RECHECK,
    LiveAttempt,
    LiveCalls,
    Pacer,
)
from cbdialer.dialer.places import QueuePlaces
from cbdialer.dialer.recovery import Recovery
from cbdialer.dialer.turns import Turns
from cbdialer.dialer.waits import Waits
from cbdialer.domain.attempt import (
    AgentAnswered,
    AttemptEvent,
    Call,
    CloseWrapUp,
    DispositionRefused,
    Effect,
    Finish,
    HangUp,
    IllegalMove,
    NotDialled,
    OfferMissed,
    Progressed,
    RecordResult,
    ResultHeard,
    SetAgentNotReady,
    StoreState,
    WrapUpClosed,
    advance,
    offered,
)
from cbdialer.domain.book import Hold, outside_hours
from cbdialer.domain.lifecycle import Reason
from cbdialer.domain.models import Agent, Callback, InteractionState, Queue
from cbdialer.domain.offer import offer_caller_id
from cbdialer.domain.outcomes import LineReport
from cbdialer.domain.place import keeps_place
from cbdialer.domain.routing import EnqueueForAgent, Offer
from cbdialer.domain.timing import contact_zone
from cbdialer.ports import (
    DialerStore,
    StartOutcome,
    StoreUnavailable,
)
from cbdialer.ports.metrics import NO_METRICS, Metrics
from cbdialer.ports.telephony import (
    ActionFailed,
    AttemptReport,
    DeviceStateChange,
    InboundCall,
    LinkDown,
    LinkUp,
    OriginateRequest,
    OriginateResponse,
    QueueCallAnswered,
    QueueCallEnded,
    QueueCallerJoined,
    QueueCallerLeft,
    Telephony,
    TelephonyError,
    TelephonyUnavailable,
)

_NEVER = datetime.max.replace(tzinfo=UTC)
# The events applied only once every event heard before them is: the link's ups and downs (a reconcile reads the
# live attempts) and the inbound calls and queue callers (their order is the callers' order).
ORDERED_EVENTS = (LinkUp, LinkDown, InboundCall, QueueCallAnswered, QueueCallEnded, QueueCallerJoined,
                  QueueCallerLeft)


class Dialer(Recovery, Background, Inbound, Turns, Waits):
    """The DialerPort and the AgentDirectory of the scheduler, and the consumer of AMI events."""

    def __init__(self, store: DialerStore, telephony: Telephony, *, owner: uuid.UUID, clock: Callable[[], datetime],
                 lease: timedelta = timedelta(seconds=30), grace: timedelta = timedelta(seconds=5),
                 context: str = CALLBACK_CONTEXT, database_up: Callable[[], bool] = lambda: True,
                 default_region: str | None = None, node_silence: timedelta = timedelta(seconds=30),
                 metrics: Metrics = NO_METRICS, log: Any = None) -> None:
        self.store = store
        self.telephony = telephony
        self.owner = owner
        self.clock = clock
        self.lease = lease
        self.grace = grace
        self.context = context
        self.database_up = database_up
        self.default_region = default_region  # how an inbound caller's national number is read
        self.node_silence = node_silence  # a process silent (no heartbeat) this long is dead: its pauses are lifted
        self.actor = f"dialer:{owner}"
        self.metrics = metrics
        self.live = LiveCalls()
        self._pacers: dict[str, Pacer] = {}
        # Offers being written, not yet live: attempt id -> (queue id, agent id); they count for pacing and
        # make their agent busy for routing.
        self._offering: dict[uuid.UUID, tuple[str, str]] = {}
        # Who can take a callback: the AgentDirectory of the scheduler, with this process's offers laid over.
        self.board = AgentBoard(store, clock, busy_here=self._agents_offered, dial_slots=self._dial_slots)
        # Interaction states heard but not yet stored; write_states stores them in the background.
        self._unwritten_states: dict[uuid.UUID, InteractionState] = {}
        self._states_to_write = asyncio.Event()
        # Set while the AMI link is up, presence is known and the reconcile after a reconnect is done: only
        # then are new offers made (docs/design.md section 8).
        self.ready = asyncio.Event()
        self.withheld_callers: dict[str, None] = {}  # inbound callers' channels heard withheld (dialer/inbound.py)
        self.places = QueuePlaces()  # who waits in each Asterisk queue (dialer/places.py)
        self._init_turns()  # callers' places and the members paused for callbacks (dialer/turns.py)
        self._log = log or structlog.get_logger("cbdialer.dialer")

    def holding(self) -> set[uuid.UUID]:
        """The callbacks whose calls this process holds (their leases are the ones its heartbeat keeps)."""
        return {live.callback.id for live in self.live.values()}

    def _agents_offered(self) -> set[str]:
        return {live.agent.id for live in self.live.values()} | {a for _, a in self._offering.values()}

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
            self.board.note_waiting(callback, decision.agent_id)
            self.note_turn(callback, queue, decision, now=now)
            # Due again when the agent's wrap-up ends, if that is all that keeps it; else when it is freed
            # (the keeper wakes it), at the latest at the recheck.
            recheck = AGENT_QUEUE_RECHECK if settings.asterisk_queue is None else PAUSING_RECHECK
            due = min(now + recheck, self.board.free_at(decision.agent_id) or _NEVER)
            return self._wait_for_agent(callback, due, now, decision.agent_id, self.board.freed_count(decision.agent_id))
        if not self.ready.is_set():
            return self._wait(callback, now + SLOT_RECHECK, now)  # no new offer while Asterisk is out of reach
        late = outside_hours(callback, queue, now=now)  # the batch's time may be seconds old: look again
        if isinstance(late, Hold):
            return self._hold(callback, late.reason, late.due_at, now)
        if late is not None:
            return self._hold(callback, Reason.EXPIRED, callback.end_at, now)
        if not self._slot_free(queue, now):
            return self._wait(callback, now + max(SLOT_RECHECK, timedelta(seconds=1 / settings.calls_per_second)), now)
        agent = self.board.agent(queue, decision.agent_id)
        if agent is None:
            return self._hold(callback, Reason.POSTPONED, now + timedelta(seconds=settings.retry_interval), now)
        attempt_id = uuid.uuid4()
        self._offering[attempt_id] = (queue.id, agent.id)
        self.board.offered(agent.id)
        self.board.note_waiting(callback, None)
        self.note_turn(callback, queue, agent, now=now)
        return self._offer(callback, queue, agent, attempt_id, now)

    async def _offer(self, callback: Callback, queue: Queue, agent: Agent, attempt_id: uuid.UUID,
                     now: datetime) -> None:
        settings = queue.settings
        call = offered(attempt_id, callback, settings, now=now, grace=self.grace)
        taken = False  # by another process: busy for routing until the board reads the agents again
        try:
            if not self.ready.is_set():  # the link dropped while this batch was routed: no attempt is written
                await self._wait(callback, now + SLOT_RECHECK, now)
                return
            outcome = await self.store.start_attempt(
                callback, attempt_id=attempt_id, agent_id=agent.id, owner=self.owner, now=now, lease=self.lease,
                reserve_until=max(call.deadline, now + 2 * self.lease), actor=self.actor,
                max_calls=settings.max_concurrent_calls, calls_per_second=settings.calls_per_second)
            started = outcome.callback
            taken = outcome.outcome is StartOutcome.AGENT_TAKEN
            if started is not None:
                zone = contact_zone(started.destination, customer_timezone=started.customer_timezone,
                                    queue_timezone=settings.schedule.timezone)
                live = LiveAttempt(dataclasses.replace(call, callback=started), queue, agent, now, zone)
                self.live[attempt_id] = live
        finally:
            self._offering.pop(attempt_id, None)
            if attempt_id not in self.live and not taken:
                self.board.withdrawn(agent.id)  # not offered after all: routing may choose it again
        if started is None:
            if outcome.outcome in (StartOutcome.NO_SLOT, StartOutcome.AGENT_TAKEN):
                # Another process holds the queue's slots or took the agent: routing looks again shortly.
                await self._wait(callback, now + SLOT_RECHECK, now)
            return
        self._log.info("attempt_started", attempt_id=str(attempt_id), callback_id=str(callback.id),
                       agent=agent.id, destination=callback.destination)
        if keeps_place(callback, queue.settings):
            self.turns_changed.set()  # it is no longer pending: the next caller's place may be reached
        if not self.ready.is_set():
            self.metrics.originate_refused(queue.id)
            await self._not_dialled(live, "the AMI link is down")
            return
        await self.pause_for_offer(queue, agent)
        try:
            await self.telephony.originate(self._originate_request(live))
        except (TelephonyUnavailable, ActionFailed, ValueError) as exc:
            # Never sent, or refused by Asterisk: nobody was dialled. Not counted; tried again soon.
            self._log.warning("originate_not_sent", attempt_id=str(attempt_id), error=str(exc))
            self.metrics.originate_refused(queue.id)
            await self._not_dialled(live, str(exc))
        except TelephonyError as exc:
            # Sent, fate unknown: the reconcile after the reconnect or the watchdog ends it; never re-sent.
            self._log.warning("originate_outcome_unknown", attempt_id=str(attempt_id), error=str(exc))
        else:
            # Late from when this turn fell due (the claim moved due_at on to its lease's expiry).
            due = callback.due_since or callback.due_at
            self.metrics.offer_sent(queue.id, (self.clock() - due).total_seconds())

    async def _not_dialled(self, live: LiveAttempt, why: str) -> None:
        try:
            await self._apply(live, NotDialled(why))
        except StoreUnavailable:
            # Not ended (PostgreSQL away): still held, and the watchdog ends it so once the database is back
            # (dropped, it would be taken over as of unknown outcome, and counted).
            live.pending = NotDialled(why)
            raise

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
            # The caller's recording, played in preview (with_recording previews only when there is one).
            "CBDIALER_RECORDING": callback.recording or "",
        }
        if settings.caller_id:
            variables["CBDIALER_CALLER_ID"] = settings.caller_id
        return OriginateRequest(channel=live.agent.dial_string, channel_id=str(live.id), context=self.context,
                                timeout_ms=settings.agent_offer_timeout * 1000,
                                caller_id=offer_caller_id(callback), variables=variables)

    async def _apply(self, live: LiveAttempt, event: AttemptEvent) -> None:
        """Advance one live attempt by `event` and carry out the effects, in order. The move is kept only once
        its effects are done: if one fails (PostgreSQL away), the attempt is as it was, and the same event
        applied again later does the same (every write is guarded, so repeating one is harmless)."""
        async with live.lock:
            if self.live.get(live.id) is not live:
                return  # ended meanwhile
            now = self.clock()
            try:
                call, effects = advance(live.call, event, now=now)
            except IllegalMove as exc:
                self._log.error("attempt_event_refused", attempt_id=str(live.id), error=str(exc))
                return
            work = list(effects)
            while work:
                effect = work.pop(0)
                more = await self._carry_out(live, call, effect, now)
                if more is not None:
                    call, extra = advance(call, more, now=now)
                    work[:0] = extra
            live.call = call
            if call.state is InteractionState.ENDED:
                self.live.pop(live.id, None)

    async def _carry_out(self, live: LiveAttempt, call: Call, effect: Effect, now: datetime) -> AttemptEvent | None:
        match effect:
            case StoreState(state=state):
                self._unwritten_states[live.id] = state
                self._states_to_write.set()
                for phase, seconds in live.phases(state, now):
                    self.metrics.call_phase(live.queue.id, phase, seconds)
            case RecordResult(report=report, status=status, heard_at=heard_at, wrap_up_until=until):
                await self.store.record_result(live.id, agent_id=live.agent.id, heard_at=heard_at,
                                               dial_status=report.dial_status, hangup_cause=report.hangup_cause,
                                               amd_status=report.amd_status, wrap_up_until=until, status=status)
                for phase, seconds in live.phases(InteractionState.WRAP_UP, heard_at):  # the talk ends here
                    self.metrics.call_phase(live.queue.id, phase, seconds)
                self._log.info("attempt_result_recorded", attempt_id=str(live.id), status=status.value,
                               wrap_up_until=until.isoformat())
            case HangUp(channel=channel):
                with contextlib.suppress(TelephonyError):
                    await self.telephony.hangup(channel)
            case SetAgentNotReady():
                await self.store.set_agent_ready(live.agent.id, False)
                self._log.info("agent_set_not_ready", agent=live.agent.id, reason="missed_offer")
            case CloseWrapUp():
                disposition = await self.store.take_disposition(live.id)
                return WrapUpClosed(*disposition) if disposition is not None else WrapUpClosed()
            case DispositionRefused(error=error):
                self._log.warning("disposition_refused", attempt_id=str(live.id), error=error)
            case Finish(step=step, report=report, wrap_up_until=until):
                self.board.freeing(live.agent.id)
                try:
                    ended = await self.store.end_attempt(
                        live.id, agent_id=live.agent.id, owner=self.owner, now=now, wrap_up_until=until, step=step,
                        dial_status=report.dial_status, hangup_cause=report.hangup_cause,
                        amd_status=report.amd_status, actor=self.actor)
                finally:
                    missed = self.board.ended(live.agent.id)
                self.board.released(live.agent.id, wrap_up_until=until)
                for callback_id in missed:  # waits written while the end was: its wake may not have seen them
                    await self.store.due_now(callback_id, reason=Reason.DIAL_SLOT_UNAVAILABLE, now=self.clock(),
                                             at=until if until > self.clock() else None)
                if ended.finished:  # its first end: another process that took it over may have ended it
                    self.metrics.attempt_ended(live.queue.id, step.status.value)
                    for phase, seconds in live.phases(InteractionState.ENDED, now):
                        self.metrics.call_phase(live.queue.id, phase, seconds)
                self._log.info("attempt_ended", attempt_id=str(live.id), callback_id=str(live.callback.id),
                               status=step.status.value, state=step.state.value, reason=step.reason.value,
                               attempts=step.attempts_count, due_at=step.due_at.isoformat() if step.due_at else None)
        return None

    async def on_event(self, event: object) -> None:
        match event:
            case LinkUp(reconnect=reconnect):
                self.metrics.ami_connected()
                await self._link_up(reconnect)
                await self.end_calls_not_heard()  # the agents' queue calls that ended unheard
                await self.places.reread(self.telephony, self.clock())
                await self.reread_pauses()  # this process's own pauses, and a dead cbdialer's to lift
            case LinkDown():
                self.ready.clear()  # no new offer until the link is back and reconciled
                self.places.link_down()
            case DeviceStateChange(device=device, state=state):
                if self.board.heard_device(device, state):  # freed: a callback waiting for it is offered now
                    self.agent_freed(device)
                    offered = self._agents_offered()  # their attempt's end wakes them, after its wrap-up
                    for agent_id in self.board.agents_on(device) - offered:
                        self._agent_free(agent_id, self.board.free_at(agent_id) or self.clock())
            case OriginateResponse():
                live = self._find(event.uniqueid) or self._find(event.action_id.removeprefix("cbd-originate-"))
                if live is not None:
                    await self._apply(live, AgentAnswered(event.channel) if event.success else OfferMissed())
            case AttemptReport():
                await self._on_report(event)
            case InboundCall():
                await self.on_inbound(event)
            case QueueCallAnswered() | QueueCallEnded():
                await self.on_queue_call(event)
            case QueueCallerJoined() | QueueCallerLeft():
                self.places.heard(event, self.clock())
            case _:
                pass

    def attempt_of(self, event: object) -> str | None:
        """The attempt an event is about, if it is an attempt's own (its Originate's answer, its reports):
        such events are applied in order per attempt, beside other attempts' (cbdialer.consumer)."""
        match event:
            case OriginateResponse():
                live = self._find(event.uniqueid) or self._find(event.action_id.removeprefix("cbd-originate-"))
                return str(live.id) if live is not None else None
            case AttemptReport(attempt_id=attempt_id):
                return attempt_id
        return None

    def _find(self, attempt_id: str) -> LiveAttempt | None:
        try:
            return self.live.get(uuid.UUID(attempt_id))
        except ValueError:
            return None

    async def _on_report(self, event: AttemptReport) -> None:
        live = self._find(event.attempt_id)
        if event.kind == "Result":
            report = LineReport(event.dial_status, event.hangup_cause, event.amd_status)
            if live is not None:
                await self._apply(live, ResultHeard(report, self.clock()))
            else:
                await self._record_unheld(event.attempt_id, report)
            return
        if event.kind == "RecordingPlayed":  # FAILED: Asterisk cannot read the recordings directory (README)
            played = event.status == "SUCCESS"
            (self._log.info if played else self._log.warning)(
                "recording_played" if played else "recording_not_played", attempt_id=event.attempt_id,
                status=event.status)
            return
        state = {"Preview": InteractionState.PREVIEW, "Dialing": InteractionState.DIALING,
                 "CustomerAnswered": InteractionState.HANDLING}.get(event.kind)
        if live is not None and state is not None:
            await self._apply(live, Progressed(state))

    async def _record_unheld(self, attempt_id: str, report: LineReport) -> None:
        """Another process's attempt, or one whose holder died: its result is recorded all the same, once, for
        the holder or the next taker (docs/design.md section 4, step 5)."""
        try:
            attempt = uuid.UUID(attempt_id)
        except ValueError:
            return
        if await self.store.result_heard(attempt, heard_at=self.clock(), dial_status=report.dial_status,
                                         hangup_cause=report.hangup_cause, amd_status=report.amd_status):
            self._log.info("attempt_result_recorded_for_another", attempt_id=attempt_id, dial_status=report.dial_status)
