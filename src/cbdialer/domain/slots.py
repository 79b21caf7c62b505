"""A queue's time slots (docs/design.md section 14). Rule: a slot is computed, never stored: each of the queue's
slot capacities (a weekday and a time of day in the schedule's zone) is cut into `slot_length` pieces, stepped in
real time from its local start to its local end, so that a day with a DST change has the slots its hours really
hold (one fewer hour in spring, one more in autumn); a closed date of the schedule has none, and only whole slots
count. Pure: the period is a parameter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from cbdialer.domain.models import InvalidValue, QueueSettings, check_aware

MAX_SLOT_PERIOD = timedelta(days=31)  # the longest period one listing of slots covers


@dataclass(frozen=True, slots=True, order=True)
class Slot:
    start: datetime  # UTC
    end: datetime
    capacity: int


def _instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local time of day; 24:00 (time.max) is the next midnight. A time in a spring gap
    reads with the offset before the change (02:30 that does not exist is 03:30 of the new offset)."""
    if at == time.max:
        day, at = day + timedelta(days=1), time(0, 0)
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def slots_between(settings: QueueSettings, start: datetime, end: datetime) -> list[Slot]:
    """The queue's slots that start in [start, end), earliest first."""
    check_aware("from", start)
    check_aware("to", end)
    zone = ZoneInfo(settings.schedule.timezone)
    length = timedelta(seconds=settings.slot_length)
    closed = settings.schedule.closed_dates
    out: list[Slot] = []
    day = start.astimezone(zone).date() - timedelta(days=1)  # a slot of the day before may start after `start`
    last = end.astimezone(zone).date()
    while day <= last:
        for rule in settings.slot_capacity:
            if rule.weekday != day.weekday() or day in closed or rule.capacity == 0:
                continue
            at, until = _instant(day, rule.start, zone), _instant(day, rule.end, zone)
            while at + length <= until:  # UTC arithmetic: real seconds, whatever the offset does
                if start <= at < end:
                    out.append(Slot(at, at + length, rule.capacity))
                at += length
        day += timedelta(days=1)
    return sorted(out)


def slot_at(settings: QueueSettings, start: datetime) -> Slot | None:
    """The queue's slot that starts exactly at `start`, or None."""
    found = slots_between(settings, start, start + timedelta(microseconds=1))
    return found[0] if found and found[0].start == start else None


def check_period(start: datetime, end: datetime) -> None:
    """A listing's period: `to` after `from`, at most MAX_SLOT_PERIOD later (InvalidValue naming `to`)."""
    if end <= start:
        raise InvalidValue("to", "must be after `from`")
    if end - start > MAX_SLOT_PERIOD:
        raise InvalidValue("to", f"the period may be at most {MAX_SLOT_PERIOD.days} days")
