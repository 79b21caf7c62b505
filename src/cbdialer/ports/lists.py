"""The do-not-call and exclusion lists' port. Rule: numbers are E.164 when they reach the store."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

from cbdialer.domain.models import Callback
from cbdialer.ports.callbacks import GuardedTransitions


class ListStore(Protocol):
    async def add_dnc(self, number: str, *, actor: str) -> None: ...

    async def remove_dnc(self, number: str) -> bool: ...

    async def is_dnc(self, number: str) -> bool: ...

    async def add_exclusion(self, number: str, *, actor: str) -> None: ...

    async def remove_exclusion(self, number: str) -> bool: ...

    async def is_excluded(self, number: str) -> bool: ...

    async def restricted(self, numbers: Collection[str]) -> tuple[set[str], set[str]]:
        """Of `numbers`, those on the DNC list and those on the exclusion list (one round trip)."""
        ...

    async def numbers(self, listing: str, limit: int) -> list[dict[str, Any]]:
        """The `dnc` or `exclusions` list: number, added_at, added_by."""
        ...


class ListPort(ListStore, GuardedTransitions, Protocol):
    """What the lists service needs: the lists, and the contact's callbacks that an exclusion ends."""

    async def active_for_contact(self, destination: str, queue_id: str | None = None) -> list[Callback]: ...
