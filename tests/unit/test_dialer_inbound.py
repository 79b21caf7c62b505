"""An inbound call cancels the contact's pending callbacks (seed 001, Cancelled By Inbound), whether the trunk
gives the caller's number in E.164 or in national form (read in the default region)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from cbdialer.adapters.memory import MemoryStore
from cbdialer.dialer import Dialer
from cbdialer.domain.lifecycle import CallbackState
from cbdialer.domain.models import Callback, CallbackType, Queue

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


async def book(region: str | None) -> tuple[Dialer, MemoryStore, Callback]:
    store = MemoryStore()
    await store.save_queue(Queue(id="q", name="Q"))
    callback = Callback(id=uuid.uuid4(), queue_id="q", destination="+442079460012", type=CallbackType.STANDARD,
                        state=CallbackState.SCHEDULED, due_at=NOW + timedelta(hours=1),
                        start_at=NOW + timedelta(hours=1), end_at=NOW + timedelta(hours=5), created_at=NOW)
    await store.add_callback(callback, actor="test")
    return Dialer(store, None, owner=uuid.uuid4(), clock=lambda: NOW, default_region=region), store, callback  # type: ignore[arg-type]


@pytest.mark.parametrize("caller", ["02079460012", "020 7946 0012", "+442079460012", "442079460012"])
async def test_the_callers_number_cancels_in_national_or_international_form(caller: str) -> None:
    dialer, store, callback = await book("GB")
    assert await dialer.cancel_for_inbound(caller, False) == [callback.id]
    found = await store.get_callback(callback.id)
    assert found is not None and found.state is CallbackState.CANCELLED_BY_INBOUND
    assert (await store.history(callback.id))[-1].actor == "inbound:+442079460012"


@pytest.mark.parametrize(("region", "caller", "withheld"), [
    (None, "02079460012", False),  # national, and no region to read it in
    ("GB", "anonymous", False),
    ("GB", "1001", False),  # an extension
    ("GB", "02079460012", True),
    ("GB", "02079460099", False),  # someone else
])
async def test_nothing_is_cancelled_for_a_caller_who_is_not_the_contact(region: str | None, caller: str,
                                                                        withheld: bool) -> None:
    dialer, store, callback = await book(region)
    assert await dialer.cancel_for_inbound(caller, withheld) == []
    found = await store.get_callback(callback.id)
    assert found is not None and found.state is CallbackState.SCHEDULED
