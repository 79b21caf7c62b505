"""The things of a callback dialer, in the contact centre's words (docs/design.md section 1), with the seeds'
defaults. Rule: plain frozen values, validated on construction; no I/O and no clock.

All durations are seconds; all datetimes are timezone-aware (stored in UTC).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cbdialer.domain.bounds import Bounds, bounded, bounds_of
from cbdialer.domain.lifecycle import CallbackState, Reason


class InvalidValue(ValueError):
    """A value breaks a rule; `field` names what is wrong, for an error a person can act on."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


def check_zone(field_name: str, name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidValue(field_name, f"{name!r} is not an IANA time zone") from None


def check_aware(field_name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValue(field_name, "must carry a UTC offset or a time zone")


class CallbackType(StrEnum):
    STANDARD = "standard"  # the creating agent's queue; any agent of it with matching skills
    CAMPAIGN = "campaign"  # the same, for a queue chosen explicitly
    AGENT = "agent"  # a preferred agent; falls back to standard
    STRICT_AGENT = "strict_agent"  # only that agent, up to the strict max retries
    TEAM = "team"  # only the agents of its team, by the rules of a standard callback (seed 003)

    @property
    def has_target_agent(self) -> bool:
        """Agent and strict-agent callbacks name the agent they are for; standard and campaign ones do not."""
        return self in TARGET_AGENT_TYPES


# The callback types by whom they go to, written once (the SQL takes them as parameters): a named agent, any
# agent of the queue, or the agents of a team.
TARGET_AGENT_TYPES = frozenset({CallbackType.AGENT, CallbackType.STRICT_AGENT})
QUEUE_TYPES = frozenset({CallbackType.STANDARD, CallbackType.CAMPAIGN})
TEAM_TYPES = frozenset(CallbackType) - TARGET_AGENT_TYPES - QUEUE_TYPES


class CallbackOrigin(StrEnum):
    """Who asked for the callback (docs/design.md section 13)."""

    AGENT = "agent"  # an agent, during, after or between calls
    CALLER = "caller"  # a caller waiting in an Asterisk queue (section 14); it has `joined_at`
    API = "api"  # a supervisor, an admin or a program


class PreviewMode(StrEnum):
    DISABLED = "disabled"
    WITH_RECORDING = "with_recording"
    ALWAYS = "always"


class QueueStatus(StrEnum):
    ACTIVE = "active"
    OFF_SCHEDULE = "off_schedule"
    STOPPED = "stopped"
    TERMINATED = "terminated"  # stopped for good: its callbacks ended as queue_terminated


# A queue that runs (its callbacks are dialled when its schedule allows): a run of it is the reports' Job ID.
RUNNING_STATUSES = frozenset({QueueStatus.ACTIVE, QueueStatus.OFF_SCHEDULE})


class CompletionStatus(StrEnum):
    """What happened on the line (docs/design.md section 6), or the agent's disposition over it."""

    HANDLED = "handled"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    ANSWERING_MACHINE = "answering_machine"
    WRONG_DESTINATION = "wrong_destination"
    NETWORK_FAILURE = "network_failure"
    CANCEL = "cancel"
    CALLBACK_REQUESTED = "callback_requested"
    ABORTED = "aborted"  # cut short by the window or schedule closing before the customer was dialled
    NOT_DIALLED = "not_dialled"  # Asterisk refused the Originate, or the link was down: nobody was called


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """One opening on a weekday (0 = Monday), local time of the queue; `end` may be 24:00 as time.max."""

    weekday: int
    start: time
    end: time

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise InvalidValue("schedule.weekly.weekday", "must be 0 (Monday) to 6 (Sunday)")
        if not self.start < self.end:
            raise InvalidValue("schedule.weekly", f"opening {self.start}-{self.end} must start before it ends")


ALWAYS_OPEN = tuple(OpeningHours(day, time(0, 0), time.max) for day in range(7))


@dataclass(frozen=True, slots=True)
class SlotCapacity:
    """How many callbacks each time slot from `start` to `end` on a weekday (0 = Monday, the queue's local
    time; `end` may be 24:00 as time.max) takes; the slots themselves are cut by cbdialer.domain.slots."""

    weekday: int
    start: time
    end: time
    capacity: int

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise InvalidValue("slot_capacity.weekday", "must be 0 (Monday) to 6 (Sunday)")
        if not self.start < self.end:
            raise InvalidValue("slot_capacity", f"slots {self.start}-{self.end} must start before they end")
        if isinstance(self.capacity, bool) or not isinstance(self.capacity, int) or not 0 <= self.capacity <= 10_000:
            raise InvalidValue("slot_capacity.capacity", "must be a whole number from 0 to 10000")


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a queue may dial: weekly opening hours in the queue's time zone, minus closed dates."""

    timezone: str = "UTC"
    weekly: tuple[OpeningHours, ...] = ALWAYS_OPEN
    closed_dates: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        check_zone("schedule.timezone", self.timezone)


@dataclass(frozen=True, slots=True)
class CallingWindow:
    """The hours, in the contact's local time, when they may be called (default 08:00-21:00)."""

    start: time = time(8, 0)
    end: time = time(21, 0)

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise InvalidValue("calling_window", f"{self.start}-{self.end} must start before it ends")


def check_bounds(value: Any) -> None:
    """Every bounded field of a dataclass instance of its type and above its lower bounds, else InvalidValue
    naming the first that is not. A field whose default is None may be None (not set). The upper bounds are
    what a person may enter: the admin API's input model enforces them, and a stored value above one (kept
    by an older version, or written past the API) is still read, so that no queue becomes unreadable."""
    for f in fields(value):
        bounds = bounds_of(f)
        given = getattr(value, f.name)
        if bounds is None or (given is None and f.default is None):
            continue
        if (wrong := bounds.problem(given, upper=False)) is not None:
            raise InvalidValue(f.name, wrong)


_TEN_YEARS = 10 * 365 * 86_400  # the longest duration a setting may take
_APP_QUEUE_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_SECONDS = bounded(gt=0, le=_TEN_YEARS)
_COUNT = bounded(ge=0, le=1000)


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """A queue's settings (docs/design.md sections 5-7) under their design names, with the seeds' defaults.

    Rule: each setting's bounds are declared here once, as its field's metadata (`bounded`): construction
    checks them, the admin API generates its input model from these fields and that metadata, and the codec
    (cbdialer.domain.codec) is their one reader and writer. A new setting that is a number, a bool, a str, a
    StrEnum or a tuple of those is one line here."""

    # the customer's Dial timeout (ECS default 60 s)
    duration_for_no_answer: int = field(default=60, metadata=_SECONDS)
    # counted attempts before `failed`
    attempts_before_failure: int = field(default=3, metadata=bounded(gt=0, le=100))
    # after the n-th counted attempt; the last repeats
    recall_intervals: tuple[int, ...] = field(
        default=(300, 900, 1800), metadata=bounded(min_length=1, max_length=50, items=Bounds(gt=0, le=_TEN_YEARS)))
    # postponement when no agent is suitable (POM example: 30 min)
    retry_interval: int = field(default=1800, metadata=_SECONDS)
    # requeue after a trunk or network failure (not counted)
    network_failure_delay: int = field(default=60, metadata=bounded(ge=0, le=86_400))
    # bounded: then the failure counts as an attempt
    max_network_failures: int = field(default=5, metadata=_COUNT)
    # end = start + this, unless given (POM default 300 min)
    default_end_offset: int = field(default=300 * 60, metadata=_SECONDS)
    strict_agent_max_retries: int = field(default=4, metadata=_COUNT)  # POM default
    callbacks_in_agent_queue: int = field(default=10, metadata=_COUNT)  # POM "Number of Callbacks in Queue"
    # how long an agent callback waits for its busy named agent before any agent of the queue may take it
    # (seed 004: "continues trying to call the agent for a configurable time")
    agent_wait_time: int = field(default=300, metadata=bounded(ge=0, le=86_400))
    preview_mode: PreviewMode = PreviewMode.DISABLED
    max_preview_time: int = field(default=30, metadata=bounded(gt=0, le=3600))
    agent_offer_timeout: int = field(default=20, metadata=bounded(gt=0, le=3600))  # how long the agent's phone rings
    not_ready_after_missed_offer: bool = False  # an agent who misses or rejects an offer is set not ready
    wrap_up_time: int = field(default=10, metadata=bounded(ge=0, le=86_400))  # agent's wrap-up after each callback
    amd: bool = False
    calling_window: CallingWindow = field(default_factory=CallingWindow)
    time_restriction: bool = True  # POM "Enable Time Restriction": the calling window applies
    # The routing types a person may choose for the queue's callbacks (seed 003: "preconfigured options")
    routing_types: tuple[CallbackType, ...] = field(default=tuple(CallbackType), metadata=bounded(min_length=1))
    apply_dnc: bool = True
    schedule: Schedule = field(default_factory=Schedule)
    caller_id: str | None = field(default=None, metadata=bounded(max_length=80))
    # the app_queue queue this queue serves (docs/design.md sections 13 and 14): its calls are the ones an
    # agent makes callbacks from, and its callers the ones who ask for one
    asterisk_queue: str | None = field(default=None, metadata=bounded(min_length=1, max_length=80))
    customer_dial_string: str = field(default="Local/{number}@cbdialer-sim-customers",
                                      metadata=bounded(min_length=1, max_length=200))
    # time slots (docs/design.md section 14): their length, and a capacity per weekday and time of day in the
    # schedule's zone; none: no slots are offered
    slot_length: int = field(default=1800, metadata=bounded(ge=300, le=86_400))
    slot_capacity: tuple[SlotCapacity, ...] = field(default=(), metadata=bounded(max_length=200))
    # caller callbacks: the most pending per queue, and their end after the start when none is given
    max_caller_callbacks: int = field(default=100, metadata=bounded(ge=0, le=100_000))
    caller_callback_expiry: int = field(default=4 * 3600, metadata=_SECONDS)
    max_concurrent_calls: int = field(default=10, metadata=bounded(gt=0, le=100_000))
    calls_per_second: float = field(default=5.0, metadata=bounded(ge=0.01, le=100_000, note="one call every 100 s"))

    @property
    def restricted_window(self) -> CallingWindow | None:
        """The calling window that applies to a dial: none while the time restriction is off."""
        return self.calling_window if self.time_restriction else None

    def __post_init__(self) -> None:
        check_bounds(self)
        for name in ("caller_id", "customer_dial_string"):
            # Both travel as AMI Originate variables: a comma or a line break would split or forge them.
            if any(ch in (getattr(self, name) or "") for ch in ",\r\n\x00"):
                raise InvalidValue(name, "must not contain a comma or a line break")
        if self.asterisk_queue is not None and not _APP_QUEUE_NAME.fullmatch(self.asterisk_queue):
            raise InvalidValue("asterisk_queue", "must be an app_queue queue name: letters, digits, - _ and .")
        if "{number}" not in self.customer_dial_string:
            raise InvalidValue("customer_dial_string", "must contain {number}")
        ordered = sorted(self.slot_capacity, key=lambda c: (c.weekday, c.start))
        for one, two in zip(ordered, ordered[1:], strict=False):
            if one.weekday == two.weekday and two.start < one.end:
                raise InvalidValue("slot_capacity", f"slots of weekday {one.weekday} overlap at {two.start}")


@dataclass(frozen=True, slots=True)
class Queue:
    """What owns agents, settings, schedule and caller ID (POM campaign, ECS business process)."""

    id: str
    name: str
    status: QueueStatus = QueueStatus.ACTIVE
    settings: QueueSettings = field(default_factory=QueueSettings)
    skills: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Agent:
    id: str
    dial_string: str  # e.g. PJSIP/agent-1001
    queues: frozenset[str] = frozenset()
    skills: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()
    name: str = ""  # the agent's name, as the reports show it (seed 001: Serviced By)


@dataclass(frozen=True, slots=True)
class Callback:
    id: UUID
    queue_id: str
    destination: str  # E.164
    type: CallbackType
    state: CallbackState
    due_at: datetime
    start_at: datetime
    end_at: datetime
    created_at: datetime
    agent_id: str | None = None  # the target agent of agent and strict_agent callbacks
    team_id: str | None = None
    created_by: str | None = None
    customer_timezone: str | None = None
    remark: str = ""
    attempts_count: int = 0  # counted attempts (docs/design.md section 6)
    network_failures: int = 0
    strict_retries: int = 0  # postponements while the strict agent was unavailable
    completion_status: CompletionStatus | None = None
    reason: Reason = Reason.CREATED
    assigned_agent: str | None = None  # the agent whose own callback queue it waits in
    assigned_at: datetime | None = None  # since when it waits there
    call_now_agent: str | None = None  # the agent who pressed Call Now: it is offered to that agent first
    agent_wait_since: datetime | None = None  # an agent callback: since when it waits for its busy agent
    origin: CallbackOrigin = CallbackOrigin.API
    joined_at: datetime | None = None  # a caller's: when the caller joined the Asterisk queue (its place)
    slot: datetime | None = None  # the start of the time slot it is booked into
    recording: str | None = None  # a caller's recording: its Asterisk-side path without extension (migration 0014)
    due_since: datetime | None = None  # once claimed: when this turn fell due (the claim moves due_at on; 0017)

    def __post_init__(self) -> None:
        for name in ("due_at", "start_at", "end_at", "created_at"):
            check_aware(name, getattr(self, name))
        if (self.origin is CallbackOrigin.CALLER) != (self.joined_at is not None):
            raise InvalidValue("joined_at", "a caller's callback needs it" if self.joined_at is None
                               else "only a caller's callback (origin caller) has it")
        for name in ("assigned_at", "agent_wait_since", "joined_at", "slot"):
            if getattr(self, name) is not None:
                check_aware(name, getattr(self, name))
        if self.type.has_target_agent and not self.agent_id:
            raise InvalidValue("agent", f"a {self.type.value} callback needs a target agent")
        if self.type in TEAM_TYPES and not self.team_id:
            raise InvalidValue("team", f"a {self.type.value} callback needs its team")
        if self.end_at <= self.start_at:
            raise InvalidValue("end_at", "must be after the start")
        if self.customer_timezone is not None:
            check_zone("customer_timezone", self.customer_timezone)


@dataclass(frozen=True, slots=True)
class Team:
    id: str
    name: str


class InteractionState(StrEnum):
    """Where a live attempt is, agent first (seeds 003 and 004)."""

    OFFERED = "offered"  # the agent's phone rings
    PREVIEW = "preview"  # the agent hears the recording or remark before dialling
    DIALING = "dialing"  # the customer is being dialled
    HANDLING = "handling"  # agent and customer talk
    WRAP_UP = "wrap_up"  # the agent finishes after the call
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try to connect agent and customer; its id is the agent channel's id in Asterisk."""

    id: UUID
    callback_id: UUID
    agent_id: str | None
    started_at: datetime
    interaction_state: InteractionState = InteractionState.OFFERED
    ended_at: datetime | None = None
    completion_status: CompletionStatus | None = None
    dial_status: str = ""
    hangup_cause: int = 0
    amd_status: str = ""
    counted: bool | None = None
    result_at: datetime | None = None  # when the line's result was heard (recorded at once)

    def __post_init__(self) -> None:
        check_aware("started_at", self.started_at)
        if self.ended_at is not None:
            check_aware("ended_at", self.ended_at)
