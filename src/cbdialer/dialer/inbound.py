"""Inbound calls: a contact who calls in cancels their pending callbacks (seed 001, Cancelled By Inbound).
Rule: a withheld or missing number cancels nothing; a national number is read in the default region (as the
book stores E.164); each cancel is a guarded transition."""

from __future__ import annotations

import uuid

from cbdialer.domain.book import cancelled_by_inbound
from cbdialer.domain.lifecycle import Reason, transition
from cbdialer.domain.numbers import caller_as_e164


class Inbound:
    """Cancelling for an inbound call, for the Dialer."""

    async def cancel_for_inbound(self, caller_number: str, withheld: bool) -> list[uuid.UUID]:
        if withheld or not caller_number:
            return []
        as_stored = caller_as_e164(caller_number, default_region=self.default_region)
        if as_stored is None:
            self._log.info("inbound_caller_not_a_number", caller_number=caller_number)
            return []
        caller_number = as_stored
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
