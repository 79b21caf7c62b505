"""The slot booking and caller-callback limits of CallbackBook.create_callback (docs/design.md section 14), on
both stores: a booking never passes the capacity, an ended callback frees its place, a caller's second request
updates the first, and past the limit a caller's request is refused, with nothing written."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from cbdialer.domain.book import OVERWRITTEN_STATES
from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import Callback, CallbackOrigin
from cbdialer.ports import CallbackQuery, CallerLimitReached, SlotFull
from tests.support.contracts.common import T0, Store, make_callback

SLOT = T0 + timedelta(days=1)


def booking(**changes: Any) -> Callback:
    return make_callback(SLOT, slot=SLOT, destination=f"+44207946{uuid.uuid4().int % 10_000:04d}", **changes)


def caller(number: str = "+442079460099", **changes: Any) -> Callback:
    values: dict[str, Any] = {"origin": CallbackOrigin.CALLER, "joined_at": T0 - timedelta(minutes=5),
                              "destination": number, **changes}
    return make_callback(SLOT, **values)


async def create(store: Store, callback: Callback, **guards: Any) -> tuple[Callback, bool]:
    return await store.create_callback(callback, actor="test", overwrite=OVERWRITTEN_STATES, **guards)


class SlotContract:
    async def test_a_slot_takes_bookings_up_to_its_capacity_and_a_cancelled_one_frees_its_place(
            self, store: Store) -> None:
        made = [await create(store, booking(), slot_capacity=2) for _ in range(2)]
        assert all(new and c.slot == SLOT for c, new in made)
        with pytest.raises(SlotFull):
            await create(store, full := booking(), slot_capacity=2)
        assert await store.get_callback(full.id) is None  # nothing written
        assert await store.booked_slots("sales", SLOT, SLOT + timedelta(hours=1)) == {SLOT: 2}
        first = made[0][0]
        await store.transition(first.id, expected=first.state, to=CallbackState.CANCELLED, reason=Reason.CANCELLED,
                               now=T0, actor="test")
        assert await store.booked_slots("sales", SLOT, SLOT + timedelta(hours=1)) == {SLOT: 1}
        again, _ = await create(store, booking(), slot_capacity=2)
        assert (await store.get_callback(again.id)) == again and again.slot == SLOT
        assert await store.booked_slots("sales", SLOT + timedelta(hours=1), SLOT + timedelta(hours=2)) == {}

    async def test_a_booking_made_under_other_slot_settings_still_counts_in_the_slot_it_falls_in(
            self, store: Store) -> None:
        half_past = SLOT + timedelta(minutes=30)  # booked while the queue had 30-minute slots
        await create(store, make_callback(half_past, slot=half_past, destination="+442079460071"), slot_capacity=1)
        # Now the slots are an hour long: the hour's one place is taken already.
        with pytest.raises(SlotFull):
            await create(store, booking(), slot_capacity=1, slot_end=SLOT + timedelta(hours=1))
        assert await store.booked_slots("sales", SLOT, SLOT + timedelta(hours=1)) == {half_past: 1}

    async def test_a_callback_reads_back_with_its_origin_place_and_slot(self, store: Store) -> None:
        mine = caller(slot=SLOT)
        written, new = await create(store, mine, slot_capacity=1, caller_limit=5)
        assert new and written == mine and await store.get_callback(mine.id) == mine
        [found] = await store.search_callbacks(CallbackQuery(destination=mine.destination), limit=5)
        assert (found.origin, found.joined_at, found.slot) == (CallbackOrigin.CALLER, mine.joined_at, SLOT)

    async def test_a_callers_second_request_updates_the_first(self, store: Store) -> None:
        first, _ = await create(store, caller(remark="first"), caller_limit=5)
        second = caller(remark="second, in a slot", slot=SLOT, joined_at=T0)
        updated, new = await create(store, second, caller_limit=5, slot_capacity=1)
        assert not new and updated.id == first.id and updated.joined_at == first.joined_at
        assert (updated.remark, updated.slot, updated.state) == ("second, in a slot", SLOT, CallbackState.SCHEDULED)
        assert await store.get_callback(second.id) is None
        assert await store.get_callback(first.id) == updated
        # Its own booking is not counted against it: a third request into the same full slot still updates it.
        third, new = await create(store, caller(remark="third", slot=SLOT), caller_limit=5, slot_capacity=1)
        assert not new and third.id == first.id and third.remark == "third"
        # Another number's request is a callback of its own; an agent's callback for the number overwrites it.
        other, new = await create(store, caller("+442079460098"), caller_limit=5)
        assert new and other.id != first.id
        agents, _ = await create(store, make_callback(SLOT, origin=CallbackOrigin.AGENT, destination="+442079460099"))
        assert (await store.get_callback(first.id)).state is CallbackState.OVERWRITTEN
        assert (await store.get_callback(agents.id)).state is CallbackState.SCHEDULED

    async def test_past_the_limit_a_new_callers_request_is_refused_but_an_update_is_not(self, store: Store) -> None:
        first, _ = await create(store, caller("+442079460091"), caller_limit=2)
        await create(store, caller("+442079460092"), caller_limit=2)
        with pytest.raises(CallerLimitReached):
            await create(store, refused := caller("+442079460093"), caller_limit=2)
        assert await store.get_callback(refused.id) is None
        updated, new = await create(store, caller("+442079460091", remark="again"), caller_limit=2)
        assert not new and updated.id == first.id
        # Callbacks of other origins do not count; an ended caller's callback no longer does.
        await create(store, make_callback(SLOT, destination="+442079460094"))
        await store.transition(first.id, expected=CallbackState.SCHEDULED, to=CallbackState.CANCELLED,
                               reason=Reason.CANCELLED, now=T0, actor="test")
        _, new = await create(store, caller("+442079460093"), caller_limit=2)
        assert new
