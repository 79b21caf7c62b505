"""What the dialer needs of the telephony: the shapes of what it sends and hears, and the Telephony protocol.
Rule: these are the only telephony types outside the AMI adapter, which produces and consumes them; the
dialer never names an AMI type."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


class TelephonyError(Exception):
    """Something went wrong talking to Asterisk."""


class TelephonyUnavailable(TelephonyError):
    """The link is down: the action was not sent."""


class ActionFailed(TelephonyError):
    """Asterisk answered the action with an error."""


@dataclass(frozen=True, slots=True)
class LinkUp:
    """The adapter logged in (first time or after a reconnect): time to reconcile."""

    reconnect: bool


@dataclass(frozen=True, slots=True)
class LinkDown:
    """The link to Asterisk is gone; pending actions have failed and will not be re-sent."""

    reason: str


@dataclass(frozen=True, slots=True)
class OriginateResponse:
    """The outcome of an Async Originate: Success once the agent answered, else Failure with Reason
    (0 no such extension or failure, 1 hung up, 3 no answer, 5 busy, 8 congestion)."""

    action_id: str
    success: bool
    reason: int
    channel: str
    uniqueid: str


@dataclass(frozen=True, slots=True)
class DeviceStateChange:
    """Device state of an endpoint (e.g. PJSIP/agent-1001): NOT_INUSE, INUSE, RINGING, UNAVAILABLE, ..."""

    device: str
    state: str


@dataclass(frozen=True, slots=True)
class AttemptReport:
    """One of the dialplan's UserEvents about an attempt (asterisk/pbx/extensions_cbdialer.conf):
    kind is AgentAnswered, Preview, RecordingPlayed, Dialing, CustomerAnswered, Amd or Result."""

    kind: str
    attempt_id: str
    dial_status: str = ""
    hangup_cause: int = 0
    amd_status: str = ""
    amd_cause: str = ""
    status: str = ""  # RecordingPlayed: Playback's PLAYBACKSTATUS, SUCCESS or FAILED


@dataclass(frozen=True, slots=True)
class InboundCall:
    """A caller reached the inbound hook. `withheld` when the number is hidden or missing; `uniqueid` is the
    caller channel's, the one its queue call (QueueCallAnswered) names."""

    caller_number: str
    withheld: bool
    channel: str
    uniqueid: str = ""


@dataclass(frozen=True, slots=True)
class QueueCall:
    """What app_queue's events tell of a call between an Asterisk queue's caller and a member. `member` is the
    member's interface (PJSIP/agent-1001); `caller_uniqueid` names the call, `member_uniqueid` the member's
    channel; `withheld` as the caller ID shows it (the hook's InboundCall of the same channel also knows the
    presentation)."""

    asterisk_queue: str
    member: str
    caller_number: str
    caller_name: str
    withheld: bool
    caller_uniqueid: str
    member_uniqueid: str = ""


@dataclass(frozen=True, slots=True)
class QueueCallAnswered(QueueCall):
    """The caller was answered by the member (AgentConnect)."""

    caller_channel: str = ""


@dataclass(frozen=True, slots=True)
class QueueCallerJoined:
    """A caller joined an Asterisk queue and waits (app_queue's QueueCallerJoin): the place a caller-callback of
    that queue keeps is measured against such callers (docs/design.md section 14)."""

    asterisk_queue: str
    uniqueid: str
    position: int = 0


@dataclass(frozen=True, slots=True)
class QueueCallerLeft:
    """The caller no longer waits (QueueCallerLeave: answered, or gone to the queue's exit; QueueCallerAbandon:
    hung up while waiting)."""

    asterisk_queue: str
    uniqueid: str
    abandoned: bool = False


@dataclass(frozen=True, slots=True)
class WaitingCaller:
    """One caller waiting in an Asterisk queue, as QueueStatus lists it: for how many seconds so far."""

    asterisk_queue: str
    uniqueid: str
    waited_seconds: int
    position: int = 0


@dataclass(frozen=True, slots=True)
class QueueMember:
    """One member of an Asterisk queue, as QueueStatus lists it: whether it is paused, and why."""

    asterisk_queue: str
    interface: str  # e.g. PJSIP/agent-1001: an agent's dial string
    paused: bool = False
    paused_reason: str = ""


@dataclass(frozen=True, slots=True)
class QueueCallEnded(QueueCall):
    """That call ended (AgentComplete), with how long caller and member talked. When the caller's channel was
    gone before the event was raised, Asterisk 22 sends no caller fields at all: then `caller_uniqueid` is empty,
    and only `member_uniqueid` names the call."""

    talk_seconds: int = 0
    reason: str = ""  # caller, agent or transfer


@dataclass(frozen=True, slots=True)
class OriginateRequest:
    """Ring `channel` (the agent's dial string); once answered it runs context/exten/priority.

    `channel_id` becomes the channel's Uniqueid (cbdialer passes the attempt id), and the ActionID is
    derived from it, so every event of the call can be tied back to the attempt."""

    channel: str
    channel_id: str
    context: str
    exten: str = "s"
    priority: int = 1
    timeout_ms: int = 30_000
    caller_id: str | None = None
    variables: Mapping[str, str] = field(default_factory=dict)

    @property
    def action_id(self) -> str:
        return f"cbd-originate-{self.channel_id}"


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """One live channel, from CoreShowChannels."""

    channel: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    state: str
    application: str
    duration: str
    bridge_id: str = ""  # set while the channel is in a bridge: agent and customer are talking
    caller_name: str = ""  # the channel's caller ID name (on an offer's agent leg: what the agent's phone shows)


# What the dialer consumes; the AMI adapter also delivers events of its own (Newchannel, Hangup, ...), which
# the dialer ignores.
TelephonyEvent = (LinkUp | LinkDown | OriginateResponse | DeviceStateChange | AttemptReport | InboundCall
                  | QueueCallAnswered | QueueCallEnded)


class Telephony(Protocol):
    async def originate(self, request: OriginateRequest) -> str: ...

    async def hangup(self, channel: str, cause: int = 16) -> None: ...

    async def core_show_channels(self) -> list[ChannelInfo]: ...

    async def device_states(self) -> dict[str, str]: ...

    async def db_get(self, family: str, key: str) -> str | None: ...

    async def channel_variable(self, channel: str, name: str) -> str | None:
        """A live channel's variable or function (e.g. CALLERID(num-pres)); None if the channel is gone."""
        ...

    async def queue_callers(self) -> list[WaitingCaller]:
        """The callers waiting in every Asterisk queue now (QueueStatus), to re-read the places after a reconnect."""
        ...

    async def queue_members(self, asterisk_queue: str | None = None, interface: str | None = None
                            ) -> list[QueueMember]:
        """The members of every Asterisk queue now (QueueStatus), with their pauses; only that queue's (any
        case) and that interface's, if given."""
        ...

    async def pause_member(self, asterisk_queue: str, interface: str, *, paused: bool, reason: str) -> None:
        """Pause or unpause a member in one Asterisk queue (QueuePause, the `agent` write class)."""
        ...

    def drop(self, reason: str) -> None: ...

    @property
    def connected(self) -> bool: ...
