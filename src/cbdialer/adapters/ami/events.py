"""Typed AMI events: the only shapes of Asterisk's events that the rest of cbdialer sees.

Rule: parsing is total. An event that cannot be typed becomes `OtherEvent`; nothing here raises on
input from the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cbdialer.domain.numbers import caller_withheld
from cbdialer.ports.telephony import (
    AttemptReport,
    DeviceStateChange,
    InboundCall,
    LinkDown,
    LinkUp,
    OriginateResponse,
    QueueCallAnswered,
    QueueCallEnded,
    QueueCallerJoined,
    QueueCallerLeft,
)


def _caller_number(number: str) -> str:
    number = number.strip()
    return "" if number == "<unknown>" else number


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
    | QueueCallAnswered
    | QueueCallEnded
    | QueueCallerJoined
    | QueueCallerLeft
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
    if name == "QueueCallerJoin":
        return QueueCallerJoined(asterisk_queue=get("queue", ""), uniqueid=get("uniqueid", ""),
                                 position=_int(get("position")))
    if name in ("QueueCallerLeave", "QueueCallerAbandon"):
        return QueueCallerLeft(asterisk_queue=get("queue", ""), uniqueid=get("uniqueid", ""),
                               abandoned=name == "QueueCallerAbandon")
    if name in ("AgentConnect", "AgentComplete"):
        # The caller channel's snapshot (Channel, Uniqueid, CallerIDNum, ...), then the member's (Dest...).
        number = _caller_number(get("calleridnum", ""))
        shown = _caller_number(get("calleridname", ""))
        queue, member, uniqueid = get("queue", ""), get("interface", ""), get("uniqueid", "")
        member_uniqueid = get("destuniqueid", "")
        if name == "AgentConnect":
            return QueueCallAnswered(asterisk_queue=queue, member=member, caller_number=number, caller_name=shown,
                                     withheld=caller_withheld(number), caller_uniqueid=uniqueid,
                                     member_uniqueid=member_uniqueid, caller_channel=get("channel", ""))
        # A caller gone before the event: no caller fields at all (not a withheld caller, an unknown one).
        return QueueCallEnded(asterisk_queue=queue, member=member, caller_number=number, caller_name=shown,
                              withheld=bool(uniqueid) and caller_withheld(number), caller_uniqueid=uniqueid,
                              member_uniqueid=member_uniqueid, talk_seconds=_int(get("talktime")),
                              reason=get("reason", ""))
    if name == "UserEvent":
        user_event = get("userevent", "")
        if user_event == "CbdialerInbound":
            number = _caller_number(get("callernumber", ""))
            return InboundCall(caller_number=number, withheld=caller_withheld(number, get("callerpresentation", "")),
                               channel=get("channel", ""), uniqueid=get("uniqueid", ""))
        if user_event.startswith(_USER_EVENT_PREFIX) and get("attemptid"):
            return AttemptReport(
                kind=user_event.removeprefix(_USER_EVENT_PREFIX),
                attempt_id=get("attemptid", ""),
                dial_status=get("dialstatus", ""),
                hangup_cause=_int(get("hangupcause")),
                amd_status=get("amdstatus", ""),
                amd_cause=get("amdcause", ""),
                status=get("status", ""),
            )
    return OtherEvent(name=name, headers=dict(headers))
