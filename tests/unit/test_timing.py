"""Timing rules (docs/design.md section 7): start and end, recall delays, the contact's zone, schedule and window."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cbdialer.domain import timing
from cbdialer.domain.lifecycle import Reason
from cbdialer.domain.models import CallingWindow, InvalidValue, OpeningHours, QueueSettings, Schedule
from cbdialer.domain.timing import (
    contact_zone,
    end_of,
    hold_reason,
    in_calling_window,
    is_expired,
    is_open,
    next_dialable,
    next_opening,
    next_schedule_change,
    next_window_opening,
    parse_start,
    recall_delay,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
QUARTER = timedelta(minutes=15)
LONDON, NEW_YORK = "Europe/London", "America/New_York"
ZONES = (LONDON, NEW_YORK, "Australia/Sydney", "Asia/Kolkata", "Pacific/Chatham", "America/Sao_Paulo")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
        microsecond: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


def invalid(field_name: str) -> pytest.RaisesExc[InvalidValue]:
    return pytest.raises(InvalidValue, match=rf"^{field_name}: ")


# --- parse_start: absolute -------------------------------------------------------------------------------------


def test_start_at_with_offset_is_returned_in_utc() -> None:
    start = parse_start(start_at="2026-11-24T09:30:00+01:00", start_in=None, now=NOW)
    assert start == utc(2026, 11, 24, 8, 30)
    assert start.tzinfo is UTC


def test_start_at_may_end_in_z() -> None:
    assert parse_start(start_at="2026-11-24T09:30:00Z", start_in=None, now=NOW) == utc(2026, 11, 24, 9, 30)


def test_an_explicit_offset_wins_over_the_customer_zone() -> None:
    start = parse_start(start_at="2026-11-24T09:30:00+01:00", start_in=None, now=NOW, customer_timezone=NEW_YORK)
    assert start == utc(2026, 11, 24, 8, 30)


@pytest.mark.parametrize(("local", "zone", "expected"), [
    ("2026-11-24T09:30:00", LONDON, utc(2026, 11, 24, 9, 30)),  # GMT
    ("2026-07-01T09:30:00", LONDON, utc(2026, 7, 1, 8, 30)),  # BST
    ("2026-11-24T09:30:00", NEW_YORK, utc(2026, 11, 24, 14, 30)),  # EST
    ("2026-07-01 09:30", NEW_YORK, utc(2026, 7, 1, 13, 30)),  # EDT
    ("2026-11-24T09:30:00", "Asia/Kolkata", utc(2026, 11, 24, 4, 0)),
])
def test_a_local_start_is_read_in_the_customer_zone(local: str, zone: str, expected: datetime) -> None:
    assert parse_start(start_at=local, start_in=None, now=NOW, customer_timezone=zone) == expected


def test_a_local_start_without_a_zone_asks_for_the_customer_zone() -> None:
    with invalid("customer_timezone") as caught:
        parse_start(start_at="2026-11-24T09:30:00", start_in=None, now=NOW)
    assert "needed for a start without an offset" in caught.value.message


def test_an_unknown_customer_zone_is_refused() -> None:
    with invalid("customer_timezone") as caught:
        parse_start(start_at="2026-11-24T09:30:00", start_in=None, now=NOW, customer_timezone="Mars/Olympus")
    assert "Mars/Olympus" in caught.value.message


@pytest.mark.parametrize("text", ["tomorrow", "", "   ", "2026-13-01T09:00:00Z", "24/11/2026 09:30", "2026-11-24"])
def test_a_malformed_start_at_is_refused(text: str) -> None:
    with invalid("start_at"):
        parse_start(start_at=text, start_in=None, now=NOW, customer_timezone=LONDON)


@pytest.mark.parametrize(("start_at", "start_in"), [(None, None), ("2026-11-24T09:30:00Z", "2h")])
def test_exactly_one_of_start_at_and_start_in(start_at: str | None, start_in: str | None) -> None:
    with invalid("start_at") as caught:
        parse_start(start_at=start_at, start_in=start_in, now=NOW)
    assert "exactly one" in caught.value.message


@pytest.mark.parametrize(("local", "zone", "gap"), [
    ("2026-03-29T01:30:00", LONDON, "from 01:00 to 02:00 on 2026-03-29"),
    ("2026-03-29T01:00:00", LONDON, "from 01:00 to 02:00 on 2026-03-29"),
    ("2026-03-08T02:00:00", NEW_YORK, "from 02:00 to 03:00 on 2026-03-08"),
    ("2026-03-08T02:59:59", NEW_YORK, "from 02:00 to 03:00 on 2026-03-08"),
    ("2026-09-27T03:00:00", "Pacific/Chatham", "from 02:45 to 03:45 on 2026-09-27"),
])
def test_a_local_start_in_a_spring_forward_gap_is_refused(local: str, zone: str, gap: str) -> None:
    with invalid("start_at") as caught:
        parse_start(start_at=local, start_in=None, now=NOW.replace(month=1), customer_timezone=zone)
    assert "does not exist" in caught.value.message
    assert gap in caught.value.message


def test_the_first_instant_after_a_gap_is_accepted() -> None:
    start = parse_start(start_at="2026-03-08T03:00:00", start_in=None, now=NOW.replace(month=1),
                        customer_timezone=NEW_YORK)
    assert start == utc(2026, 3, 8, 7, 0)


@pytest.mark.parametrize(("local", "zone", "first_pass"), [
    ("2026-10-25T01:30:00", LONDON, utc(2026, 10, 25, 0, 30)),  # 01:30 BST, not 01:30 GMT
    ("2026-10-25T01:00:00", LONDON, utc(2026, 10, 25, 0, 0)),
    ("2026-11-01T01:30:00", NEW_YORK, utc(2026, 11, 1, 5, 30)),  # 01:30 EDT, not 01:30 EST
    ("2026-04-05T02:30:00", "Australia/Sydney", utc(2026, 4, 4, 15, 30)),  # 02:30 AEDT
])
def test_a_local_start_in_a_repeated_hour_takes_its_first_pass(local: str, zone: str, first_pass: datetime) -> None:
    assert parse_start(start_at=local, start_in=None, now=NOW.replace(month=1), customer_timezone=zone) == first_pass


@pytest.mark.parametrize("start_at", [
    "2026-06-01T12:00:00Z",  # exactly now
    "2026-06-01T14:00:00+02:00",  # the same instant, written in the agent's zone
    "2026-06-01T11:59:59Z",
    "2025-12-31T23:00:00Z",
])
def test_a_start_that_is_not_after_the_server_now_is_refused(start_at: str) -> None:
    with invalid("start_at") as caught:
        parse_start(start_at=start_at, start_in=None, now=NOW)
    assert caught.value.message == "must be after the server's current time (2026-06-01T12:00:00+00:00)"


def test_the_server_now_is_what_counts_even_in_another_zone() -> None:
    # The server says 14:00+02:00 (12:00 UTC); 12:30 local in London (11:30 UTC) is already past.
    server_now = datetime(2026, 6, 1, 14, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    with invalid("start_at") as caught:
        parse_start(start_at="2026-06-01T12:30:00", start_in=None, now=server_now, customer_timezone=LONDON)
    assert "(2026-06-01T12:00:00+00:00)" in caught.value.message
    assert parse_start(start_at="2026-06-01T13:00:01", start_in=None, now=server_now,
                       customer_timezone=LONDON) == utc(2026, 6, 1, 12, 0, 1)


def test_a_naive_now_is_refused() -> None:
    with invalid("now"):
        parse_start(start_at=None, start_in="2h", now=datetime(2026, 6, 1, 12, 0))


# --- parse_start: relative -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("delay", "seconds"), [
    (7200, 7200),
    (1, 1),
    ("2h30m", 9000),
    ("in 2h30m", 9000),
    ("IN 2H30M", 9000),
    ("90m", 5400),
    ("1d2h", 93600),
    ("45s", 45),
    ("1d 2h 30m", 95400),
    ("  in 1d 2h 30m 15s ", 95415),
    ("2 h 5 m", 7500),
])
def test_a_relative_start_counts_from_now(delay: int | str, seconds: int) -> None:
    start = parse_start(start_at=None, start_in=delay, now=NOW)
    assert start == NOW + timedelta(seconds=seconds)
    assert start.tzinfo is UTC


def test_a_relative_start_is_elapsed_time_across_a_clock_change() -> None:
    # London springs forward on 2026-03-29: "in 1d" is still 24 hours, not the same wall-clock time.
    now = datetime(2026, 3, 28, 12, 0, tzinfo=ZoneInfo(LONDON))
    assert parse_start(start_at=None, start_in="1d", now=now) == utc(2026, 3, 29, 12, 0)


@pytest.mark.parametrize("delay", ["", "in", "soon", "2x", "1.5h", "90", "2h2h", "30m2h", "h", "in2h", "-5m",
                                   "2h 30", "1 day"])
def test_a_malformed_relative_start_is_refused(delay: str) -> None:
    with invalid("start_in"):
        parse_start(start_at=None, start_in=delay, now=NOW)


@pytest.mark.parametrize("delay", [0, -5, "0m", "0d0h0m0s"])
def test_a_relative_start_must_be_positive(delay: int | str) -> None:
    with invalid("start_in") as caught:
        parse_start(start_at=None, start_in=delay, now=NOW)
    assert caught.value.message == "must be greater than 0"


def test_a_boolean_is_not_a_delay() -> None:
    with invalid("start_in"):
        parse_start(start_at=None, start_in=True, now=NOW)


def test_an_absurd_delay_is_refused_not_crashed() -> None:
    with invalid("start_in") as caught:
        parse_start(start_at=None, start_in=10**15, now=NOW)
    assert "too far" in caught.value.message


# --- end, expiry, recall ---------------------------------------------------------------------------------------


def test_the_end_defaults_to_start_plus_the_offset() -> None:
    assert end_of(NOW, end_at=None, default_end_offset=300 * 60) == NOW + timedelta(hours=5)


def test_a_given_end_wins_and_comes_back_in_utc() -> None:
    end = end_of(NOW, end_at=datetime(2026, 6, 1, 16, 0, tzinfo=ZoneInfo("Europe/Berlin")), default_end_offset=60)
    assert end == utc(2026, 6, 1, 14, 0)
    assert end.tzinfo is UTC


@pytest.mark.parametrize("end_at", [NOW, NOW - MINUTE, datetime(2026, 6, 1, 18, 0)])
def test_a_given_end_must_be_aware_and_after_the_start(end_at: datetime) -> None:
    with invalid("end_at"):
        end_of(NOW, end_at=end_at, default_end_offset=60)


def test_the_default_end_offset_must_be_positive() -> None:
    with invalid("default_end_offset"):
        end_of(NOW, end_at=None, default_end_offset=0)


def test_a_callback_expires_when_its_end_comes() -> None:
    end = NOW + timedelta(hours=5)
    assert not is_expired(end, end - timedelta(microseconds=1))
    assert is_expired(end, end)
    assert is_expired(end, end + MINUTE)


@pytest.mark.parametrize(("attempts", "seconds"), [(0, 300), (1, 300), (2, 900), (3, 1800), (4, 1800), (17, 1800)])
def test_the_recall_delay_follows_the_counted_attempts_and_repeats_the_last(attempts: int, seconds: int) -> None:
    assert recall_delay(QueueSettings(), attempts) == timedelta(seconds=seconds)


def test_a_single_recall_interval_always_applies() -> None:
    settings_ = QueueSettings(recall_intervals=(600,))
    assert [recall_delay(settings_, n) for n in (1, 2, 9)] == [timedelta(minutes=10)] * 3


# --- contact zone ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("number", "customer_zone", "expected"), [
    ("+442079460012", None, LONDON),
    ("+12125550123", None, NEW_YORK),
    ("+61412345678", None, "Asia/Kolkata"),  # an Australian mobile: several zones, so the queue's
    ("+18005550100", None, "Asia/Kolkata"),  # a toll-free number: all of North America
    ("not a number", None, "Asia/Kolkata"),
    ("+442079460012", "America/Chicago", "America/Chicago"),  # given wins
])
def test_the_contact_zone(number: str, customer_zone: str | None, expected: str) -> None:
    assert contact_zone(number, customer_timezone=customer_zone, queue_timezone="Asia/Kolkata") == expected


def test_an_unknown_customer_zone_is_refused_for_the_contact_zone() -> None:
    with invalid("customer_timezone"):
        contact_zone("+442079460012", customer_timezone="Europe/Atlantis", queue_timezone=LONDON)


# --- schedule --------------------------------------------------------------------------------------------------

CHRISTMAS = date(2026, 12, 25)  # a Friday
OFFICE = Schedule(
    timezone=LONDON,
    weekly=(*(OpeningHours(day, time(9), time(17)) for day in range(5)), OpeningHours(5, time(10), time(14))),
    closed_dates=frozenset({CHRISTMAS}),
)


@pytest.mark.parametrize(("at", "expected"), [
    (utc(2026, 11, 24, 9, 0), True),  # Tuesday 09:00 GMT
    (utc(2026, 11, 24, 8, 59, 59), False),
    (utc(2026, 11, 24, 16, 59, 59), True),
    (utc(2026, 11, 24, 17, 0), False),  # the end is not open
    (utc(2026, 7, 1, 8, 0), True),  # Wednesday 09:00 BST
    (utc(2026, 7, 1, 16, 0), False),  # 17:00 BST
    (utc(2026, 11, 28, 11, 0), True),  # Saturday
    (utc(2026, 11, 29, 11, 0), False),  # Sunday
    (utc(2026, 12, 25, 12, 0), False),  # closed date
    (utc(2026, 12, 24, 12, 0), True),
])
def test_is_open(at: datetime, expected: bool) -> None:
    assert is_open(OFFICE, at) is expected


def test_is_open_reads_the_schedule_zone_not_utc() -> None:
    at = datetime(2026, 11, 24, 9, 30, tzinfo=ZoneInfo(NEW_YORK))  # 14:30 in London
    assert is_open(OFFICE, at)
    assert not is_open(replace(OFFICE, timezone=NEW_YORK), datetime(2026, 11, 24, 8, 30, tzinfo=ZoneInfo(LONDON)))


def test_a_naive_instant_is_refused() -> None:
    with invalid("at"):
        is_open(OFFICE, datetime(2026, 11, 24, 9, 0))
    with invalid("at"):
        next_opening(OFFICE, datetime(2026, 11, 24, 9, 0))


@pytest.mark.parametrize(("at", "expected"), [
    (utc(2026, 11, 24, 10, 0), utc(2026, 11, 24, 10, 0)),  # open: now
    (utc(2026, 11, 24, 7, 0), utc(2026, 11, 24, 9, 0)),
    (utc(2026, 11, 27, 17, 30), utc(2026, 11, 28, 10, 0)),  # Friday evening -> Saturday
    (utc(2026, 11, 28, 14, 0), utc(2026, 11, 30, 9, 0)),  # Saturday close -> Monday
    (utc(2026, 12, 24, 17, 0), utc(2026, 12, 26, 10, 0)),  # Christmas is closed
    (utc(2026, 3, 27, 18, 0), utc(2026, 3, 28, 10, 0)),  # Saturday before the clocks change (GMT)
    (utc(2026, 3, 28, 14, 0), utc(2026, 3, 30, 8, 0)),  # Monday after: 09:00 BST
])
def test_next_opening(at: datetime, expected: datetime) -> None:
    assert next_opening(OFFICE, at) == expected


def test_an_opening_to_24_00_runs_into_the_next_day() -> None:
    late = Schedule(LONDON, (OpeningHours(4, time(22), time.max), OpeningHours(5, time(0), time(2))))
    assert is_open(late, utc(2026, 11, 27, 23, 59, 59, 999999))
    assert is_open(late, utc(2026, 11, 28, 0, 0))
    assert not is_open(late, utc(2026, 11, 28, 2, 0))
    assert next_opening(late, utc(2026, 11, 27, 21, 0)) == utc(2026, 11, 27, 22, 0)
    assert next_opening(late, utc(2026, 11, 28, 3, 0)) == utc(2026, 12, 4, 22, 0)


def test_next_schedule_change_is_the_next_closing_or_opening() -> None:
    assert next_schedule_change(OFFICE, utc(2026, 11, 24, 10, 0)) == utc(2026, 11, 24, 17, 0)  # open: closes
    assert next_schedule_change(OFFICE, utc(2026, 11, 24, 17, 0)) == utc(2026, 11, 25, 9, 0)  # closed: opens
    assert next_schedule_change(OFFICE, utc(2026, 12, 24, 12, 0)) == utc(2026, 12, 24, 17, 0)
    assert next_schedule_change(OFFICE, utc(2026, 12, 24, 17, 0)) == utc(2026, 12, 26, 10, 0)  # past Christmas
    late = Schedule(LONDON, (OpeningHours(4, time(22), time.max), OpeningHours(5, time(0), time(2))))
    assert next_schedule_change(late, utc(2026, 11, 27, 23, 0)) == utc(2026, 11, 28, 2, 0)  # on past midnight
    closing_day = replace(late, closed_dates=frozenset({date(2026, 11, 28)}))
    assert next_schedule_change(closing_day, utc(2026, 11, 27, 23, 0)) == utc(2026, 11, 28, 0, 0)
    assert next_schedule_change(Schedule(LONDON, weekly=()), NOW) is None


def test_a_schedule_that_never_opens_has_no_next_opening() -> None:
    assert next_opening(Schedule(LONDON, weekly=()), NOW) is None
    # Open on Mondays only, and every Monday of the next 400 days closed: the one after is too far.
    mondays = frozenset(date(2026, 6, 1) + timedelta(weeks=n) for n in range(58))
    only_mondays = Schedule(LONDON, (OpeningHours(0, time(9), time(17)),), mondays)
    assert next_opening(only_mondays, NOW) is None
    assert next_opening(replace(only_mondays, closed_dates=mondays - {max(mondays)}), NOW) == utc(2027, 7, 5, 8, 0)


def test_an_opening_that_starts_in_a_gap_starts_when_the_gap_ends() -> None:
    # New York springs forward 02:00 -> 03:00 on Sunday 2026-03-08 (07:00 UTC).
    schedule = Schedule(NEW_YORK, (OpeningHours(6, time(2, 30), time(5)),))
    assert next_opening(schedule, utc(2026, 3, 8, 6, 0)) == utc(2026, 3, 8, 7, 0)
    assert not is_open(schedule, utc(2026, 3, 8, 6, 59, 59))
    assert is_open(schedule, utc(2026, 3, 8, 7, 0))
    assert next_opening(schedule, utc(2026, 3, 1, 6, 0)) == utc(2026, 3, 1, 7, 30)  # 02:30 EST a week before


def test_an_opening_that_ends_in_a_gap_ends_when_the_gap_ends() -> None:
    schedule = Schedule(NEW_YORK, (OpeningHours(6, time(0), time(2, 30)),))
    assert is_open(schedule, utc(2026, 3, 8, 6, 59, 59))  # 01:59:59 EST
    assert not is_open(schedule, utc(2026, 3, 8, 7, 0))  # 03:00 EDT


def test_an_opening_in_a_repeated_hour_opens_on_both_passes() -> None:
    # London falls back 02:00 BST -> 01:00 GMT on Sunday 2026-10-25 (01:00 UTC).
    early = Schedule(LONDON, (OpeningHours(6, time(0), time(1, 30)),))
    assert is_open(early, utc(2026, 10, 25, 0, 15))  # 01:15 BST
    assert not is_open(early, utc(2026, 10, 25, 0, 45))  # 01:45 BST
    assert next_opening(early, utc(2026, 10, 25, 0, 45)) == utc(2026, 10, 25, 1, 0)  # 01:00 GMT, again
    assert not is_open(early, utc(2026, 10, 25, 1, 30))  # 01:30 GMT
    starts_in_fold = Schedule(LONDON, (OpeningHours(6, time(1, 15), time(1, 30)),))
    assert next_opening(starts_in_fold, utc(2026, 10, 24, 23, 0)) == utc(2026, 10, 25, 0, 15)  # first pass
    assert next_opening(starts_in_fold, utc(2026, 10, 25, 0, 30)) == utc(2026, 10, 25, 1, 15)  # second pass


def test_new_york_falls_back_too() -> None:
    # New York falls back 02:00 EDT -> 01:00 EST on 2026-11-01 (06:00 UTC).
    schedule = Schedule(NEW_YORK, (OpeningHours(6, time(1, 30), time(3)),))
    assert next_opening(schedule, utc(2026, 11, 1, 4, 0)) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    assert is_open(schedule, utc(2026, 11, 1, 5, 59, 59))  # 01:59:59 EDT
    assert not is_open(schedule, utc(2026, 11, 1, 6, 0))  # 01:00 EST: the clock is back before the opening
    assert next_opening(schedule, utc(2026, 11, 1, 6, 0)) == utc(2026, 11, 1, 6, 30)  # 01:30 EST


# --- calling window --------------------------------------------------------------------------------------------

DAYTIME = CallingWindow()  # 08:00-21:00


@pytest.mark.parametrize(("at", "expected"), [
    (utc(2026, 11, 24, 13, 0), True),  # 08:00 EST
    (utc(2026, 11, 24, 12, 59, 59), False),
    (utc(2026, 11, 25, 1, 59), True),  # 20:59 EST
    (utc(2026, 11, 25, 2, 0), False),  # 21:00 EST
    (utc(2026, 7, 1, 12, 0), True),  # 08:00 EDT
])
def test_in_calling_window_uses_the_contact_wall_clock(at: datetime, expected: bool) -> None:
    assert in_calling_window(DAYTIME, NEW_YORK, at) is expected


def test_next_window_opening() -> None:
    assert next_window_opening(DAYTIME, NEW_YORK, utc(2026, 11, 25, 2, 0)) == utc(2026, 11, 25, 13, 0)
    assert next_window_opening(DAYTIME, NEW_YORK, utc(2026, 11, 24, 15, 0)) == utc(2026, 11, 24, 15, 0)
    assert next_window_opening(DAYTIME, "Asia/Kolkata", utc(2026, 11, 24, 16, 0)) == utc(2026, 11, 25, 2, 30)


def test_a_window_that_starts_in_a_gap_opens_when_the_gap_ends() -> None:
    window = CallingWindow(time(2, 30), time(21))
    assert next_window_opening(window, NEW_YORK, utc(2026, 3, 8, 6, 30)) == utc(2026, 3, 8, 7, 0)
    # A window entirely inside the gap does not show that day, so it opens the next.
    inside_gap = CallingWindow(time(2, 15), time(2, 45))
    assert next_window_opening(inside_gap, NEW_YORK, utc(2026, 3, 8, 6, 0)) == utc(2026, 3, 9, 6, 15)


def test_an_unknown_contact_zone_is_refused() -> None:
    with invalid("contact_zone"):
        in_calling_window(DAYTIME, "Nowhere/Special", NOW)


# --- next dialable and hold reasons -----------------------------------------------------------------------------


def test_next_dialable_waits_for_both_the_queue_and_the_contact() -> None:
    # A London office calling New York: the office opens at 09:00 GMT, New York's window at 13:00 GMT.
    at = utc(2026, 11, 24, 9, 0)
    assert hold_reason(at, schedule=OFFICE, window=DAYTIME, contact_zone=NEW_YORK) is Reason.RESTRICTED_TIME
    assert next_dialable(at, schedule=OFFICE, window=DAYTIME, contact_zone=NEW_YORK) == utc(2026, 11, 24, 13, 0)
    assert hold_reason(utc(2026, 11, 24, 13, 0), schedule=OFFICE, window=DAYTIME, contact_zone=NEW_YORK) is None
    # After 17:00 GMT the office is closed, though New York is still in its window.
    evening = utc(2026, 11, 24, 17, 0)
    assert hold_reason(evening, schedule=OFFICE, window=DAYTIME, contact_zone=NEW_YORK) is Reason.OFF_SCHEDULE
    assert next_dialable(evening, schedule=OFFICE, window=DAYTIME, contact_zone=NEW_YORK) == utc(2026, 11, 25, 13, 0)


def test_closed_comes_before_restricted_time() -> None:
    night = utc(2026, 11, 24, 3, 0)  # the office is closed and New York is asleep
    assert hold_reason(night, schedule=OFFICE, window=DAYTIME, contact_zone=NEW_YORK) is Reason.OFF_SCHEDULE


def test_next_dialable_in_the_weeks_when_only_one_side_has_changed_its_clocks() -> None:
    # From 8 to 29 March 2026 New York is on EDT but London still on GMT: 08:00 EDT is 12:00 in London.
    morning = CallingWindow(time(8), time(12))
    at = utc(2026, 3, 16, 0, 0)
    assert next_dialable(at, schedule=OFFICE, window=morning, contact_zone=NEW_YORK) == utc(2026, 3, 16, 12, 0)
    assert next_dialable(at + timedelta(weeks=3), schedule=OFFICE, window=morning,
                         contact_zone=NEW_YORK) == utc(2026, 4, 6, 12, 0)  # both on summer time: 13:00 BST


def test_next_dialable_is_none_when_queue_and_contact_never_meet() -> None:
    sydney_mornings = Schedule("Australia/Sydney", tuple(OpeningHours(d, time(9), time(9, 15)) for d in range(7)))
    london_breakfast = CallingWindow(time(8), time(8, 15))
    assert next_dialable(NOW, schedule=sydney_mornings, window=london_breakfast, contact_zone=LONDON) is None


def test_the_timing_module_never_reads_the_clock() -> None:
    source = Path(timing.__file__).read_text()
    for forbidden in (".now(", ".today(", "utcnow", "time.time(", "monotonic", "import logging", "print("):
        assert forbidden not in source


# --- properties ------------------------------------------------------------------------------------------------


def _clock_changes() -> list[datetime]:
    """Every UTC offset change of ZONES in 2026-2028 (each on a whole UTC hour for these zones)."""
    changes = []
    for name in ZONES:
        zone = ZoneInfo(name)
        day = utc(2026, 1, 1)
        while day < utc(2029, 1, 1):
            if day.astimezone(zone).utcoffset() != (day + timedelta(days=1)).astimezone(zone).utcoffset():
                hour = day
                while hour.astimezone(zone).utcoffset() == day.astimezone(zone).utcoffset():
                    hour += timedelta(hours=1)
                changes.append(hour)
            day += timedelta(days=1)
    return sorted(changes)


CLOCK_CHANGES = _clock_changes()


def test_the_property_instants_cover_every_clock_change() -> None:
    # Four zones change twice a year for three years; Kolkata and Sao Paulo (since 2019) never do.
    assert len(CLOCK_CHANGES) == 24
    assert utc(2026, 3, 29, 1, 0) in CLOCK_CHANGES  # London
    assert utc(2026, 11, 1, 6, 0) in CLOCK_CHANGES  # New York
    assert utc(2026, 9, 26, 14, 0) in CLOCK_CHANGES  # Chatham, 02:45 -> 03:45


def _quarter(index: int) -> time:
    return time.max if index == 96 else time(index // 4, index % 4 * 15)


# Starts lean towards the small hours, where the clocks change.
_start_index = st.one_of(st.integers(0, 95), st.integers(0, 16))
_span = _start_index.flatmap(lambda start: st.tuples(st.just(start), st.integers(start + 1, 96)))
_openings = st.builds(lambda day, span: OpeningHours(day, _quarter(span[0]), _quarter(span[1])),
                      st.integers(0, 6), _span)
_windows = _span.map(lambda span: CallingWindow(_quarter(span[0]), _quarter(span[1])))
_instants = st.one_of(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31, 23, 59), timezones=st.just(UTC)),
    st.builds(lambda change, minutes, seconds: change + timedelta(minutes=minutes, seconds=seconds),
              st.sampled_from(CLOCK_CHANGES), st.integers(-36 * 60, 36 * 60), st.sampled_from([0, 0, 0, 1, 59])),
)


@st.composite
def _situations(draw: st.DrawFn) -> tuple[datetime, Schedule, CallingWindow, str]:
    at = draw(_instants)
    zone = draw(st.sampled_from(ZONES))
    weekly = tuple(draw(st.lists(_openings, max_size=10)))
    today = at.astimezone(ZoneInfo(zone)).date()
    closed = frozenset(draw(st.lists(st.integers(-1, 30).map(lambda n: today + timedelta(days=n)), max_size=8)))
    return at, Schedule(zone, weekly, closed), draw(_windows), draw(st.sampled_from(ZONES))


def _open_by_the_wall_clock(schedule: Schedule, at: datetime) -> bool:
    """The definition, independently: the local date is not closed and the local time is in an opening."""
    local = at.astimezone(ZoneInfo(schedule.timezone))
    return local.date() not in schedule.closed_dates and any(
        opening.weekday == local.weekday() and opening.start <= local.time()
        and (opening.end == time.max or local.time() < opening.end) for opening in schedule.weekly)


def _in_window_by_the_wall_clock(window: CallingWindow, zone: str, at: datetime) -> bool:
    moment = at.astimezone(ZoneInfo(zone)).time()
    return window.start <= moment and (window.end == time.max or moment < window.end)


def _first_by_quarter_hours(holds: Callable[[datetime], bool], at: datetime, days: int) -> datetime | None:
    """Brute force: every opening boundary here is a UTC quarter-hour (quarter-hour openings, offsets that are
    multiples of 15 minutes, clock changes on the hour), so checking `at` and each later quarter-hour finds the
    earliest instant >= at at which `holds`."""
    if holds(at):
        return at
    moment = at.replace(minute=at.minute // 15 * 15, second=0, microsecond=0) + QUARTER
    while moment <= at + timedelta(days=days):
        if holds(moment):
            return moment
        moment += QUARTER
    return None


PROPERTY = settings(max_examples=200, deadline=None)


@PROPERTY
@given(_situations())
def test_next_dialable_is_dialable_and_the_earliest(situation: tuple[datetime, Schedule, CallingWindow, str]) -> None:
    at, schedule, window, zone = situation

    def dialable(instant: datetime) -> bool:
        return is_open(schedule, instant) and in_calling_window(window, zone, instant)

    found = next_dialable(at, schedule=schedule, window=window, contact_zone=zone)
    if found is None:
        assert not dialable(at)
        return
    assert found.tzinfo is UTC
    assert at <= found <= at + timedelta(days=400)
    assert is_open(schedule, found) and in_calling_window(window, zone, found)
    assert hold_reason(found, schedule=schedule, window=window, contact_zone=zone) is None
    if found > at and found - MINUTE >= at:
        assert not dialable(found - MINUTE)


@PROPERTY
@given(_situations())
def test_next_dialable_agrees_with_a_brute_force_search(
        situation: tuple[datetime, Schedule, CallingWindow, str]) -> None:
    at, schedule, window, zone = situation

    def dialable(instant: datetime) -> bool:
        return _open_by_the_wall_clock(schedule, instant) and _in_window_by_the_wall_clock(window, zone, instant)

    found = next_dialable(at, schedule=schedule, window=window, contact_zone=zone)
    expected = _first_by_quarter_hours(dialable, at, days=3)
    if expected is not None:
        assert found == expected
    else:
        assert found is None or found > at + timedelta(days=3)


@PROPERTY
@given(_situations())
def test_next_opening_is_open_and_the_earliest(situation: tuple[datetime, Schedule, CallingWindow, str]) -> None:
    at, schedule, _, _ = situation
    assert is_open(schedule, at) is _open_by_the_wall_clock(schedule, at)
    found = next_opening(schedule, at)
    # Closed dates only reach a month ahead here, so only a schedule without openings never opens.
    assert (found is None) is (not schedule.weekly)
    if found is not None:
        assert found.tzinfo is UTC
        assert found >= at
        assert is_open(schedule, found) and _open_by_the_wall_clock(schedule, found)
        if found > at and found - MINUTE >= at:
            assert not is_open(schedule, found - MINUTE)
        expected = _first_by_quarter_hours(lambda instant: _open_by_the_wall_clock(schedule, instant), at, days=2)
        assert found == expected if expected is not None else found > at + timedelta(days=2)


@PROPERTY
@given(_situations())
def test_next_schedule_change_agrees_with_a_brute_force_search(
        situation: tuple[datetime, Schedule, CallingWindow, str]) -> None:
    at, schedule, _, _ = situation
    open_now = _open_by_the_wall_clock(schedule, at)
    found = next_schedule_change(schedule, at)
    expected = _first_by_quarter_hours(
        lambda instant: instant > at and _open_by_the_wall_clock(schedule, instant) is not open_now, at, days=3)
    if expected is not None:
        assert found == expected
    else:
        assert found is None or found > at + timedelta(days=3)


@PROPERTY
@given(_instants, _windows, st.sampled_from(ZONES))
def test_next_window_opening_is_in_the_window_and_the_earliest(at: datetime, window: CallingWindow, zone: str) -> None:
    assert in_calling_window(window, zone, at) is _in_window_by_the_wall_clock(window, zone, at)
    found = next_window_opening(window, zone, at)
    assert found.tzinfo is UTC
    assert at <= found <= at + timedelta(days=2)
    assert in_calling_window(window, zone, found)
    if found > at and found - MINUTE >= at:
        assert not in_calling_window(window, zone, found - MINUTE)
    assert found == _first_by_quarter_hours(lambda instant: _in_window_by_the_wall_clock(window, zone, instant),
                                            at, days=2)


@PROPERTY
@given(_instants, st.sampled_from(ZONES), st.integers(1, 400 * 86400))
def test_a_relative_start_is_always_after_now(now: datetime, zone: str, seconds: int) -> None:
    local_now = now.astimezone(ZoneInfo(zone))
    assert parse_start(start_at=None, start_in=seconds, now=local_now) == now + timedelta(seconds=seconds)


@PROPERTY
@given(_instants, st.sampled_from(ZONES))
def test_a_local_start_reads_back_as_the_same_wall_clock_or_is_refused(instant: datetime, zone: str) -> None:
    # Any wall-clock reading near a clock change either names one instant that shows it, or is in a gap.
    local = instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None, microsecond=0) + timedelta(minutes=30)
    try:
        start = parse_start(start_at=local.isoformat(), start_in=None, now=utc(2025, 1, 1), customer_timezone=zone)
    except InvalidValue as error:
        assert error.field == "start_at" and "does not exist" in error.message
        assert all(local.replace(tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC).astimezone(ZoneInfo(zone))
                   .replace(tzinfo=None) != local for fold in (0, 1))
    else:
        assert start.astimezone(ZoneInfo(zone)).replace(tzinfo=None) == local
        earlier = start - timedelta(hours=3)  # the first pass: no earlier instant shows the same wall clock
        assert all(
            (earlier + timedelta(minutes=n)).astimezone(ZoneInfo(zone)).replace(tzinfo=None) != local
            for n in range(0, 180, 15) if earlier + timedelta(minutes=n) < start)
