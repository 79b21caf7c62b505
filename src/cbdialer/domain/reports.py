"""The reports in the seeds' words (seed 001: POM's Callbacks Scheduled Details; seed 002: ECS's Completed
Callback Interaction). Rule: every word a report shows is derived here, once, from the domain's own enums and
settings: the system completion codes of the holds and skips (each one a dummy attempt), the callback's status,
a queue's campaign type and strategy, and the columns of each report with their headings.
"""

from __future__ import annotations

from enum import StrEnum

from cbdialer.domain.lifecycle import ACTIVE_STATES, CallbackState, Reason
from cbdialer.domain.models import CallbackType, CompletionStatus, InteractionState, PreviewMode, QueueSettings


class SystemCode(StrEnum):
    """POM's system completion codes (seed 001), which POM gives to dummy attempts: nobody was dialled."""

    RESTRICTED_DNC = "Restricted DNC"
    RESTRICTED_OTHER = "Restricted Other"
    CALLBACK_EXPIRED = "Callback Expired"
    CALLBACK_POSTPONED = "Callback Postponed"
    CONTACT_EXCLUDED = "Contact Excluded"


# Each hold or skip of the audit trail that is one of POM's dummy attempts, and its code. A restriction other
# than the DNC list is the contact's calling window or the queue's hours; a postponement is no suitable agent
# (or the strict agent logged off). A wait for a dial slot (pacing) is no attempt at all.
SYSTEM_CODES: dict[Reason, SystemCode] = {
    Reason.RESTRICTED_DNC: SystemCode.RESTRICTED_DNC,
    Reason.RESTRICTED_TIME: SystemCode.RESTRICTED_OTHER,
    Reason.OFF_SCHEDULE: SystemCode.RESTRICTED_OTHER,
    Reason.POSTPONED: SystemCode.CALLBACK_POSTPONED,
    Reason.AGENT_UNAVAILABLE: SystemCode.CALLBACK_POSTPONED,
    Reason.EXPIRED: SystemCode.CALLBACK_EXPIRED,
    Reason.CONTACT_EXCLUDED: SystemCode.CONTACT_EXCLUDED,
}
# The reasons whose audit lines the reports show as dummy attempts (the SQL takes them as a parameter).
DUMMY_REASONS = frozenset(SYSTEM_CODES)


def words(value: StrEnum) -> str:
    """A status as the seeds write it: `no_answer` -> "No Answer", `wrap_up` -> "Wrap Up"."""
    return value.value.replace("_", " ").title()


# Where POM's word is not our state's own (seed 001: "Campaign Terminated"; every live state is "Active").
_POM_STATUS = {CallbackState.QUEUE_TERMINATED: "Campaign Terminated"}


def callback_status(state: CallbackState) -> str:
    """Seed 001's Callback Status: Active while the callback is owed, else its end in words."""
    return "Active" if state in ACTIVE_STATES else _POM_STATUS.get(state, words(state))


def callback_type(kind: CallbackType) -> str:
    """Seed 001's Callback Type, as POM writes it: Agent, Campaign, Standard, Strict agent (and Team)."""
    return kind.value.replace("_", " ").capitalize()


def attempt_state(status: CompletionStatus | None, interaction: InteractionState | None) -> str:
    """Seed 002's Attempt State: how an ended attempt ended (Handled, No Answer, ..., Aborted), else where the
    live one is (Offered, Preview, Dialing, Handling, Wrap Up)."""
    if status is not None:
        return words(status)
    return words(interaction or InteractionState.OFFERED)


# POM's campaign types are Finite (it ends when its contact list is done) and Infinite (it runs until it is
# stopped, and contacts are added to it as it runs, through web services). A queue is always the latter.
CAMPAIGN_TYPE = "Infinite"
# POM's strategy sets the pacing: a preview queue lets the agent look before the customer is dialled;
# without preview the customer is dialled as soon as the agent answers (progressive, agent first).
_PACING = {PreviewMode.ALWAYS: "Preview", PreviewMode.WITH_RECORDING: "Preview with recording",
           PreviewMode.DISABLED: "Progressive"}


def campaign_strategy(settings: QueueSettings) -> str:
    """The queue's strategy as POM names one: its pacing, and whether answering machines are detected."""
    return _PACING[settings.preview_mode] + (", AMD" if settings.amd else "")


# The columns of each report, in the seed's order, as (JSON field, the seed's heading). Fields after the seed's
# own are cbdialer's: the contact's number and the raw ids and states, for tools.
SCHEDULED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("campaign_type", "Campaign Type"),
    ("campaign_strategy", "Campaign Strategy"),
    ("campaign_name", "Campaign Name"),
    ("job_id", "Job ID"),
    ("creator_agent_id", "Creator Agent ID"),
    ("callback_id", "Callback ID"),
    ("callback_type", "Callback Type"),
    ("created_for", "Created For Campaign/Agent"),
    ("contact_id", "Contact ID"),
    ("creation_time", "Creation Time"),
    ("scheduled_start_time", "Scheduled Start Time"),
    ("scheduled_end_time", "Scheduled End Time"),
    ("callback_status", "Callback Status"),
    ("serviced_by_agent_id", "Serviced By Agent ID"),
    ("serviced_by_agent_name", "Serviced By Agent Name"),
    ("interaction_attempt_time", "Interaction Attempt Time"),
    ("custom_completion_code", "Custom Completion Code"),
    ("system_completion_code", "System Completion Code"),
    ("dummy_attempt", "Dummy Attempt"),
    ("contact", "Contact Number"),
    ("queue_id", "Queue ID"),
    ("state", "State"),
    ("attempt_id", "Attempt ID"),
    ("origin", "Origin"),  # who asked for the callback: agent, caller or api (docs/design.md section 13)
)
COMPLETED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("callback_id", "Callback ID"),
    ("campaign_type", "Campaign Type"),
    ("campaign_strategy", "Campaign Strategy"),
    ("campaign_name", "Campaign Name"),
    ("contact_id", "Contact ID"),
    ("end_interaction_state", "End Interaction State"),
    ("entrance_time", "Entrance Time"),
    ("last_attempt_time", "Last Attempt Time"),
    ("total_attempts", "Total Attempts"),
    ("attempts", "Attempts"),
    ("recording_transcription", "Recording Transcription"),
    ("completion_status", "Completion Status"),
    ("ended_at", "End Time"),
    ("contact", "Contact Number"),
    ("queue_id", "Queue ID"),
    ("state", "State"),
    ("origin", "Origin"),
)
# One attempt of a completed callback (in CSV, one row per attempt, after the callback's columns).
ATTEMPT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("attempt_time", "Attempt Time"),
    ("agent_name", "Agent Name"),
    ("attempt_state", "Attempt State"),
    ("agent_id", "Agent ID"),
    ("job_id", "Job ID"),
    ("dummy_attempt", "Dummy Attempt"),
)
