"""The caller-callback IVR's flow (services/caller_requests.py) on the in-memory store, with a scripted caller
(tests/support/fake_ivr.py): the keys, the limits, slots, recordings, the caller's place and every way back to
the queue."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from cbdialer.adapters.memory import MemoryStore
from cbdialer.domain.access import COMMAND_LINE
from cbdialer.domain.ivr import keyed_number, serving_queue
from cbdialer.domain.models import CallbackOrigin, QueueStatus, Schedule, SlotCapacity
from cbdialer.ports import CallbackQuery, StoreUnavailable
from cbdialer.ports.ivr import IvrRequest
from cbdialer.services import Admin
from cbdialer.services.caller_requests import CallerRequests
from tests.support.fake_ivr import FakeIvrCall

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
JOINED = NOW - timedelta(minutes=4)


@pytest.fixture
async def admin() -> Admin:
    service = Admin(MemoryStore(lambda: NOW), lambda: NOW)
    await service.queues.create_queue(COMMAND_LINE, id="sales", name="Sales", skills=frozenset(),
                                      settings={"asterisk_queue": "Sales-Q"})
    return service


def flow(admin: Admin, joined: dict[str, datetime] | None = None) -> CallerRequests:
    places = joined or {}
    return CallerRequests(admin.callbacks, admin.queues, lambda: NOW, joined=places.get,
                          recordings_dir="/var/spool/asterisk/cbdialer-recordings/")


def caller(number: str = "+442079460012", *keys: str, presentation: str = "allowed_not_screened",
           **variables: str) -> FakeIvrCall:
    return FakeIvrCall(IvrRequest(uniqueid="1700000000.42", caller_number=number, presentation=presentation),
                       keys=list(keys), variables={"CBDIALER_QUEUE": "sales-q", **variables})


async def caller_callbacks(admin: Admin) -> list:
    found = await admin.callbacks.search(COMMAND_LINE, CallbackQuery(queue_id="sales"), limit=50)
    return [c for c in found if c.origin is CallbackOrigin.CALLER]


async def test_a_caller_keeps_its_place_with_its_own_number(admin: Admin) -> None:
    call = caller("+442079460012", "1", "#")
    await flow(admin, {"1700000000.42": JOINED}).handle(call)
    (callback,) = await caller_callbacks(admin)
    assert (callback.destination, callback.joined_at, callback.slot, callback.recording) == (
        "+442079460012", JOINED, None, None)
    assert callback.remark == "Asked in the IVR"
    assert call.variables["CBDIALER_RESULT"] == "callback"
    assert call.played[-2:] == ["auth-thankyou", "vm-goodbye"]


async def test_the_place_falls_back_to_the_dialplan_variable_then_to_now(admin: Admin) -> None:
    await flow(admin).handle(caller("+442079460012", "1", "#", CBDIALER_JOINED=f"{JOINED.timestamp():.3f}"))
    await flow(admin).handle(caller("+442079460013", "1", "#", CBDIALER_JOINED="garbage"))
    joined = {c.destination: c.joined_at for c in await caller_callbacks(admin)}
    assert joined == {"+442079460012": JOINED, "+442079460013": NOW}


async def test_a_caller_keys_another_number_in_and_a_withheld_caller_must(admin: Admin) -> None:
    await flow(admin).handle(caller("+442079460012", "2", "442079460014#", "#"))
    withheld = caller("", "02079460015", "442079460015#", "#", presentation="prohib")
    await flow(admin).handle(withheld)
    assert {c.destination for c in await caller_callbacks(admin)} == {"+442079460014", "+442079460015"}
    assert "unidentified-no-callback" in withheld.played and "pm-invalid-option" in withheld.played


async def test_three_bad_numbers_send_the_caller_back_to_the_queue(admin: Admin) -> None:
    call = caller("", "123#", "9#", "", presentation="prohib")
    await flow(admin).handle(call)
    assert await caller_callbacks(admin) == []
    assert call.variables["CBDIALER_RESULT"] == "queue"
    assert call.played[-2:] == ["im-sorry", "pls-hold-while-try"]


@pytest.mark.parametrize("setup", ["unknown queue", "stopped", "full"])
async def test_the_offer_is_refused_back_to_the_queue(admin: Admin, setup: str) -> None:
    variables = {}
    if setup == "unknown queue":
        variables["CBDIALER_QUEUE"] = "support"
    elif setup == "stopped":
        await admin.queues.run_queue(COMMAND_LINE, "sales", False)
        assert (await admin.queues.queue(COMMAND_LINE, "sales")).status is QueueStatus.STOPPED
    else:
        await admin.queues.update_queue(COMMAND_LINE, "sales", settings={"max_caller_callbacks": 0})
    call = caller("+442079460012", "1", "#", **variables)
    await flow(admin).handle(call)
    assert await caller_callbacks(admin) == []
    assert call.variables["CBDIALER_RESULT"] == "queue"


async def test_at_the_limit_a_caller_with_a_pending_request_may_ask_again(admin: Admin) -> None:
    await flow(admin).handle(caller("+442079460012", "1", "#"))
    await admin.queues.update_queue(COMMAND_LINE, "sales", settings={"max_caller_callbacks": 1})
    again = caller("+442079460012", "1", "#")
    await flow(admin).handle(again)
    assert len(await caller_callbacks(admin)) == 1 and again.variables["CBDIALER_RESULT"] == "callback"


async def test_a_caller_picks_one_of_the_next_three_free_slots(admin: Admin) -> None:
    rules = [{"weekday": d, "start": "00:00", "end": "24:00", "capacity": 1} for d in range(7)]
    await admin.queues.update_queue(COMMAND_LINE, "sales",
                                    settings={"slot_capacity": rules, "schedule": {"timezone": "UTC"}})
    first = caller("+442079460012", "1", "2", "1", "#")
    await flow(admin).handle(first)
    second = caller("+442079460013", "1", "2", "2", "#")
    await flow(admin).handle(second)
    slots = {c.destination: c.slot for c in await caller_callbacks(admin)}
    # 10:00 has begun; 10:30 is the first free, then (10:30 booked) 11:00 and 11:30 are offered.
    assert slots == {"+442079460012": NOW + timedelta(minutes=30), "+442079460013": NOW + timedelta(minutes=90)}
    assert sum(1 for p in second.played if type(p).__name__ == "SayDatetime") == 3


async def test_keep_my_place_is_key_1_where_the_queue_has_slots(admin: Admin) -> None:
    rules = [{"weekday": d, "start": "00:00", "end": "24:00", "capacity": 1} for d in range(7)]
    await admin.queues.update_queue(COMMAND_LINE, "sales", settings={"slot_capacity": rules})
    await flow(admin).handle(caller("+442079460012", "1", "1", "#"))
    (callback,) = await caller_callbacks(admin)
    assert callback.slot is None


async def test_a_recording_is_kept_only_when_something_was_said(admin: Admin) -> None:
    spoken = caller("+442079460012", "1")
    spoken.record_samples = 24000
    await flow(admin).handle(spoken)
    silent = caller("+442079460013", "1")
    silent.record_samples = 800
    await flow(admin).handle(silent)
    recordings = {c.destination: c.recording for c in await caller_callbacks(admin)}
    assert recordings["+442079460013"] is None
    assert recordings["+442079460012"] == spoken.recorded[0]
    assert spoken.recorded[0].startswith("/var/spool/asterisk/cbdialer-recordings/")


async def test_a_caller_who_hangs_up_during_the_recording_still_asked(admin: Admin) -> None:
    call = caller("+442079460012", "1")
    call.record_samples = 16000
    call.hang_up_at = 2  # the number's step, the record prompt: then RECORD FILE
    await flow(admin).handle(call)
    [callback] = await caller_callbacks(admin)
    assert callback.recording is None and call.steps == 2


@pytest.mark.parametrize(("step", "recorded"), [(2, False), (3, True)])
async def test_a_recording_or_a_thanks_that_fails_on_a_live_channel_still_stores_the_request(
        admin: Admin, step: int, recorded: bool) -> None:
    call = caller("+442079460012", "1")
    call.record_samples = 16000
    call.fail_at = step  # 2: RECORD FILE (the directory not writable); 3: the first thanks prompt (missing)
    await flow(admin).handle(call)
    [callback] = await caller_callbacks(admin)
    assert (callback.recording is not None) is recorded
    assert call.variables["CBDIALER_RESULT"] == "callback"


async def test_a_caller_who_hangs_up_before_choosing_leaves_nothing(admin: Admin) -> None:
    call = caller("+442079460012")
    call.hang_up_at = 0
    await flow(admin).handle(call)
    assert await caller_callbacks(admin) == []


async def test_a_store_failure_apologises_and_sends_the_caller_back(admin: Admin,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    async def unavailable(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("connection refused")

    monkeypatch.setattr(admin.callbacks.store, "create_callback", unavailable)
    call = caller("+442079460012", "1", "#")
    await flow(admin).handle(call)
    assert call.variables["CBDIALER_RESULT"] == "queue"
    assert call.played[-2:] == ["im-sorry", "pls-hold-while-try"]


def test_the_rules() -> None:
    assert keyed_number("00442079460012", default_region=None) == "+442079460012"
    assert keyed_number("*442079460012", default_region=None) == "+442079460012"
    assert keyed_number("02079460012", default_region="GB") == "+442079460012"
    assert keyed_number("02079460012", default_region=None) is None
    assert keyed_number("12#", default_region=None) is None
    assert serving_queue([], "x") is None
    assert time(0, 0) < time.max and Schedule().timezone  # the settings the slots above lean on
    assert SlotCapacity
