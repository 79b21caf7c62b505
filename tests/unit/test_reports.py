"""The reports' words (domain/reports.py): POM's system completion codes for the holds and skips that are dummy
attempts, the callback's status and type as seed 001 writes them, the attempt state of seed 002, a queue's
campaign type and strategy, and each report's columns."""

from __future__ import annotations

import dataclasses

import pytest

from cbdialer.domain.lifecycle import ACTIVE_STATES, TERMINAL_STATES, CallbackState, Reason
from cbdialer.domain.models import CallbackType, CompletionStatus, InteractionState, PreviewMode, QueueSettings
from cbdialer.domain.reports import (
    ATTEMPT_COLUMNS,
    CAMPAIGN_TYPE,
    COMPLETED_COLUMNS,
    DUMMY_REASONS,
    SCHEDULED_COLUMNS,
    SYSTEM_CODES,
    SystemCode,
    attempt_state,
    callback_status,
    callback_type,
    campaign_strategy,
)


def test_the_system_completion_codes_are_poms_five() -> None:
    """Seed 001: Restricted DNC, Restricted Other, Callback Expired, Callback Postponed, Contact Excluded."""
    assert [code.value for code in SystemCode] == [
        "Restricted DNC", "Restricted Other", "Callback Expired", "Callback Postponed", "Contact Excluded"]
    assert set(SYSTEM_CODES.values()) == set(SystemCode)  # each one is given


@pytest.mark.parametrize(("reason", "code"), [
    (Reason.RESTRICTED_DNC, "Restricted DNC"),
    (Reason.RESTRICTED_TIME, "Restricted Other"),
    (Reason.OFF_SCHEDULE, "Restricted Other"),
    (Reason.POSTPONED, "Callback Postponed"),
    (Reason.AGENT_UNAVAILABLE, "Callback Postponed"),
    (Reason.EXPIRED, "Callback Expired"),
    (Reason.CONTACT_EXCLUDED, "Contact Excluded"),
])
def test_each_hold_or_skip_has_its_pom_code(reason: Reason, code: str) -> None:
    assert SYSTEM_CODES[reason] == code and reason in DUMMY_REASONS


@pytest.mark.parametrize("reason", [Reason.DIAL_SLOT_UNAVAILABLE, Reason.DUE, Reason.CREATED, Reason.HANDLED,
                                    Reason.NO_ANSWER, Reason.ABORTED, Reason.CANCELLED, Reason.QUEUE_STOPPED])
def test_a_pacing_wait_a_call_or_a_persons_act_is_no_dummy_attempt(reason: Reason) -> None:
    assert reason not in DUMMY_REASONS


def test_the_callback_status_in_seed_001s_words() -> None:
    assert {callback_status(s) for s in ACTIVE_STATES} == {"Active"}
    assert {s: callback_status(s) for s in TERMINAL_STATES} == {
        CallbackState.COMPLETED: "Completed", CallbackState.FAILED: "Failed", CallbackState.EXPIRED: "Expired",
        CallbackState.CANCELLED: "Cancelled", CallbackState.CANCELLED_BY_INBOUND: "Cancelled By Inbound",
        CallbackState.OVERWRITTEN: "Overwritten", CallbackState.CONTACT_EXCLUDED: "Contact Excluded",
        CallbackState.PURGED: "Purged", CallbackState.QUEUE_TERMINATED: "Campaign Terminated"}


def test_the_callback_type_as_pom_writes_it() -> None:
    assert [callback_type(t) for t in CallbackType] == ["Standard", "Campaign", "Agent", "Strict agent", "Team"]


def test_the_attempt_state_is_how_it_ended_else_where_it_is() -> None:
    assert attempt_state(CompletionStatus.ABORTED, InteractionState.ENDED) == "Aborted"
    assert attempt_state(CompletionStatus.NO_ANSWER, InteractionState.ENDED) == "No Answer"
    assert attempt_state(None, InteractionState.WRAP_UP) == "Wrap Up"
    assert attempt_state(None, None) == "Offered"


def test_a_queues_campaign_type_and_strategy() -> None:
    assert CAMPAIGN_TYPE == "Infinite"
    assert campaign_strategy(QueueSettings()) == "Progressive"
    assert campaign_strategy(QueueSettings(preview_mode=PreviewMode.ALWAYS, amd=True)) == "Preview, AMD"
    assert campaign_strategy(dataclasses.replace(QueueSettings(), preview_mode=PreviewMode.WITH_RECORDING)) == \
        "Preview with recording"
    assert {campaign_strategy(QueueSettings(preview_mode=mode)) for mode in PreviewMode} == {
        "Progressive", "Preview", "Preview with recording"}


def test_seed_001s_fields_in_its_order() -> None:
    seed = ["Campaign Name", "Job ID", "Creator Agent ID", "Callback ID", "Callback Type",
            "Created For Campaign/Agent", "Contact ID", "Creation Time", "Scheduled Start Time", "Scheduled End Time",
            "Callback Status", "Serviced By Agent ID", "Interaction Attempt Time", "Custom Completion Code",
            "System Completion Code"]
    headings = [heading for _, heading in SCHEDULED_COLUMNS]
    assert [h for h in headings if h in seed] == seed
    assert headings[:3] == ["Campaign Type", "Campaign Strategy", "Campaign Name"]  # "in front of" the name


@pytest.mark.parametrize("columns", [SCHEDULED_COLUMNS, COMPLETED_COLUMNS, ATTEMPT_COLUMNS])
def test_a_reports_fields_and_headings_are_each_named_once(columns: tuple[tuple[str, str], ...]) -> None:
    assert len({key for key, _ in columns}) == len({heading for _, heading in columns}) == len(columns)


def test_seed_002s_fields_in_its_order() -> None:
    keys = [key for key, _ in COMPLETED_COLUMNS]
    seed = ["end_interaction_state", "entrance_time", "last_attempt_time", "total_attempts", "attempts",
            "recording_transcription"]
    assert [k for k in keys if k in seed] == seed
    assert [key for key, _ in ATTEMPT_COLUMNS][:3] == ["attempt_time", "agent_name", "attempt_state"]
