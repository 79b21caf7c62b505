"""The dialer: agent first, then the customer (DESIGN.md section 4). Rule: an attempt is written and
committed before its Originate is sent, at most one Originate is sent per attempt, and every attempt ends
exactly once, through the outcome table, whichever of Asterisk's report, our watchdog or a reconcile
comes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from cbdialer.domain.attempt import (
    AgentAnswered,
    AttemptEvent,
    Call,
    CloseWrapUp,
    DeadlinePassed,
    DispositionRefused,
    Effect,
    Finish,
    HangUp,
    IllegalMove,
    LineChecked,
    NotDialled,
    OfferMissed,
    Progressed,
    RecordResult,
    ResultHeard,
    SetAgentNotReady,
    StoreState,
    WrapUpClosed,
    advance,
    closing,
    offered,
    parse_kept_result,
    taken_over,
)
from cbdialer.domain.book import Hold, cancelled_by_inbound, outside_hours
from cbdialer.domain.lifecycle import Reason, transition
from cbdialer.domain.models import Agent, Attempt, Callback, CompletionStatus, InteractionState, Queue
from cbdialer.domain.outcomes import LineReport, after_attempt
from cbdialer.agent_board import AgentBoard
from cbdialer.domain.routing import EnqueueForAgent, Offer
from cbdialer.domain.timing import contact_zone
from cbdialer.ports.telephony import (
    ActionFailed,
    AttemptReport,
    ChannelInfo,
    DeviceStateChange,
    InboundCall,
    LinkDown,
    LinkUp,
    OriginateRequest,
    OriginateResponse,
    Telephony,
    TelephonyError,
    TelephonyUnavailable,
)
from cbdialer.ports import (
    UNCHANGED,
    DialerStore,
    StartOutcome,
    StoreUnavailable,
    Unchanged,
)

CALLBACK_CONTEXT = "cbdialer-callback"
# How often a callback waiting in a busy agent's own queue looks whether the agent is free.
AGENT_QUEUE_RECHECK = timedelta(seconds=2)
# A callback waiting for a dial slot (this process's, another's, or the AMI link) looks again after this.
SLOT_RECHECK = timedelta(seconds=1)
# A takeover that could not see the line hands the callback back for this long.
TAKEOVER_RETRY = timedelta(seconds=5)
# Where the dialplan keeps each attempt's result in AstDB (asterisk/pbx/extensions_cbdialer.conf).
RESULT_FAMILY = "cbdialer-result"


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

    @property
    def id(self) -> uuid.UUID:
        return self.call.id

    @property
    def callback(self) -> Callback:
        return self.call.callback

    @property
    def state(self) -> InteractionState:
        return self.call.state


class _Pacer:
    """Calls per second for one queue, as this process sees it: a token bucket refilled continuously."""

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
                 context: str = CALLBACK_CONTEXT, database_up: Callable[[], bool] = lambda: True,
                 log: Any = None) -> None:
        self.store = store
        self.telephony = telephony
        self.owner = owner
        self.clock = clock
        self.lease = lease
        self.grace = grace
        self.context = context
        self.database_up = database_up
        self.actor = f"dialer:{owner}"
        self.live: dict[uuid.UUID, LiveAttempt] = {}
        self._pacers: dict[str, _Pacer] = {}
        # Offers being written, not yet live: attempt id -> (queue id, agent id); they count for pacing and
        # make their agent busy for routing.
        self._offering: dict[uuid.UUID, tuple[str, str]] = {}
        # Who can take a callback: the AgentDirectory of the scheduler, with this process's offers laid over.
        self.board = AgentBoard(store, clock, busy_here=self._agents_offered)
        # Interaction states heard but not yet stored; write_states stores them in the background.
        self._unwritten_states: dict[uuid.UUID, InteractionState] = {}
        self._states_to_write = asyncio.Event()
        # Set while the AMI link is up, presence is known and the reconcile after a reconnect is done: only
        # then are new offers made (DESIGN.md section 8).
        self.ready = asyncio.Event()
        self._log = log or structlog.get_logger("cbdialer.dialer")

    def holding(self) -> set[uuid.UUID]:
        """The callbacks whose calls this process holds (their leases are the ones its heartbeat keeps)."""
        return {live.callback.id for live in self.live.values()}

    def _agents_offered(self) -> set[str]:
        return {live.agent.id for live in self.live.values()} | {a for _, a in self._offering.values()}

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
            self.board.note_waiting(callback, decision.agent_id)
            return self._wait(callback, now + AGENT_QUEUE_RECHECK, now, assigned_agent=decision.agent_id)
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
        self.board.note_waiting(callback, None)
        return self._offer(callback, queue, agent, attempt_id, now)

    async def _offer(self, callback: Callback, queue: Queue, agent: Agent, attempt_id: uuid.UUID,
                     now: datetime) -> None:
        settings = queue.settings
        call = offered(attempt_id, callback, settings, now=now, grace=self.grace)
        try:
            if not self.ready.is_set():  # the link dropped while this batch was routed: no attempt is written
                await self._wait(callback, now + SLOT_RECHECK, now)
                return
            outcome = await self.store.start_attempt(
                callback, attempt_id=attempt_id, agent_id=agent.id, owner=self.owner, now=now, lease=self.lease,
                reserve_until=max(call.deadline, now + 2 * self.lease), actor=self.actor,
                max_calls=settings.max_concurrent_calls, calls_per_second=settings.calls_per_second)
            started = outcome.callback
            if started is not None:
                zone = contact_zone(started.destination, customer_timezone=started.customer_timezone,
                                    queue_timezone=settings.schedule.timezone)
                live = LiveAttempt(dataclasses.replace(call, callback=started), queue, agent, now, zone)
                self.live[attempt_id] = live
        finally:
            self._offering.pop(attempt_id, None)
        if started is None:
            if outcome.outcome in (StartOutcome.NO_SLOT, StartOutcome.AGENT_TAKEN):
                # Another process holds the queue's slots or took the agent: routing looks again shortly.
                await self._wait(callback, now + SLOT_RECHECK, now)
            return
        self._log.info("attempt_started", attempt_id=str(attempt_id), callback_id=str(callback.id),
                       agent=agent.id, destination=callback.destination)
        if not self.ready.is_set():
            await self._not_dialled(live, "the AMI link is down")
            return
        try:
            await self.telephony.originate(self._originate_request(live))
        except (TelephonyUnavailable, ActionFailed, ValueError) as exc:
            # Never sent, or refused by Asterisk: nobody was dialled. Not counted; tried again soon.
            self._log.warning("originate_not_sent", attempt_id=str(attempt_id), error=str(exc))
            await self._not_dialled(live, str(exc))
        except TelephonyError as exc:
            # Sent, fate unknown: the reconcile after the reconnect or the watchdog ends it; never re-sent.
            self._log.warning("originate_outcome_unknown", attempt_id=str(attempt_id), error=str(exc))

    async def _not_dialled(self, live: LiveAttempt, why: str) -> None:
        try:
            await self._apply(live, NotDialled(why))
        except StoreUnavailable:
            # Not ended (PostgreSQL away): still held, and the watchdog ends it so once the database is back
            # (dropped, it would be taken over as of unknown outcome, and counted).
            live.pending = NotDialled(why)
            raise

    def _slot_free(self, queue: Queue, now: datetime) -> bool:
        """This process's own view of the queue's pacing (PostgreSQL has the last word, across processes)."""
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

    async def _hold(self, callback: Callback, reason: Reason, due_at: datetime, now: datetime) -> None:
        if due_at >= callback.end_at:
            reason, due_at = Reason.EXPIRED, callback.end_at
        await self.store.transition(callback.id, expected=callback.state, to=transition(callback.state, reason),
                                    reason=reason, now=now, actor=self.actor, owner=self.owner, due_at=due_at,
                                    assigned_agent=None if reason is Reason.EXPIRED else UNCHANGED)

    async def _wait(self, callback: Callback, due_at: datetime, now: datetime, *,
                    assigned_agent: str | None | Unchanged = UNCHANGED) -> None:
        """It stays queued and falls due again at `due_at` (audited once per wait, not once per retry)."""
        if due_at >= callback.end_at:
            await self._hold(callback, Reason.EXPIRED, due_at, now)
            return
        await self.store.wait(callback, owner=self.owner, reason=Reason.DIAL_SLOT_UNAVAILABLE, due_at=due_at,
                              now=now, actor=self.actor, assigned_agent=assigned_agent)

    # -- carrying out the attempt table's moves ------------------------------------------------------------

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
            case RecordResult(report=report, status=status, heard_at=heard_at, wrap_up_until=until):
                await self.store.record_result(live.id, agent_id=live.agent.id, heard_at=heard_at,
                                               dial_status=report.dial_status, hangup_cause=report.hangup_cause,
                                               amd_status=report.amd_status, wrap_up_until=until)
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
                await self.store.end_attempt(live.id, agent_id=live.agent.id, owner=self.owner, now=now,
                                             wrap_up_until=until, step=step, dial_status=report.dial_status,
                                             hangup_cause=report.hangup_cause, amd_status=report.amd_status,
                                             actor=self.actor)
                self._log.info("attempt_ended", attempt_id=str(live.id), callback_id=str(live.callback.id),
                               status=step.status.value, state=step.state.value, reason=step.reason.value,
                               attempts=step.attempts_count, due_at=step.due_at.isoformat() if step.due_at else None)
        return None

    # -- what Asterisk reports -----------------------------------------------------------------------------

    async def on_event(self, event: object) -> None:
        match event:
            case LinkUp(reconnect=reconnect):
                await self._link_up(reconnect)
            case LinkDown():
                self.ready.clear()  # no new offer until the link is back and reconciled
            case DeviceStateChange(device=device, state=state):
                self.board.device_states[device] = state
            case OriginateResponse():
                live = self._find(event.uniqueid) or self._find(event.action_id.removeprefix("cbd-originate-"))
                if live is not None:
                    await self._apply(live, AgentAnswered(event.channel) if event.success else OfferMissed())
            case AttemptReport():
                await self._on_report(event)
            case InboundCall(caller_number=number, withheld=withheld):
                await self.cancel_for_inbound(number, withheld)
            case _:
                pass

    async def _link_up(self, reconnect: bool) -> None:
        """Presence first, then the reconcile of what was live, and only then new offers (DESIGN.md section 8).
        A failed step (an error answer, a timeout) fails this link, never the daemon: it is dropped, and the
        reconnect brings a new LinkUp."""
        self.ready.clear()
        try:
            self.board.device_states = await self.telephony.device_states()
            if reconnect or self.live:
                await self.reconcile()
        except TelephonyError as exc:
            self._log.warning("ami_link_setup_failed", error=str(exc))
            self.telephony.drop(f"setup after LinkUp failed: {exc}")
            return
        self.ready.set()

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
        state = {"Preview": InteractionState.PREVIEW, "Dialing": InteractionState.DIALING,
                 "CustomerAnswered": InteractionState.HANDLING}.get(event.kind)
        if live is not None and state is not None:
            await self._apply(live, Progressed(state))

    async def _record_unheld(self, attempt_id: str, report: LineReport) -> None:
        """Another process's attempt, or one whose holder died: its result is recorded all the same, once, for
        the holder or the next taker (DESIGN.md section 4, step 5)."""
        try:
            attempt = uuid.UUID(attempt_id)
        except ValueError:
            return
        if await self.store.result_heard(attempt, heard_at=self.clock(), dial_status=report.dial_status,
                                         hangup_cause=report.hangup_cause, amd_status=report.amd_status):
            self._log.info("attempt_result_recorded_for_another", attempt_id=attempt_id, dial_status=report.dial_status)

    async def write_states(self, stop: asyncio.Event) -> None:
        """Store the interaction states the event consumer heard, many per statement, so that the consumer
        never waits for these writes (they inform watchers; no decision waits on them, and a takeover asks
        Asterisk rather than trust them). Order does not matter: the statement only moves a state forward,
        and not after the attempt ended."""
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
                try:
                    await self.store.set_attempt_states(batch)
                except BaseException:
                    # Kept for the next try (PostgreSQL away): newer states heard meanwhile win.
                    self._unwritten_states = {**batch, **self._unwritten_states}
                    raise

    # -- the watchdog, the reconcile and the takeover ------------------------------------------------------

    async def watchdog(self, stop: asyncio.Event, interval: float = 0.5) -> None:
        while not stop.is_set():
            await self.check_deadlines()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await stop.wait()

    async def check_deadlines(self) -> None:
        """One round of the watchdog: deadlines passed, and windows or schedules closed before the dial. Not
        while Asterisk or PostgreSQL is away: what happened on the line meanwhile may be waiting to be heard
        or applied (the reconcile, or the event consumer once the database is back, decides then)."""
        if not self.ready.is_set() or not self.telephony.connected or not self.database_up():
            return
        now = self.clock()
        for live in list(self.live.values()):
            if live.pending is not None:
                await self._apply(live, live.pending)
                live.pending = None
            elif now >= live.call.deadline:
                await self._apply(live, DeadlinePassed())
            elif (closed := closing(live.call, contact_zone=live.contact_zone, now=now)) is not None:
                await self._apply(live, closed)

    async def reconcile(self) -> None:
        """After a reconnect: what became of the attempts held while we could not hear. Live channels keep
        their attempt (re-read: talking or not); gone ones end with the result Asterisk kept, and as of
        unknown outcome only when the call left no trace. No offer is made meanwhile (ready is clear)."""
        held = list(self.live.values())
        channels = await self.telephony.core_show_channels()
        for live in held:
            legs = [c for c in channels if c.linkedid == str(live.id) or c.uniqueid == str(live.id)]
            await self._apply(live, await self._line_event(live.id, legs))

    async def _line_event(self, attempt_id: uuid.UUID, legs: Sequence[ChannelInfo]) -> AttemptEvent:
        if legs:
            return LineChecked(live=True, bridged=any(leg.bridge_id for leg in legs))
        kept = await self.telephony.db_get(RESULT_FAMILY, str(attempt_id))
        found = parse_kept_result(kept) if kept else None
        if found is None:
            self._log.warning("attempt_outcome_unknown", attempt_id=str(attempt_id))
            return LineChecked(live=False)
        self._log.info("attempt_result_found", attempt_id=str(attempt_id), where="astdb")
        return found

    async def recover(self, callback: Callback, queue: Queue, *, now: datetime) -> bool:
        """A takeover: the in-progress callback of a process that died is ours now. Its attempt's result, if
        one was recorded or Asterisk kept it, is applied; a live call is re-attached (bridged: talking, whatever
        the stored state says); only a call that left no trace ends as of unknown outcome."""
        attempts = await self.store.attempts(callback.id)
        if attempts and attempts[-1].id in self.live:
            return True  # our own call (its lease ran out in an outage and we claimed it back): still held
        if attempts and attempts[-1].ended_at is not None:
            return await self._follow_ended(callback, queue, attempts[-1], now)
        last = attempts[-1] if attempts else None
        if last is None or last.agent_id is None:
            return False
        event: AttemptEvent
        channel = ""
        if last.result_at is not None:
            event = ResultHeard(LineReport(last.dial_status, last.hangup_cause, last.amd_status), last.result_at)
        else:
            try:
                channels = await self.telephony.core_show_channels()
                legs = [c for c in channels if c.linkedid == str(last.id) or c.uniqueid == str(last.id)]
                channel = next((c.channel for c in legs if c.uniqueid == str(last.id)), "")
                event = await self._line_event(last.id, legs)
            except TelephonyError as exc:
                # Cannot see the line: decide nothing; the lease goes back, and it is looked at again soon.
                self._log.warning("takeover_deferred", callback_id=str(callback.id), error=str(exc))
                await self.store.return_lease(callback.id, owner=self.owner, due_at=now + TAKEOVER_RETRY)
                return True
        record = await self.store.get_agent(last.agent_id)
        agent = record.agent if record is not None else Agent(id=last.agent_id, dial_string="")
        state = last.interaction_state
        if state in (InteractionState.WRAP_UP, InteractionState.ENDED):
            state = InteractionState.HANDLING  # its result is applied next, wrap-up included
        call = taken_over(last.id, callback, queue.settings, state=state, channel=channel, now=now, grace=self.grace)
        zone = contact_zone(callback.destination, customer_timezone=callback.customer_timezone,
                            queue_timezone=queue.settings.schedule.timezone)
        live = LiveAttempt(call, queue, agent, last.started_at, zone)
        self.live[last.id] = live
        self._log.info("attempt_taken_over", attempt_id=str(last.id), callback_id=str(callback.id),
                       by=type(event).__name__, channel=channel)
        try:
            await self._apply(live, event)
        except BaseException:
            # Not applied (PostgreSQL away): not held either, so that the next claim does it all again.
            self.live.pop(last.id, None)
            with contextlib.suppress(Exception):
                await self.store.return_lease(callback.id, owner=self.owner, due_at=now + TAKEOVER_RETRY)
            raise
        return True

    async def _follow_ended(self, callback: Callback, queue: Queue, last: Attempt, now: datetime) -> bool:
        """Its attempt ended, but the callback did not move (its holder had lost the lease meanwhile, e.g. in
        a database outage): the callback follows the end on record rather than be treated as unknown."""
        status = last.completion_status
        if status is None or status is CompletionStatus.CALLBACK_REQUESTED:
            return False  # no end on record that can be replayed: the scheduler's unknown outcome applies
        step = after_attempt(callback, queue.settings, status, now=now)
        moved = await self.store.transition(
            callback.id, expected=callback.state, to=step.state, reason=step.reason, now=now, actor=self.actor,
            owner=self.owner, due_at=step.due_at, attempts_count=step.attempts_count,
            network_failures=step.network_failures, completion_status=step.status)
        self._log.info("callback_follows_ended_attempt", callback_id=str(callback.id), attempt_id=str(last.id),
                       status=status.value, moved=moved is not None)
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
