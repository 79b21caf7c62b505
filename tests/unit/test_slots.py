"""A queue's time slots (domain/slots.py) and their settings' codec round trip."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from cbdialer.domain.codec import settings_from_dict, settings_to_dict
from cbdialer.domain.models import InvalidValue, QueueSettings, Schedule, SlotCapacity
from cbdialer.domain.slots import Slot, check_period, slot_at, slots_between

LONDON = Schedule(timezone="Europe/London")
LONDON_ZONE = ZoneInfo("Europe/London")


def settings(*rules: SlotCapacity, length: int = 3600, schedule: Schedule = LONDON) -> QueueSettings:
    return QueueSettings(slot_length=length, slot_capacity=rules, schedule=schedule)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def starts(found: list[Slot]) -> list[datetime]:
    return [s.start for s in found]


def test_no_capacity_offers_no_slots() -> None:
    assert slots_between(QueueSettings(), utc(2026, 11, 23), utc(2026, 11, 30)) == []


def test_slots_are_cut_by_length_in_the_queue_zone_with_the_capacity_of_their_weekday_and_time() -> None:
    # Monday 23 November 2026 (GMT): 09:00-11:00 takes 3, 14:00-15:30 takes 1 (only whole 30-minute slots).
    queue = settings(SlotCapacity(0, time(9), time(11), 3), SlotCapacity(0, time(14), time(15, 30), 1),
                     SlotCapacity(1, time(9), time(10), 5), length=1800)
    found = slots_between(queue, utc(2026, 11, 23), utc(2026, 11, 25))
    assert [(s.start, s.end - s.start, s.capacity) for s in found] == [
        *((utc(2026, 11, 23, 9) + timedelta(minutes=30 * i), timedelta(minutes=30), 3) for i in range(4)),
        *((utc(2026, 11, 23, 14) + timedelta(minutes=30 * i), timedelta(minutes=30), 1) for i in range(3)),
        *((utc(2026, 11, 24, 9) + timedelta(minutes=30 * i), timedelta(minutes=30), 5) for i in range(2))]
    # Summer time: the same local hours are an hour earlier in UTC.
    assert starts(slots_between(queue, utc(2026, 6, 29), utc(2026, 6, 29, 10)))[:2] == [
        utc(2026, 6, 29, 8), utc(2026, 6, 29, 8, 30)]


def test_the_spring_change_day_has_one_hour_fewer() -> None:
    # Sunday 29 March 2026, London: 01:00 GMT becomes 02:00 BST. 00:00-04:00 local is three real hours.
    queue = settings(SlotCapacity(6, time(0), time(4), 2))
    found = slots_between(queue, utc(2026, 3, 28, 12), utc(2026, 3, 29, 12))
    assert starts(found) == [utc(2026, 3, 29, 0), utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)]
    assert all(s.end - s.start == timedelta(hours=1) for s in found)
    local = [s.start.astimezone(LONDON_ZONE).strftime("%H:%M") for s in found]
    assert local == ["00:00", "02:00", "03:00"]


def test_the_autumn_change_day_has_one_hour_more_and_its_repeated_hour_twice() -> None:
    # Sunday 25 October 2026, London: 02:00 BST goes back to 01:00 GMT. 00:00-04:00 local is five real hours.
    queue = settings(SlotCapacity(6, time(0), time(4), 2))
    found = slots_between(queue, utc(2026, 10, 24, 12), utc(2026, 10, 25, 12))
    assert starts(found) == [utc(2026, 10, 24, 23) + timedelta(hours=i) for i in range(5)]
    assert len(set(starts(found))) == 5  # no slot twice


def test_a_closed_date_has_no_slots() -> None:
    closed = Schedule(timezone="Europe/London", closed_dates=frozenset({date(2026, 12, 25)}))
    queue = settings(*(SlotCapacity(d, time(9), time(10), 1) for d in range(7)), schedule=closed)
    found = slots_between(queue, utc(2026, 12, 24), utc(2026, 12, 27))
    assert starts(found) == [utc(2026, 12, 24, 9), utc(2026, 12, 26, 9)]


def test_a_slot_to_midnight_and_the_period_bounds() -> None:
    queue = settings(SlotCapacity(0, time(23), time.max, 1))
    assert starts(slots_between(queue, utc(2026, 11, 23), utc(2026, 11, 24))) == [utc(2026, 11, 23, 23)]
    # Only slots that start inside [from, to).
    assert slots_between(queue, utc(2026, 11, 23, 23, 1), utc(2026, 11, 24)) == []
    assert slots_between(queue, utc(2026, 11, 23), utc(2026, 11, 23, 23)) == []


def test_slot_at_finds_only_a_real_start() -> None:
    queue = settings(SlotCapacity(0, time(9), time(11), 3))
    assert slot_at(queue, utc(2026, 11, 23, 10)) == Slot(utc(2026, 11, 23, 10), utc(2026, 11, 23, 11), 3)
    assert slot_at(queue, utc(2026, 11, 23, 10, 30)) is None
    assert slot_at(queue, utc(2026, 11, 24, 10)) is None  # a Tuesday
    assert slot_at(queue, utc(2026, 11, 23, 11)) is None  # the end is no start


def test_a_listing_is_bounded_to_31_days() -> None:
    check_period(utc(2026, 11, 1), utc(2026, 12, 2))
    for end in (utc(2026, 12, 2, 0, 0, 1), utc(2026, 11, 1)):
        with pytest.raises(InvalidValue) as raised:
            check_period(utc(2026, 11, 1), end)
        assert raised.value.field == "to"


@pytest.mark.parametrize(("rule", "field"), [
    (lambda: SlotCapacity(7, time(9), time(10), 1), "slot_capacity.weekday"),
    (lambda: SlotCapacity(0, time(10), time(9), 1), "slot_capacity"),
    (lambda: SlotCapacity(0, time(9), time(10), -1), "slot_capacity.capacity"),
    (lambda: settings(SlotCapacity(0, time(9), time(11), 1), SlotCapacity(0, time(10), time(12), 1)),
     "slot_capacity"),
    (lambda: QueueSettings(slot_length=60), "slot_length"),
    (lambda: QueueSettings(max_caller_callbacks=-1), "max_caller_callbacks"),
])
def test_bad_slot_settings_are_refused_by_name(rule: object, field: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        rule()  # type: ignore[operator]
    assert raised.value.field == field


def test_the_new_settings_round_trip_through_the_codec() -> None:
    queue = QueueSettings(slot_length=900, slot_capacity=(SlotCapacity(0, time(9), time(12), 3),
                                                          SlotCapacity(4, time(22), time.max, 1)),
                          max_caller_callbacks=7, caller_callback_expiry=7200)
    stored = settings_to_dict(queue)
    assert stored["slot_capacity"] == [{"weekday": 0, "start": "09:00", "end": "12:00", "capacity": 3},
                                       {"weekday": 4, "start": "22:00", "end": "24:00", "capacity": 1}]
    assert (stored["slot_length"], stored["max_caller_callbacks"], stored["caller_callback_expiry"]) == (900, 7, 7200)
    assert settings_from_dict(stored) == queue
    defaults = settings_to_dict(QueueSettings())
    assert (defaults["slot_length"], defaults["slot_capacity"], defaults["max_caller_callbacks"],
            defaults["caller_callback_expiry"]) == (1800, [], 100, 14400)
    with pytest.raises(InvalidValue) as raised:
        settings_from_dict({"slot_capacity": [{"weekday": 0, "start": "9h", "end": "10:00", "capacity": 1}]})
    assert raised.value.field == "slot_capacity.start"


def test_dnc_and_the_calling_window_hold_a_callers_slotted_callback_as_any_other() -> None:
    from uuid import uuid4

    from cbdialer.domain.book import Hold, decide_due
    from cbdialer.domain.lifecycle import CallbackState, Reason
    from cbdialer.domain.models import Callback, CallbackOrigin, CallbackType, Queue

    at = utc(2026, 11, 23, 9)
    callback = Callback(id=uuid4(), queue_id="sales", destination="+442079460012", type=CallbackType.STANDARD,
                        state=CallbackState.QUEUED, due_at=at, start_at=at, end_at=at + timedelta(hours=4),
                        created_at=at - timedelta(hours=1), origin=CallbackOrigin.CALLER,
                        joined_at=at - timedelta(hours=1), slot=at)
    queue = Queue(id="sales", name="Sales")
    assert decide_due(callback, queue, now=at, on_dnc=True, excluded=False).reason is Reason.RESTRICTED_DNC
    late = at.replace(hour=22)  # 22:00 in London: past the calling window
    held = decide_due(callback.__class__(**{**{f: getattr(callback, f) for f in callback.__slots__},
                                            "end_at": late + timedelta(days=1)}), queue, now=late, on_dnc=False,
                      excluded=False)
    assert isinstance(held, Hold) and held.reason is Reason.RESTRICTED_TIME
