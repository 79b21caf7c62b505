"""The admin API's request and response bodies. Rule: the handlers validate with exactly these models and
the OpenAPI document is generated from them, so the two cannot drift; the domain's own rules (E.164 numbers,
start times, queue settings) are applied after them by the service and reported by field name the same way.

Every contract once: what the domain declares is derived here, never restated. The queue settings'
input model (QueueSettingsIn, and so QueueIn and QueuePatch) is generated from the fields of
domain.models.QueueSettings: their names, their types and the bounds in their metadata (domain.bounds.Bounds);
a setting whose default is None (caller_id) may be posted as null to clear it. The enums are the domain's own
(CallbackType, CallbackState, Reason, CompletionStatus, InteractionState, PreviewMode, QueueStatus), the
dispositions come from domain.outcomes.DISPOSITIONS and the list names from services.lists.Listing.

Kept explicit, on purpose: the nested settings' models (CallingWindowIn, ScheduleIn, OpeningIn, SlotCapacityIn), which say
how a person writes a time of day or a date in JSON (the codec reads them) and would cost more to derive than
they save; the bodies of the other resources, whose limits (an id's pattern, a remark's length) belong to
the API alone; and the output models (CallbackOut, QueueOut, ...), which are the API's deliberate public shape
(docs/design.md section 13) and name their fields in the API's words (`queue`, `agent`), not the domain's.

Why one file a little over 350 lines: every body shares the field types at its top (Id, Text, Instant, ...),
and a reader checks the API's public shapes, which the OpenAPI document is made of, in one place.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    create_model,
)

from cbdialer.adapters.http.derive import clearable, optional_fields
from cbdialer.domain.lifecycle import CallbackState, Location, Reason
from cbdialer.domain.models import (
    CallbackOrigin,
    CallbackType,
    CallingWindow,
    CompletionStatus,
    InteractionState,
    QueueSettings,
    QueueStatus,
    Schedule,
    SlotCapacity,
)
from cbdialer.domain.outcomes import DISPOSITIONS
from cbdialer.domain.timing import MAX_DELAY_SECONDS
from cbdialer.services.agents import AGENT_NAME_LENGTH
from cbdialer.services.lists import Listing
from cbdialer.services.reports import MAX_REPORT_ROWS

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")]
Text = Annotated[str, StringConstraints(max_length=200)]
Remark = Annotated[str, StringConstraints(max_length=2000)]
Number = Annotated[str, StringConstraints(min_length=1, max_length=40)]
DialString = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]+/\S{1,200}$")]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$|^24:00$")]
Zone = Annotated[str, StringConstraints(min_length=1, max_length=64)]
StartIn = Annotated[int, Field(gt=0, le=MAX_DELAY_SECONDS)] | Annotated[str, StringConstraints(max_length=40)]
# The statuses an agent may give a call: the domain's dispositions.
Disposition = Literal[tuple(d.value for d in CompletionStatus if d in DISPOSITIONS)]  # type: ignore[valid-type]


def _iso_only(value: Any) -> Any:
    # pydantic would read "0.5" as a Unix time; a person means an ISO 8601 date and time.
    if isinstance(value, str) and not any(ch in value for ch in "-:T"):
        raise ValueError("must be an ISO 8601 date and time with an offset, e.g. 2026-11-24T09:30:00+01:00")
    return value


def _in_range(value: datetime) -> datetime:
    # Far beyond any callback's life, and clear of datetime's own limits (year 1 minus an offset overflows).
    if not 1970 <= value.year <= 9000:
        raise ValueError("must be between the years 1970 and 9000")
    return value


Instant = Annotated[AwareDatetime, AfterValidator(_in_range)]
# Query parameters arrive as text: only ISO 8601 is a time.
QueryTime = Annotated[AwareDatetime, BeforeValidator(_iso_only), AfterValidator(_in_range)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    error: str = Field(description="a short code: invalid_value, not_found, conflict, forbidden, ...")
    message: str
    field: str | None = Field(default=None, description="the field (or header, or query parameter) at fault")


# -- callbacks -------------------------------------------------------------------------------------------


class CallbackIn(_Input):
    queue: Id
    destination: Number = Field(description="the contact's number; stored in E.164")
    type: CallbackType = CallbackType.STANDARD
    agent: Id | None = Field(default=None, description="the target agent (agent and strict_agent types)")
    team: Id | None = None
    start_at: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="ISO 8601; without an offset it is local time in customer_timezone")
    start_in: StartIn | None = Field(default=None, description="seconds from now (or a delay such as 2h30m)")
    end_at: Instant | None = None
    customer_timezone: Zone | None = Field(default=None, description="IANA time zone, e.g. Europe/London")
    remark: Remark = ""
    created_by: Id | None = Field(default=None, description="the creating agent (an agent token: always itself)")
    origin: CallbackOrigin | None = Field(default=None, description="default: agent for an agent token, else api")
    joined_at: Instant | None = Field(default=None, description="origin caller only (and required): when the "
                                      "caller joined the Asterisk queue")
    slot: Instant | None = Field(default=None, description="a slot's start (GET /queues/{id}/slots), in place of "
                                 "start_at/start_in; 409 when the slot is full")


class CallbackPatch(_Input):
    start_at: Annotated[str, StringConstraints(max_length=64)] | None = None
    start_in: StartIn | None = None
    end_at: Instant | None = None
    remark: Remark | None = None
    agent: Id | None = None
    team: Id | None = None
    customer_timezone: Zone | None = None
    type: CallbackType | None = None
    destination: Number | None = None


class CallbackOut(BaseModel):
    id: UUID
    queue: str
    destination: str
    type: CallbackType
    state: CallbackState
    reason: Reason
    due_at: datetime
    start_at: datetime
    end_at: datetime
    created_at: datetime
    agent: str | None
    team: str | None
    created_by: str | None
    customer_timezone: str | None
    remark: str
    attempts_count: int
    completion_status: CompletionStatus | None
    assigned_agent: str | None
    call_now_agent: str | None = Field(default=None, description="the agent who pressed Call Now: it is offered "
                                       "to that agent first, until it is in a call")
    origin: CallbackOrigin = CallbackOrigin.API
    joined_at: datetime | None = None
    slot: datetime | None = Field(default=None, description="the start of the slot it is booked into")
    recording: str | None = Field(default=None, description="the URL of the caller's recording (audio/wav, "
                                  "GET /callbacks/{id}/recording), or null when the caller recorded none")
    location: Location = Field(default=Location.PENDING, description="the interaction location: pending, "
                               "handling by the queue, handling by an agent, or ended")


class CallbackPage(BaseModel):
    items: list[CallbackOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class CallbackSearch(_Input):
    state: CallbackState | None = None
    queue: Id | None = None
    agent: Id | None = Field(default=None, description="the target agent (of agent and strict_agent callbacks)")
    created_by: Id | None = None
    destination: Number | None = None
    created_from: QueryTime | None = None
    created_to: QueryTime | None = None
    due_from: QueryTime | None = Field(default=None, description="due at or after: callbacks waiting to fall due "
                                                              "(scheduled or queued) only")
    due_to: QueryTime | None = Field(default=None, description="due before: likewise")
    cursor: Annotated[str, StringConstraints(max_length=200)] | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 50


class DispositionIn(_Input):
    status: Disposition = Field(description="after a call that reached someone: handled, answering_machine, "
                                "callback_requested or wrong_destination; after no answer or busy: "
                                "callback_requested, no_answer or wrong_destination (seed 002)")
    start_at: Annotated[str, StringConstraints(max_length=64)] | None = None
    start_in: StartIn | None = None
    agent: Id | None = Field(default=None, description="callback_requested: the agent to call back (the callback "
                             "becomes that agent's own)")


class AttemptOut(BaseModel):
    id: UUID
    agent: str | None
    started_at: datetime
    ended_at: datetime | None
    interaction_state: InteractionState
    completion_status: CompletionStatus | None
    dial_status: str
    hangup_cause: int
    amd_status: str
    counted: bool | None


class HistoryOut(BaseModel):
    at: datetime
    from_state: CallbackState | None
    to_state: CallbackState
    reason: Reason
    actor: str
    due_at: datetime | None


# -- queues ------------------------------------------------------------------------------------------------


class CallingWindowIn(_Input):
    start: ClockTime
    end: ClockTime


class OpeningIn(_Input):
    weekday: Annotated[int, Field(ge=0, le=6, description="0 = Monday")]
    start: ClockTime
    end: ClockTime


class SlotCapacityIn(_Input):
    weekday: Annotated[int, Field(ge=0, le=6, description="0 = Monday")]
    start: ClockTime
    end: ClockTime
    capacity: Annotated[int, Field(ge=0, le=10_000)]


class ScheduleIn(_Input):
    timezone: Zone = "UTC"
    weekly: Annotated[list[OpeningIn], Field(max_length=100)] | None = None
    closed_dates: Annotated[list[date], Field(max_length=1000)] = []


SETTINGS = tuple(f.name for f in dataclasses.fields(QueueSettings))
_CLEARABLE = clearable(QueueSettings)  # caller_id: null clears it; for the others null means "not given"


class _Settings(_Input):
    def given(self) -> dict[str, Any]:
        """The settings present in the request, as the domain's codec reads them."""
        given = self.model_dump(mode="json", exclude_unset=True, include=set(SETTINGS))
        return {k: v for k, v in given.items() if v is not None or k in _CLEARABLE}


QueueSettingsIn = create_model(  # type: ignore[call-overload]
    "QueueSettingsIn", __base__=_Settings, __module__=__name__,
    __doc__="Every setting of docs/design.md sections 5-7, by its name there; durations are seconds.",
    # The nested settings keep their own models (see the module's docstring); every other one is derived.
    **optional_fields(QueueSettings, nested={CallingWindow: CallingWindowIn, Schedule: ScheduleIn,
                                              SlotCapacity: SlotCapacityIn}))


class QueueIn(QueueSettingsIn):
    id: Id
    name: Text | None = None
    skills: Annotated[list[Id], Field(max_length=100)] = []


class QueuePatch(QueueSettingsIn):
    name: Text | None = None
    skills: Annotated[list[Id], Field(max_length=100)] | None = None


class QueueOut(BaseModel):
    id: str
    name: str
    status: QueueStatus = Field(
        description="stopped by a person, else active or off_schedule by the weekly schedule")
    skills: list[str]
    settings: dict[str, Any] = Field(description="every setting, by its docs/design.md name")


class QueueRunOut(BaseModel):
    queue: QueueOut
    callbacks_moved: int


class QueueMetricsOut(BaseModel):
    queue: str
    status: QueueStatus
    shift_start: datetime
    processed: int
    to_be_processed: int
    average_handle_time: float | None = Field(description="seconds, over handled attempts of the shift")
    purged: int
    percent_reached: float | None
    percent_failed: float | None
    live_now: int = Field(description="the queue's callbacks on a live attempt now")
    agents_ready: int = Field(description="the queue's agents ready for callbacks")
    outcomes: dict[CompletionStatus, int] = Field(description="the shift's ended attempts by completion status")


# -- agents and teams ------------------------------------------------------------------------------------


AgentName = Annotated[str, StringConstraints(min_length=1, max_length=AGENT_NAME_LENGTH)]


class AgentIn(_Input):
    id: Id
    dial_string: DialString = Field(description="e.g. PJSIP/agent-1001")
    queues: Annotated[list[Id], Field(max_length=100)] = []
    skills: Annotated[list[Id], Field(max_length=100)] = []
    teams: Annotated[list[Id], Field(max_length=100)] = []
    name: AgentName | None = Field(default=None, description="as the reports show it; default: the agent's id")


class AgentPatch(_Input):
    name: AgentName | None = None
    dial_string: DialString | None = None
    queues: Annotated[list[Id], Field(max_length=100)] | None = None
    skills: Annotated[list[Id], Field(max_length=100)] | None = None
    teams: Annotated[list[Id], Field(max_length=100)] | None = None


class ReadyIn(_Input):
    ready: bool


class AgentOut(BaseModel):
    id: str
    name: str
    dial_string: str
    queues: list[str]
    skills: list[str]
    teams: list[str]
    ready: bool
    presence: str = Field(description="Asterisk's device state as the dialer last heard it (UNKNOWN if never)")
    on_call: bool = Field(description="reserved for an offer or a call now")
    wrap_up_until: datetime | None


class PanelOut(BaseModel):
    agent: str
    pending: int
    callbacks: list[CallbackOut] = Field(description="due first; each with its window (start_at to end_at)")


class TeamIn(_Input):
    id: Id
    name: Text


class TeamPatch(_Input):
    name: Text


class TeamOut(BaseModel):
    id: str
    name: str


# -- lists, reports, health ---------------------------------------------------------------------------------


class NumberOut(BaseModel):
    number: str
    list: Listing


class ListedNumberOut(BaseModel):
    number: str
    added_at: datetime
    added_by: str | None


class ReportQuery(_Input):
    from_: QueryTime | None = Field(default=None, alias="from", description="default: 24 h before `to`")
    to: QueryTime | None = Field(default=None, description="default: now")
    agent: Id | None = None
    queue: Id | None = None
    format: Literal["json", "csv"] = "json"
    limit: int = Field(default=MAX_REPORT_ROWS, ge=1, le=MAX_REPORT_ROWS,
                       description="at most this many records (a preview asks for a few)")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ReportOut(BaseModel):
    time_period: dict[str, datetime]
    query_time: datetime
    filters: dict[str, str]
    total_records: int = Field(description="the records given here")
    truncated: bool = Field(description=f"more records match than these (the limit, or at most {MAX_REPORT_ROWS:,} "
                                        "rows of attempts): a shorter period or a filter gives the rest")
    records: list[dict[str, Any]] = Field(description="the seed's fields in its order (domain/reports.py)")


class ContactOut(BaseModel):
    contact_id: int = Field(description="the reports' Contact ID")
    number: str
    callbacks: list[CallbackOut] = Field(description="newest first")


class HealthOut(BaseModel):
    status: Literal["ok", "unavailable"] = Field(description="`ok` (200) or `unavailable` (503)")
    database: bool = Field(description="whether PostgreSQL answered")
    down: list[Literal["database", "ami"]] | None = Field(
        default=None, description="only when unavailable: what is down (`database`: PostgreSQL does not answer; "
                                  "`ami`: the dialer's link to Asterisk is not up)")

