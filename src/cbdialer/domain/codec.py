"""Queue settings to and from plain JSON-able dicts. Rule: a stored or posted dict round-trips exactly,
unknown keys are refused by name, and missing keys take the seeds' defaults. This is the one reader and
writer of settings (the stores and the admin API, through the queue service, all go through it); it knows the
nested settings (calling window, schedule, slot capacities) by name, and numbers, bools, text, StrEnums and tuples by type."""

from __future__ import annotations

import dataclasses
import typing
from datetime import date, time
from enum import Enum
from typing import Any

from cbdialer.domain.models import (
    ALWAYS_OPEN,
    CallingWindow,
    InvalidValue,
    OpeningHours,
    QueueSettings,
    Schedule,
    SlotCapacity,
)


def _time(field_name: str, value: Any) -> time:
    if value in ("24:00", "24:00:00"):
        return time.max
    try:
        return time.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidValue(field_name, f"{value!r} is not a time like 08:00") from None


def _time_text(value: time) -> str:
    return "24:00" if value == time.max else value.strftime("%H:%M")


def settings_to_dict(settings: QueueSettings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, CallingWindow):
            value = {"start": _time_text(value.start), "end": _time_text(value.end)}
        elif isinstance(value, Schedule):
            value = {
                "timezone": value.timezone,
                "weekly": [{"weekday": o.weekday, "start": _time_text(o.start), "end": _time_text(o.end)}
                           for o in value.weekly],
                "closed_dates": sorted(d.isoformat() for d in value.closed_dates),
            }
        elif isinstance(value, Enum):
            value = value.value
        elif f.name == "slot_capacity":
            value = [{"weekday": c.weekday, "start": _time_text(c.start), "end": _time_text(c.end),
                      "capacity": c.capacity} for c in value]
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def _plain(hint: Any) -> tuple[type[Enum] | None, type | None]:
    """The StrEnum a setting's type names, or the item type of its tuple (`tuple[int, ...]`)."""
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint, None
    if typing.get_origin(hint) is tuple:
        return None, typing.get_args(hint)[0]
    return None, None


_NESTED = frozenset({"calling_window", "schedule", "slot_capacity"})  # read by name in settings_from_dict
_PLAIN = {name: _plain(hint) for name, hint in typing.get_type_hints(QueueSettings).items() if name not in _NESTED}


def settings_from_dict(data: dict[str, Any]) -> QueueSettings:
    names = {f.name for f in dataclasses.fields(QueueSettings)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InvalidValue(unknown[0], "is not a queue setting")
    values = dict(data)
    try:
        if "calling_window" in values:
            window = values["calling_window"]
            values["calling_window"] = CallingWindow(_time("calling_window.start", window["start"]),
                                                     _time("calling_window.end", window["end"]))
        if "schedule" in values:
            schedule = values["schedule"]
            values["schedule"] = Schedule(
                timezone=schedule.get("timezone", "UTC"),
                weekly=tuple(OpeningHours(int(o["weekday"]), _time("schedule.weekly.start", o["start"]),
                                          _time("schedule.weekly.end", o["end"]))
                             for o in schedule["weekly"]) if "weekly" in schedule else ALWAYS_OPEN,
                closed_dates=frozenset(date.fromisoformat(d) for d in schedule.get("closed_dates", [])),
            )
        if "slot_capacity" in values:
            values["slot_capacity"] = tuple(
                SlotCapacity(int(c["weekday"]), _time("slot_capacity.start", c["start"]),
                             _time("slot_capacity.end", c["end"]), c["capacity"])
                for c in values["slot_capacity"])
        for name, (enum, item) in _PLAIN.items():
            if name in values and enum is not None:
                values[name] = enum(values[name])
            elif name in values and item is not None:
                values[name] = tuple(item(i) for i in values[name])
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, InvalidValue):
            raise
        raise InvalidValue("settings", f"malformed: {exc}") from None
    return QueueSettings(**values)
