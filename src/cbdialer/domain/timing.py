"""When a callback may start, when it ends, and when it may be dialled (docs/design.md section 7).

Rule: every instant is handed in by the caller (never read from the clock) and handed back in UTC, while
opening hours, calling windows and local start times are judged on the wall clock of the zone they are
written in.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as phone_timezones

from cbdialer.domain.lifecycle import Reason
from cbdialer.domain.models import CallingWindow, InvalidValue, QueueSettings, Schedule, check_aware, check_zone

# The furthest a relative start may lie ahead (and far inside what a datetime can hold).
MAX_DELAY_SECONDS = 10 * 366 * 86_400
# How far ahead the next opening is looked for before a schedule is taken as never open.
SEARCH_HORIZON = timedelta(days=400)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_DAY_SECONDS = 86_400
_SCAN_DAYS = 7  # the search looks at a week of turning points at a time

# "in 2h30m", "1d 2h 30m", "90m", "45s": units d, h, m, s, each at most once and in that order.
_RELATIVE = re.compile(
    r"(?:in\s+)?(?:(?P<d>[0-9]+)\s*d)?\s*(?:(?P<h>[0-9]+)\s*h)?\s*(?:(?P<m>[0-9]+)\s*m)?\s*(?:(?P<s>[0-9]+)\s*s)?",
    re.IGNORECASE,
)
_UNIT_SECONDS = {"d": _DAY_SECONDS, "h": 3600, "m": 60, "s": 1}


# --- Start and end -----------------------------------------------------------------------------------------


def parse_start(*, start_at: str | None, start_in: int | str | None, now: datetime,
                customer_timezone: str | None = None) -> datetime:
    """The callback's start as a UTC instant, strictly after `now`, the server's current time (POM)."""
    check_aware("now", now)
    zone = None if customer_timezone is None else check_zone("customer_timezone", customer_timezone)
    if start_at is not None and start_in is None:
        field_name, start = "start_at", _absolute_start(start_at, zone)
    elif start_in is not None and start_at is None:
        field_name, start = "start_in", _relative_start(start_in, now)
    else:
        raise InvalidValue("start_at", "give exactly one of start_at (a date and time) and start_in (a delay)")
    if start <= now:
        raise InvalidValue(field_name, f"must be after the server's current time ({now.astimezone(UTC).isoformat()})")
    return start


def _absolute_start(text: str, zone: ZoneInfo | None) -> datetime:
    if not isinstance(text, str) or not text.strip():
        raise InvalidValue("start_at", "must be an ISO 8601 date and time, e.g. 2026-11-24T09:30:00+01:00")
    text = text.strip()
    try:
        date.fromisoformat(text)
    except ValueError:
        pass
    else:  # datetime.fromisoformat would read a bare date as midnight, which nobody means by a start time
        raise InvalidValue("start_at", f"{text!r} is a date without a time of day")
    try:
        parsed = datetime.fromisoformat(text)
        if not 1970 <= parsed.year <= 9000:  # clear of datetime's limits, which an offset could cross
            raise InvalidValue("start_at", f"{text!r} is out of range (years 1970 to 9000)")
    except InvalidValue:
        raise
    except ValueError:
        raise InvalidValue(
            "start_at", f"{text!r} is not an ISO 8601 date and time, e.g. 2026-11-24T09:30:00+01:00") from None
    if parsed.tzinfo is not None:  # an explicit offset wins over any customer time zone
        return parsed.astimezone(UTC)
    if zone is None:
        raise InvalidValue("customer_timezone", "is needed for a start without an offset (or give the offset)")
    instant = parsed.replace(tzinfo=zone, fold=0).astimezone(UTC)  # fold=0: a repeated hour's first pass
    if _wall(instant, zone) != parsed:
        raise InvalidValue("start_at", f"{parsed.isoformat()} does not exist in {zone.key}: {_gap_of(parsed, zone)}")
    return instant


def _gap_of(local: datetime, zone: ZoneInfo) -> str:
    """Names the spring-forward gap that swallows the naive `local`, for an error a person can act on."""
    # Read with the offset after the change, a gap time lands before it; with the offset before, after it.
    early = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
    late = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    change = _instant(_first_second_with_offset_of(zone, _seconds(early), _seconds(late) + 1))
    gap_end = _wall(change, zone)
    gap_start = gap_end - (late - early)
    return (f"the clocks go forward from {gap_start:%H:%M} to {gap_end:%H:%M} on {gap_start:%Y-%m-%d}, "
            "so that local time is skipped")


def _relative_start(delay: int | str, now: datetime) -> datetime:
    seconds = _delay_seconds(delay)
    if seconds <= 0:
        raise InvalidValue("start_in", "must be greater than 0")
    if seconds > MAX_DELAY_SECONDS:
        raise InvalidValue("start_in", "is too far in the future (at most 10 years)")
    try:  # elapsed time: "in 1d" is 24 hours later even across a clock change
        return now.astimezone(UTC) + timedelta(seconds=seconds)
    except OverflowError:
        raise InvalidValue("start_in", "is too far in the future") from None


def _delay_seconds(delay: int | str) -> int:
    if isinstance(delay, bool) or not isinstance(delay, int | str):  # True is an int, but not a delay
        raise InvalidValue("start_in", "must be a number of seconds or a delay such as 2h30m")
    if isinstance(delay, int):
        return delay
    match = _RELATIVE.fullmatch(delay.strip())
    if match is None or not any(match.groupdict().values()):
        raise InvalidValue(
            "start_in", f"{delay!r} is not a delay: use days, hours, minutes, seconds in that order, e.g. 1d2h30m")
    return sum(int(amount) * _UNIT_SECONDS[unit] for unit, amount in match.groupdict().items() if amount)


def end_of(start: datetime, *, end_at: datetime | None, default_end_offset: int) -> datetime:
    """The callback's scheduled end: `end_at` if given, else start + the queue's default end offset."""
    check_aware("start_at", start)
    if end_at is None:
        if default_end_offset <= 0:
            raise InvalidValue("default_end_offset", "must be greater than 0")
        try:
            return start.astimezone(UTC) + timedelta(seconds=default_end_offset)
        except OverflowError:
            raise InvalidValue("start_at", "is too far in the future") from None
    check_aware("end_at", end_at)
    if end_at <= start:
        raise InvalidValue("end_at", f"must be after the start ({start.astimezone(UTC).isoformat()})")
    return end_at.astimezone(UTC)


def is_expired(end_at: datetime, now: datetime) -> bool:
    """Whether the callback's end has passed: one that is not presented by then is never dialled."""
    check_aware("end_at", end_at)
    check_aware("now", now)
    return now >= end_at


def recall_delay(settings: QueueSettings, attempts_count: int) -> timedelta:
    """The wait after the n-th counted attempt; past the list's end its last interval repeats."""
    intervals = settings.recall_intervals
    index = min(max(attempts_count, 1) - 1, len(intervals) - 1)
    return timedelta(seconds=intervals[index])


# --- The contact's time zone --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=65_536)
def _number_zones(destination_e164: str) -> frozenset[str]:
    """The zones phonenumbers names for a number (none if it cannot read it). A memo of a pure function (of the
    number and the library's data, which never change while the process runs): every offer asks, twice or
    three times, and reading a number costs a fifth of a millisecond."""
    try:
        number = phonenumbers.parse(destination_e164)
    except phonenumbers.NumberParseException:  # the number is judged elsewhere; here it just tells us nothing
        return frozenset()
    return frozenset(phone_timezones.time_zones_for_number(number)) - {"Etc/Unknown"}


def contact_zone(destination_e164: str, *, customer_timezone: str | None, queue_timezone: str) -> str:
    """The zone of the contact's calling window: given, else the number's when unambiguous, else the queue's."""
    if customer_timezone is not None:
        check_zone("customer_timezone", customer_timezone)
        return customer_timezone
    check_zone("schedule.timezone", queue_timezone)
    zones = _number_zones(destination_e164)
    if len(zones) != 1:
        return queue_timezone
    (zone,) = zones
    try:  # phonenumbers' own zone list may name a zone this system's tz database lacks
        check_zone("contact_zone", zone)
    except InvalidValue:
        return queue_timezone
    return zone


# --- Schedule and calling window ----------------------------------------------------------------------------


def is_open(schedule: Schedule, at: datetime) -> bool:
    """Whether the queue may dial at `at`: inside an opening of the local weekday, on a day not closed."""
    check_aware("at", at)
    return _schedule_rule(schedule).holds_at(at)


def next_opening(schedule: Schedule, at: datetime) -> datetime | None:
    """The earliest instant >= at when the queue is open (`at` itself if open); None if not within 400 days."""
    return _earliest((_schedule_rule(schedule),), at)


def next_schedule_change(schedule: Schedule, at: datetime,
                         horizon: timedelta = SEARCH_HORIZON) -> datetime | None:
    """The first instant after `at` at which the queue opens if it is closed at `at`, or closes if it is open
    (when the supervisor's CLBK Stat turns); None if not within `horizon` (400 days)."""
    rule = _closing_rule(schedule) if is_open(schedule, at) else _schedule_rule(schedule)
    return _earliest((rule,), at, horizon)


def in_calling_window(window: CallingWindow, zone: str, at: datetime) -> bool:
    """Whether `at` is inside the calling window [start, end) on the contact's wall clock."""
    check_aware("at", at)
    return _window_rule(window, zone).holds_at(at)


def next_window_opening(window: CallingWindow, zone: str, at: datetime) -> datetime:
    """The earliest instant >= at inside the contact's calling window (`at` itself if inside)."""
    found = _earliest((_window_rule(window, zone),), at)
    if found is None:  # unreachable: a daily window shows on the wall clock at least every other day
        raise AssertionError(f"the calling window {window.start}-{window.end} never opens in {zone}")
    return found


def next_dialable(at: datetime, *, schedule: Schedule, window: CallingWindow | None,
                  contact_zone: str) -> datetime | None:
    """The earliest instant >= at when the queue is open and the contact is in their calling window (no
    window: the queue's schedule alone); None if there is none within 400 days. Where a callback held with
    off_schedule/restricted_time goes."""
    rules = [_schedule_rule(schedule)]
    if window is not None:
        rules.append(_window_rule(window, contact_zone))
    return _earliest(rules, at)


def hold_reason(at: datetime, *, schedule: Schedule, window: CallingWindow | None,
                contact_zone: str) -> Reason | None:
    """Why a callback may not be dialled at `at`: the queue is closed, or the contact is outside their window
    (no window: the queue's time restriction is off)."""
    if not is_open(schedule, at):
        return Reason.OFF_SCHEDULE
    if window is not None and not in_calling_window(window, contact_zone, at):
        return Reason.RESTRICTED_TIME
    return None


# --- Wall-clock rules and the search for their next opening -------------------------------------------------


@dataclass(frozen=True, slots=True)
class _WallRule:
    """A yes/no rule on the wall clock of one zone. As the clock runs it can only turn true at one of the
    local times `starts(day)` or when the clocks change, which is what makes an exact search cheap."""

    zone: ZoneInfo
    holds: Callable[[datetime], bool]  # judged on the naive local date and time
    starts: Callable[[date], Iterable[time]]

    def holds_at(self, instant: datetime) -> bool:
        return self.holds(_wall(instant, self.zone))


def _within(moment: time, start: time, end: time) -> bool:
    # [start, end), where an end of time.max stands for 24:00 (the opening runs to midnight).
    return start <= moment and (end == time.max or moment < end)


def _schedule_rule(schedule: Schedule) -> _WallRule:
    zone = check_zone("schedule.timezone", schedule.timezone)
    by_weekday: dict[int, list[tuple[time, time]]] = {weekday: [] for weekday in range(7)}
    for opening in schedule.weekly:
        by_weekday[opening.weekday].append((opening.start, opening.end))
    closed = schedule.closed_dates

    def holds(local: datetime) -> bool:
        if local.date() in closed:
            return False
        moment = local.time()
        return any(_within(moment, start, end) for start, end in by_weekday[local.weekday()])

    def starts(day: date) -> list[time]:
        return [] if day in closed else [start for start, _ in by_weekday[day.weekday()]]

    return _WallRule(zone, holds, starts)


def _closing_rule(schedule: Schedule) -> _WallRule:
    """Closed: it can only turn true at an opening's end, at midnight (a closed date, an opening that ran to
    24:00), or when the clocks change."""
    opened = _schedule_rule(schedule)
    ends: dict[int, list[time]] = {weekday: [time(0)] for weekday in range(7)}
    for opening in schedule.weekly:
        if opening.end != time.max:
            ends[opening.weekday].append(opening.end)
    return _WallRule(opened.zone, lambda local: not opened.holds(local), lambda day: ends[day.weekday()])


def _window_rule(window: CallingWindow, zone_name: str) -> _WallRule:
    zone = check_zone("contact_zone", zone_name)
    return _WallRule(zone, lambda local: _within(local.time(), window.start, window.end), lambda day: (window.start,))


def _earliest(rules: Sequence[_WallRule], at: datetime, horizon: timedelta = SEARCH_HORIZON) -> datetime | None:
    """The earliest instant >= at at which every rule holds, within `horizon`."""
    check_aware("at", at)
    at = at.astimezone(UTC)
    if all(rule.holds_at(at) for rule in rules):
        return at
    # All rules holding can only begin where one of them turns true; those instants are scanned a week at a
    # time, in order, so the first one at which every rule holds is the answer.
    limit = at + horizon
    low = _seconds(at)
    while _instant(low) <= limit:
        high = low + _SCAN_DAYS * _DAY_SECONDS
        candidates = sorted({instant for rule in rules for instant in _turning_points(rule, low, high) if instant > at})
        for instant in candidates:
            if instant > limit:
                return None
            if all(rule.holds_at(instant) for rule in rules):
                return instant
        low = high
    return None


def _turning_points(rule: _WallRule, low: int, high: int) -> Iterator[datetime]:
    """The instants in [low, high) (epoch seconds) at which `rule` may turn true."""
    zone = rule.zone
    begin, end = _instant(low), _instant(high)
    # A day back: after the clocks go back, the wall clock can show the previous date again.
    day = _wall(begin, zone).date() - timedelta(days=1)
    last_day = _wall(end, zone).date()
    while day <= last_day:
        for start in rule.starts(day):
            for fold in (0, 1):  # a start in a repeated hour is passed twice
                local = datetime.combine(day, start.replace(fold=fold), tzinfo=zone)
                instant = local.astimezone(UTC)
                # A start in a gap is never shown on the clock; the clock change below stands in for it.
                if begin <= instant < end and _wall(instant, zone) == local.replace(tzinfo=None):
                    yield instant
        day += timedelta(days=1)
    # When the clocks change, the wall clock jumps into (or back into) opening hours.
    for day_start in range(low, high, _DAY_SECONDS):
        day_end = min(day_start + _DAY_SECONDS, high)
        if _offset(zone, day_start - 1) != _offset(zone, day_end - 1):
            yield _instant(_first_second_with_offset_of(zone, day_start - 1, day_end - 1))


def _first_second_with_offset_of(zone: ZoneInfo, before: int, after: int) -> int:
    """The first second in (before, after] with the offset `after` has, given one clock change in between
    (real zones change at most once a day, and tz database changes fall on whole seconds)."""
    target = _offset(zone, after)
    while after - before > 1:
        middle = (before + after) // 2
        if _offset(zone, middle) == target:
            after = middle
        else:
            before = middle
    return after


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def _offset(zone: ZoneInfo, second: int) -> timedelta:
    offset = _instant(second).astimezone(zone).utcoffset()
    return timedelta(0) if offset is None else offset


def _seconds(instant: datetime) -> int:
    # Exact integer arithmetic (a float timestamp can round across a second).
    return (instant - _EPOCH) // _SECOND


def _instant(second: int) -> datetime:
    return _EPOCH + timedelta(seconds=second)


def open_within(start: datetime, end: datetime, settings: QueueSettings, contact_zone: str) -> bool:
    """Whether the queue's schedule and the contact's calling window are open at some instant of [start, end):
    a slot closed throughout would be held until it expired, never called."""
    opening = next_dialable(start, schedule=settings.schedule, window=settings.restricted_window,
                            contact_zone=contact_zone)
    return opening is not None and opening < end
