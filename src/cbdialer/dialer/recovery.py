"""What became of the calls the dialer could not hear: the reconcile after an AMI reconnect, and the takeover
of a dead holder's call (docs/design.md section 8). Rule: Asterisk is asked (live channels, a bridge, the
result kept in AstDB) before anything is decided, and only a call that left no trace ends as of unknown
outcome."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from datetime import datetime

from cbdialer.dialer.live import RESULT_FAMILY, TAKEOVER_RETRY, LiveAttempt
from cbdialer.domain.attempt import (
    AttemptEvent,
    LineChecked,
    ResultHeard,
    parse_kept_result,
    taken_over,
)
from cbdialer.domain.models import Agent, Attempt, Callback, CompletionStatus, InteractionState, Queue
from cbdialer.domain.outcomes import LineReport, after_attempt
from cbdialer.domain.timing import contact_zone
from cbdialer.ports.telephony import (
    ChannelInfo,
    TelephonyError,
)


class Recovery:
    """The reconcile and the takeover, for the Dialer."""

    async def _link_up(self, reconnect: bool) -> None:
        """Presence first, then the reconcile of what was live, and only then new offers (docs/design.md section 8).
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
