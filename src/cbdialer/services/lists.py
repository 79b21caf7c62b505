"""The do-not-call and exclusion lists. Rule: a number is normalised to E.164 before it is added, removed or
looked up, so a list holds each number once whatever way it was typed."""

from __future__ import annotations

from typing import Any, Literal

from cbdialer.domain.access import Permission, Principal, require
from cbdialer.domain.numbers import to_e164
from cbdialer.ports import ListStore
from cbdialer.services.errors import NotFound

Listing = Literal["dnc", "exclusions"]
MAX_LISTED = 10_000


class Lists:
    def __init__(self, store: ListStore, *, default_region: str | None = None) -> None:
        self.store = store
        self.default_region = default_region

    async def list_numbers(self, who: Principal, listing: Listing, *, limit: int = 1000) -> list[dict[str, Any]]:
        require(who, Permission.MANAGE_LISTS)
        return await self.store.numbers(listing, max(1, min(limit, MAX_LISTED)))

    async def add_number(self, who: Principal, listing: Listing, number: str) -> str:
        require(who, Permission.MANAGE_LISTS)
        e164 = to_e164(number, field_name="number", default_region=self.default_region)
        add = self.store.add_dnc if listing == "dnc" else self.store.add_exclusion
        await add(e164, actor=who.actor)
        return e164

    async def remove_number(self, who: Principal, listing: Listing, number: str) -> str:
        require(who, Permission.MANAGE_LISTS)
        e164 = to_e164(number, field_name="number", default_region=self.default_region)
        remove = self.store.remove_dnc if listing == "dnc" else self.store.remove_exclusion
        if not await remove(e164):
            raise NotFound(f"{e164} is not on the {'DNC' if listing == 'dnc' else 'exclusion'} list")
        return e164
