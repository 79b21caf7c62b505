"""The DNC and exclusion lists in memory. Rule: a number is listed once, as it was first added (by whom, when)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from cbdialer.adapters.memory.state import ListedNumber, MemoryBase


class ListsMixin(MemoryBase):
    def _add(self, listing: dict[str, ListedNumber], number: str, actor: str) -> None:
        if number not in listing:  # ON CONFLICT (number) DO NOTHING
            listing[number] = ListedNumber(added_at=self._clock(), added_by=actor)

    async def add_dnc(self, number: str, *, actor: str) -> None:
        self._add(self._s.dnc, number, actor)

    async def is_dnc(self, number: str) -> bool:
        return number in self._s.dnc

    async def remove_dnc(self, number: str) -> bool:
        return self._s.dnc.pop(number, None) is not None

    async def add_exclusion(self, number: str, *, actor: str) -> None:
        self._add(self._s.excluded, number, actor)

    async def is_excluded(self, number: str) -> bool:
        return number in self._s.excluded

    async def remove_exclusion(self, number: str) -> bool:
        return self._s.excluded.pop(number, None) is not None

    async def restricted(self, numbers: Collection[str]) -> tuple[set[str], set[str]]:
        wanted = set(numbers)
        return wanted & set(self._s.dnc), wanted & set(self._s.excluded)

    async def numbers(self, listing: str, limit: int) -> list[dict[str, Any]]:
        """The DNC list (`dnc`) or the exclusion list (`exclusions`)."""
        listed = {"dnc": self._s.dnc, "exclusions": self._s.excluded}[listing]
        return [{"number": n, "added_at": listed[n].added_at, "added_by": listed[n].added_by}
                for n in sorted(listed)[:max(limit, 0)]]
