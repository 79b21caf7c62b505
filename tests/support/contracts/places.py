"""The places' conformance suite: the front of a queue's caller-callbacks is the earliest place among those that
keep one (a caller's, in no slot, never called, pending), and a wait ends only for a queued, unclaimed callback
waiting for that reason."""

from __future__ import annotations

import uuid
from datetime import timedelta

from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import CallbackOrigin
from tests.support.contracts.common import LEASE, T0, Store, make_callback
from tests.support.contracts.slots import create


def caller(joined_seconds: int, number: str = "+442079460012", **changes: object):  # type: ignore[no-untyped-def]
    return make_callback(origin=CallbackOrigin.CALLER, joined_at=T0 - timedelta(seconds=joined_seconds),
                         destination=number, **changes)


class PlaceContract:
    async def test_the_front_is_the_earliest_place_that_is_still_kept(self, store: Store) -> None:
        assert await store.caller_front("sales", now=T0) is None
        later = await store.add_callback(caller(10, "+442079460013"), actor="test")
        earliest = await store.add_callback(caller(30, "+442079460014"), actor="test")
        # Neither an API callback, nor a slotted one, nor one that already ended keeps a place.
        await store.add_callback(make_callback(destination="+442079460015"), actor="test")
        await create(store, caller(60, "+442079460016", slot=T0 + timedelta(hours=1)), slot_capacity=1, caller_limit=9)
        gone = await store.add_callback(caller(90, "+442079460017"), actor="test")
        assert await store.transition(gone.id, expected=CallbackState.SCHEDULED, to=CallbackState.CANCELLED,
                                      reason=Reason.CANCELLED, now=T0, actor="test") is not None
        front = await store.caller_front("sales", now=T0)
        assert front is not None and front.id == earliest.id
        # Once called (counted), it has had its turn: the next place is the front.
        assert await store.transition(earliest.id, expected=CallbackState.SCHEDULED, to=CallbackState.SCHEDULED,
                                      reason=Reason.RESCHEDULED, now=T0, actor="test", attempts_count=1,
                                      due_at=T0 + timedelta(hours=1)) is not None
        front = await store.caller_front("sales", now=T0)
        assert front is not None and front.id == later.id

    async def test_a_callback_held_on_its_own_holds_nobody_behind_it(self, store: Store) -> None:
        owner = uuid.uuid4()
        held = await store.add_callback(caller(30, "+442079460018"), actor="test")
        behind = await store.add_callback(caller(10, "+442079460019"), actor="test")
        claimed = next(c for c in await store.claim_due(owner, now=T0, limit=10, lease=LEASE) if c.id == held.id)
        # On the do-not-call list, say: held back until later, by a rule that concerns only that customer.
        assert await store.wait(claimed, owner=owner, reason=Reason.RESTRICTED_DNC, due_at=T0 + timedelta(hours=1),
                                now=T0, actor="test") is not None
        front = await store.caller_front("sales", now=T0)
        assert front is not None and front.id == behind.id
        # Once its hold is over (due, not yet claimed again), it is pending ahead once more.
        front = await store.caller_front("sales", now=T0 + timedelta(hours=1))
        assert front is not None and front.id == held.id

    async def test_a_wait_ends_only_for_that_reason_unclaimed_and_due_later(self, store: Store) -> None:
        owner = uuid.uuid4()
        added = await store.add_callback(caller(5), actor="test")
        assert not await store.due_now(added.id, reason=Reason.WAITING_FOR_PLACE, now=T0)  # scheduled: not waiting
        [claimed] = await store.claim_due(owner, now=T0, limit=10, lease=LEASE)
        assert not await store.due_now(added.id, reason=Reason.WAITING_FOR_PLACE, now=T0)  # leased
        waiting = await store.wait(claimed, owner=owner, reason=Reason.WAITING_FOR_PLACE,
                                   due_at=T0 + timedelta(seconds=30), now=T0, actor="test")
        assert waiting is not None and waiting.reason is Reason.WAITING_FOR_PLACE
        assert not await store.due_now(added.id, reason=Reason.DIAL_SLOT_UNAVAILABLE, now=T0)  # another reason
        assert await store.claim_due(owner, now=T0 + timedelta(seconds=1), limit=10, lease=LEASE) == []
        assert await store.due_now(added.id, reason=Reason.WAITING_FOR_PLACE, now=T0 + timedelta(seconds=1))
        assert not await store.due_now(added.id, reason=Reason.WAITING_FOR_PLACE, now=T0 + timedelta(seconds=1))
        [again] = await store.claim_due(owner, now=T0 + timedelta(seconds=1), limit=10, lease=LEASE)
        assert again.id == added.id
        # Due at a given time instead (the end of the agent's wrap-up): only ever sooner than it was due.
        await store.wait(again, owner=owner, reason=Reason.DIAL_SLOT_UNAVAILABLE, due_at=T0 + timedelta(seconds=60),
                         now=T0 + timedelta(seconds=1), actor="test")
        later, sooner = T0 + timedelta(seconds=90), T0 + timedelta(seconds=20)
        assert not await store.due_now(added.id, reason=Reason.DIAL_SLOT_UNAVAILABLE, now=T0, at=later)
        assert await store.due_now(added.id, reason=Reason.DIAL_SLOT_UNAVAILABLE, now=T0 + timedelta(seconds=2),
                                   at=sooner)
        assert await store.claim_due(owner, now=sooner - timedelta(seconds=1), limit=10, lease=LEASE) == []
        [again] = await store.claim_due(owner, now=sooner, limit=10, lease=LEASE)
        assert again.id == added.id and again.due_since is not None and again.due_since < sooner
        # Due now (an agent freed): back in its place in due order, as of when its turn fell due.
        await store.wait(again, owner=owner, reason=Reason.DIAL_SLOT_UNAVAILABLE, due_at=sooner + timedelta(minutes=1),
                         now=sooner, actor="test")
        assert await store.due_now(added.id, reason=Reason.DIAL_SLOT_UNAVAILABLE, now=sooner + timedelta(seconds=5))
        assert (await store.get_callback(added.id)).due_at == again.due_since - timedelta(milliseconds=1)  # type: ignore
