"""The DNC and exclusion lists in PostgreSQL. Rule: adding a listed number again changes nothing."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from cbdialer.adapters.db.store.base import StoreBase


class PostgresLists(StoreBase):
    async def add_dnc(self, number: str, *, actor: str) -> None:
        await self._execute("dnc_add", number, actor)

    async def is_dnc(self, number: str) -> bool:
        return bool(await self._value("dnc_contains", number))

    async def restricted(self, numbers: Collection[str]) -> tuple[set[str], set[str]]:
        rows = await self._fetch("numbers_restricted", sorted(set(numbers)))
        return ({r["number"] for r in rows if r["list"] == "dnc"},
                {r["number"] for r in rows if r["list"] == "excluded"})

    async def add_exclusion(self, number: str, *, actor: str) -> None:
        await self._execute("exclusion_add", number, actor)

    async def is_excluded(self, number: str) -> bool:
        return bool(await self._value("exclusion_contains", number))

    async def remove_dnc(self, number: str) -> bool:
        return await self._value("dnc_remove", number) is not None

    async def remove_exclusion(self, number: str) -> bool:
        return await self._value("exclusion_remove", number) is not None

    async def numbers(self, listing: str, limit: int) -> list[dict[str, Any]]:
        """The DNC list (`dnc`) or the exclusion list (`exclusions`)."""
        name = {"dnc": "dnc_list", "exclusions": "exclusions_list"}[listing]
        return [dict(r) for r in await self._fetch(name, limit)]
