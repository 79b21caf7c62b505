"""The do-not-call and exclusion lists. Rule: a number is normalised to E.164 before it is added, removed or
looked up, so a list holds each number once whatever way it was typed; a number added to the exclusion list
ends its waiting callbacks at once (seed 000), each by a guarded transition."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from cbdialer.domain.access import Permission, Principal, require
from cbdialer.domain.book import ended_by_exclusion
from cbdialer.domain.lifecycle import Reason, transition
from cbdialer.domain.numbers import to_e164
from cbdialer.ports import ListPort
from cbdialer.services.errors import NotFound

Listing = Literal["dnc", "exclusions"]
MAX_LISTED = 10_000


class Lists:
    def __init__(self, store: ListPort, clock: Callable[[], datetime], *, default_region: str | None = None) -> None:
        self.store = store
        self.clock = clock
        self.default_region = default_region

    async def list_numbers(self, who: Principal, listing: Listing, *, limit: int = 1000) -> list[dict[str, Any]]:
        require(who, Permission.MANAGE_LISTS)
        return await self.store.numbers(listing, max(1, min(limit, MAX_LISTED)))

    async def add_number(self, who: Principal, listing: Listing, number: str) -> str:
        require(who, Permission.MANAGE_LISTS)
        e164 = to_e164(number, field_name="number", default_region=self.default_region)
        if listing == "dnc":  # a hold, not an end: the due decision keeps it waiting while the number is listed
            await self.store.add_dnc(e164, actor=who.actor)
            return e164
        await self.store.add_exclusion(e164, actor=who.actor)
        await self._exclude(e164, who.actor)
        return e164

    async def _exclude(self, number: str, actor: str) -> int:
        """End the excluded number's waiting callbacks. Were this cut short (a crash, an outage), each would
        still end so when it falls due: the due decision reads the exclusion list too."""
        now, ended = self.clock(), 0
        for callback in ended_by_exclusion(number, await self.store.active_for_contact(number)):
            if await self.store.transition(callback.id, expected=callback.state,
                                           to=transition(callback.state, Reason.CONTACT_EXCLUDED),
                                           reason=Reason.CONTACT_EXCLUDED, now=now, actor=actor) is not None:
                ended += 1
        return ended

    async def remove_number(self, who: Principal, listing: Listing, number: str) -> str:
        require(who, Permission.MANAGE_LISTS)
        e164 = to_e164(number, field_name="number", default_region=self.default_region)
        remove = self.store.remove_dnc if listing == "dnc" else self.store.remove_exclusion
        if not await remove(e164):
            raise NotFound(f"{e164} is not on the {'DNC' if listing == 'dnc' else 'exclusion'} list")
        return e164
