"""The DNC and exclusion lists' conformance suite: listing, who added a number first, removal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.contracts.common import Store

DNC, OTHER, EXCLUDED = "+442079460013", "+442079460012", "+442079460014"


class ListContract:
    async def test_a_list_shows_each_number_once_in_order_with_who_added_it_first(self, store: Store) -> None:
        before = datetime.now(UTC)
        await store.add_dnc(DNC, actor="supervisor:ann")
        await store.add_dnc(OTHER, actor="supervisor:bob")
        await store.add_dnc(DNC, actor="supervisor:carl")
        await store.add_exclusion(EXCLUDED, actor="admin:dee")
        after = datetime.now(UTC)
        rows = await store.numbers("dnc", 10)
        assert [list(r) for r in rows] == [["number", "added_at", "added_by"]] * 2
        assert [(r["number"], r["added_by"]) for r in rows] == [(OTHER, "supervisor:bob"), (DNC, "supervisor:ann")]
        # added_at is the store's own clock (PostgreSQL's now()); allow for a server clock a little off.
        assert all(before - timedelta(minutes=1) <= r["added_at"] <= after + timedelta(minutes=1) for r in rows)
        assert [r["number"] for r in await store.numbers("dnc", 1)] == [OTHER]
        assert [(r["number"], r["added_by"]) for r in await store.numbers("exclusions", 10)] == [
            (EXCLUDED, "admin:dee")]

    async def test_a_number_leaves_its_list_once(self, store: Store) -> None:
        await store.add_dnc(DNC, actor="supervisor:ann")
        await store.add_exclusion(DNC, actor="supervisor:ann")
        assert await store.remove_exclusion(DNC) is True
        assert await store.remove_exclusion(DNC) is False
        assert (await store.is_excluded(DNC), await store.is_dnc(DNC)) == (False, True)
        assert await store.restricted([DNC, OTHER]) == ({DNC}, set())
        assert await store.remove_dnc(DNC) is True
        assert await store.remove_dnc(DNC) is False
        assert await store.restricted([DNC]) == (set(), set())
        assert await store.numbers("dnc", 10) == []

    async def test_an_unknown_list_is_refused(self, store: Store) -> None:
        with pytest.raises(KeyError):
            await store.numbers("vip", 10)
