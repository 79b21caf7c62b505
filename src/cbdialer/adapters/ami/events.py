"""Typed AMI events: the only shapes of Asterisk's events that the rest of cbdialer sees.

Rule: parsing is total. An event that cannot be typed becomes `OtherEvent`; nothing here raises on
input from the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cbdialer.ports.telephony import (
    AttemptReport,
    DeviceStateChange,
    InboundCall,
    LinkDown,
    LinkUp,
    OriginateResponse,
)


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(value or "")
    except ValueError:
        return default


@dataclass(frozen=True, slots=True)
class FullyBooted:
    status: str


@dataclass(frozen=True, slots=True)
class Newchannel:
    channel: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str


@dataclass(frozen=True, slots=True)
class DialBegin:
    channel: str
    uniqueid: str
    linkedid: str
    dest_channel: str
    dest_uniqueid: str
    dial_string: str


@dataclass(frozen=True, slots=True)
class DialEnd:
    channel: str
    uniqueid: str
    linkedid: str
    dest_channel: str
    dest_uniqueid: str
    dial_status: str


@dataclass(frozen=True, slots=True)
class Hangup:
    channel: str
    uniqueid: str
    linkedid: str
    cause: int
    cause_txt: str


@dataclass(frozen=True, slots=True)
class OtherEvent:
    name: str
    headers: Mapping[str, str] = field(default_factory=dict)


AmiEvent = (
    LinkUp
    | LinkDown
    | FullyBooted
    | OriginateResponse
    | Newchannel
    | DialBegin
    | DialEnd
    | Hangup
    | DeviceStateChange
    | AttemptReport
    | InboundCall
    | OtherEvent
)

_USER_EVENT_PREFIX = "Cbdialer"


def parse_event(headers: Mapping[str, str]) -> AmiEvent:
    """Type one AMI event, given its headers with lower-case keys."""
    get = headers.get
    name = get("event", "")
    if name == "OriginateResponse":
        return OriginateResponse(
            action_id=get("actionid", ""),
            success=get("response", "") == "Success",
            reason=_int(get("reason")),
            channel=get("channel", ""),
            uniqueid=get("uniqueid", ""),
        )
    if name == "Newchannel":
        return Newchannel(
            channel=get("channel", ""),
            uniqueid=get("uniqueid", ""),
            linkedid=get("linkedid", ""),
            context=get("context", ""),
            exten=get("exten", ""),
        )
    if name == "DialBegin":
        return DialBegin(
            channel=get("channel", ""),
            uniqueid=get("uniqueid", ""),
            linkedid=get("linkedid", ""),
            dest_channel=get("destchannel", ""),
            dest_uniqueid=get("destuniqueid", ""),
            dial_string=get("dialstring", ""),
        )
    if name == "DialEnd":
        return DialEnd(
            channel=get("channel", ""),
            uniqueid=get("uniqueid", ""),
            linkedid=get("linkedid", ""),
            dest_channel=get("destchannel", ""),
            dest_uniqueid=get("destuniqueid", ""),
            dial_status=get("dialstatus", ""),
        )
    if name == "Hangup":
        return Hangup(
            channel=get("channel", ""),
            uniqueid=get("uniqueid", ""),
            linkedid=get("linkedid", ""),
            cause=_int(get("cause")),
            cause_txt=get("cause-txt", ""),
        )
    if name == "DeviceStateChange":
        return DeviceStateChange(device=get("device", ""), state=get("state", ""))
    if name == "FullyBooted":
        return FullyBooted(status=get("status", ""))
    if name == "UserEvent":
        user_event = get("userevent", "")
        if user_event == "CbdialerInbound":
            number = get("callernumber", "").strip()
            presentation = get("callerpresentation", "").lower()
            withheld = not number or presentation.startswith("prohib") or number.lower() in ("anonymous", "unknown")
            return InboundCall(caller_number=number, withheld=withheld, channel=get("channel", ""))
        if user_event.startswith(_USER_EVENT_PREFIX) and get("attemptid"):
            return AttemptReport(
                kind=user_event.removeprefix(_USER_EVENT_PREFIX),
                attempt_id=get("attemptid", ""),
                dial_status=get("dialstatus", ""),
                hangup_cause=_int(get("hangupcause")),
                amd_status=get("amdstatus", ""),
                amd_cause=get("amdcause", ""),
            )
    return OtherEvent(name=name, headers=dict(headers))
