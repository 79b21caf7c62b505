"""Inbound calls. A contact who calls in cancels their pending callbacks (seed 001, Cancelled By Inbound), and
the queue calls agents answer are kept as those agents' calls, for a callback from one of them (seeds 003, 004).
Rule: a withheld or missing number cancels nothing; a national number is read in the default region (as the
book stores E.164); each cancel is a guarded transition; a queue call is written keyed by its caller channel,
so every process that hears it writes the same row, and a call whose end was not heard ends at the next LinkUp
when its caller channel is gone."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

from cbdialer.domain.book import cancelled_by_inbound
from cbdialer.domain.lifecycle import Reason, transition
from cbdialer.domain.models import Agent
from cbdialer.domain.numbers import caller_as_e164, caller_withheld
from cbdialer.domain.presence import device_of
from cbdialer.ports.calls import CURRENT_FOR_AT_MOST, AgentCall, queue_for
from cbdialer.ports.telephony import InboundCall, QueueCallAnswered, QueueCallEnded, TelephonyError

# How many withheld callers (by channel Uniqueid) are remembered between the hook and the queue call's answer.
WITHHELD_REMEMBERED = 10_000
# A call answered this little before the live channels are read is not taken for gone (another process's clock
# may be a little behind ours).
CLOCK_MARGIN = timedelta(seconds=2)


class Inbound:
    """Cancelling for an inbound call, and the agents' queue calls, for the Dialer."""

    withheld_callers: dict[str, None]  # the Dialer makes it; in the order heard, oldest first

    async def on_inbound(self, event: InboundCall) -> list[uuid.UUID]:
        # The hook knows the presentation; app_queue's events only show the number. Kept for the queue call.
        if event.withheld and event.uniqueid:
            self.withheld_callers[event.uniqueid] = None
            while len(self.withheld_callers) > WITHHELD_REMEMBERED:
                del self.withheld_callers[next(iter(self.withheld_callers))]
        return await self.cancel_for_inbound(event.caller_number, event.withheld)

    async def cancel_for_inbound(self, caller_number: str, withheld: bool, *,
                                 answered_in: str | None = None) -> list[uuid.UUID]:
        if withheld or not caller_number:
            return []
        as_stored = caller_as_e164(caller_number, default_region=self.default_region)
        if as_stored is None:
            self._log.info("inbound_caller_not_a_number", caller_number=caller_number)
            return []
        caller_number = as_stored
        now = self.clock()
        cancelled = []
        for callback in cancelled_by_inbound(caller_number, withheld, await self.store.active_for_contact(caller_number),
                                             answered_in=answered_in):
            if await self.store.transition(callback.id, expected=callback.state, to=transition(callback.state,
                                           Reason.INBOUND_CALL), reason=Reason.INBOUND_CALL, now=now,
                                           actor=f"inbound:{caller_number}") is not None:
                cancelled.append(callback.id)
        if cancelled:
            self._log.info("callbacks_cancelled_by_inbound", caller_number=caller_number, count=len(cancelled))
        return cancelled

    async def _agent_of_member(self, member: str) -> Agent | None:
        """The agent whose dial string reaches the queue member's device (the first by id, if several do)."""
        device = device_of(member)
        return next((r.agent for r in sorted(await self.store.agents(), key=lambda r: r.agent.id)
                     if device_of(r.agent.dial_string) == device), None)

    async def on_queue_call(self, event: QueueCallAnswered | QueueCallEnded) -> AgentCall | None:
        """An agent answered a queue call (AgentConnect), or it ended (AgentComplete): kept as the agent's call.
        An end heard without its answer (this process started meanwhile) is kept all the same, already ended;
        an end without the caller's fields (the caller's channel was gone) ends the call of that member channel."""
        now = self.clock()
        ended = isinstance(event, QueueCallEnded)
        agent = await self._agent_of_member(event.member)
        if agent is None:
            self._log.info("queue_call_of_unknown_agent", member=event.member, asterisk_queue=event.asterisk_queue)
            return None
        if ended and not event.caller_uniqueid:
            calls = await self.store.agent_calls(agent.id)
            known = next((c for c in calls if event.member_uniqueid and c.member_uniqueid == event.member_uniqueid),
                         None)
            if known is None and not event.member_uniqueid:
                # Not even the member's channel (Asterisk sent the bare minimum): the agent's one current call in
                # that queue is the one, if it has exactly one (a stale call whose end was lost does not count;
                # with ringinuse=no, as cbdialer's queues are set, a member is never rung while in a call).
                open_calls = [c for c in calls if c.ended_at is None and now - c.answered_at <= CURRENT_FOR_AT_MOST
                              and c.asterisk_queue.casefold() == event.asterisk_queue.casefold()]
                known = open_calls[0] if len(open_calls) == 1 else None
            if known is None:
                self._log.info("queue_call_end_of_unknown_call", agent=agent.id, member_uniqueid=event.member_uniqueid)
                return None
            call = dataclasses.replace(known, ended_at=now)
        else:
            queue = queue_for(await self.store.queues(), event.asterisk_queue)
            withheld = event.withheld or event.caller_uniqueid in self.withheld_callers
            if not withheld and isinstance(event, QueueCallAnswered) and event.caller_channel:
                withheld = await self._presentation_withheld(event)
            answered_at = now - timedelta(seconds=event.talk_seconds) if isinstance(event, QueueCallEnded) else now
            call = AgentCall(
                id=uuid.uuid4(), caller_uniqueid=event.caller_uniqueid, agent_id=agent.id,
                asterisk_queue=event.asterisk_queue, queue_id=queue.id if queue is not None else None,
                caller_number=event.caller_number, caller_name=event.caller_name,
                withheld=withheld, answered_at=answered_at,
                ended_at=now if ended else None, member_uniqueid=event.member_uniqueid)
        stored = await self.store.record_agent_call(call)
        if ended:
            self.withheld_callers.pop(call.caller_uniqueid, None)
        if stored is not None:
            self._log.info("agent_call_ended" if ended else "agent_call_answered", call_id=str(stored.id),
                           agent=agent.id, asterisk_queue=event.asterisk_queue, queue=stored.queue_id,
                           caller_uniqueid=stored.caller_uniqueid,
                           caller_number="withheld" if stored.withheld else stored.caller_number)
            if not ended and not stored.withheld and stored.queue_id is not None:
                # Answered: the caller's own callbacks of that queue are no longer owed.
                await self.cancel_for_inbound(stored.caller_number, False, answered_in=stored.queue_id)
        return stored

    async def _presentation_withheld(self, event: QueueCallAnswered) -> bool:
        """app_queue's events carry no presentation, and this process may not have heard the caller's hook (it
        started, or its link was down, while the caller waited): Asterisk is asked, while the caller is on the
        line, so that a number the caller hid is never shown or kept. If it cannot say, the number decides."""
        try:
            presentation = await self.telephony.channel_variable(event.caller_channel, "CALLERID(num-pres)")
        except TelephonyError as exc:
            self._log.warning("caller_presentation_unknown", caller_uniqueid=event.caller_uniqueid, error=str(exc))
            return False
        return caller_withheld(event.caller_number, presentation or "")

    async def end_calls_not_heard(self) -> int:
        """After a LinkUp (a reconnect, or this process's start): the agents' calls whose end we may have missed
        end now, unless their caller channel is still live. If Asterisk cannot be asked, nothing is decided (the
        next LinkUp asks again, and a call stops being current after ports.calls.CURRENT_FOR_AT_MOST anyway)."""
        before = self.clock() - CLOCK_MARGIN
        try:
            channels = await self.telephony.core_show_channels()
        except TelephonyError as exc:
            self._log.warning("agent_calls_not_reconciled", error=str(exc))
            return 0
        ended = await self.store.end_agent_calls(live={c.uniqueid for c in channels}, answered_before=before,
                                                 now=self.clock())
        if ended:
            self._log.info("agent_calls_ended_unheard", count=ended)
        return ended
