"""Every row of docs/design.md section 10's simulated-customer table, originated through the AMI adapter and
the project's callback dialplan, with what Asterisk reported (DIALSTATUS, HANGUPCAUSE, AMDSTATUS)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from cbdialer.adapters.ami import AttemptReport, OriginateRequest
from tests.e2e.conftest import Events


@dataclass(frozen=True)
class Row:
    number: str
    timeout: int
    dial_status: set[str]
    hangup_cause: set[int]
    amd_status: set[str]


ROWS = {
    # 00-19: answers after ~1 s, a person says hello, stays 10 s -> handled
    "hello-00": Row("+442079460000", 15, {"ANSWER"}, {16}, {"HUMAN", "NOTSURE"}),
    "hello-17": Row("+12125550117", 15, {"ANSWER"}, {16}, {"HUMAN", "NOTSURE"}),
    # 20-29: a long voicemail greeting -> answering_machine with AMD on
    "machine-24": Row("+442079460024", 15, {"ANSWER"}, {16}, {"MACHINE"}),
    # 30-39: rings, never answers -> no_answer at the Dial timeout
    "noanswer-36": Row("+442079460036", 3, {"NOANSWER"}, {0, 16, 19}, {""}),
    # 40-49: busy
    "busy-41": Row("+442079460041", 15, {"BUSY"}, {0, 17}, {""}),
    # 50-59: unallocated number, cause 1 -> wrong_destination
    "unallocated-59": Row("+442079460059", 15, {"CHANUNAVAIL", "CONGESTION"}, {1}, {""}),
    # 60-69: congestion, cause 34 -> network_failure
    "congestion-60": Row("+442079460060", 15, {"CHANUNAVAIL", "CONGESTION"}, {34}, {""}),
    # 70-79: answers after 8 s -> no_answer under an 8 s timeout, handled with more
    "late-75-timeout-5": Row("+442079460075", 5, {"NOANSWER"}, {0, 16, 19}, {""}),
    "late-75-timeout-15": Row("+442079460075", 15, {"ANSWER"}, {16}, {"HUMAN", "NOTSURE"}),
    # 80-99: answers after ~1 s and hangs up after 2 s -> handled (AMD sees the hang-up, or silence)
    "short-93": Row("+442079460093", 15, {"ANSWER"}, {16}, {"", "HANGUP", "NOTSURE", "HUMAN"}),
}


async def _call_every_row(ami: Events) -> dict[str, AttemptReport]:
    attempts = {}
    for name, row in ROWS.items():
        attempt = str(uuid.uuid4())
        attempts[attempt] = name
        await ami.link.originate(OriginateRequest(
            channel="PJSIP/agent-1001", channel_id=attempt, context="cbdialer-callback", timeout_ms=10_000,
            variables={"CBDIALER_ATTEMPT": attempt, "CBDIALER_TIMEOUT": str(row.timeout), "CBDIALER_AMD": "on",
                       "CBDIALER_PREVIEW": "disabled",
                       "CBDIALER_CUSTOMER": f"Local/{row.number}@cbdialer-sim-customers"}))

    async def result_of(attempt: str) -> tuple[str, AttemptReport]:
        report = await ami.wait_for(
            lambda e: isinstance(e, AttemptReport) and e.kind == "Result" and e.attempt_id == attempt, timeout=60)
        assert isinstance(report, AttemptReport)
        return attempts[attempt], report

    return dict(await asyncio.gather(*(result_of(a) for a in attempts)))


async def test_every_row_reports_what_the_table_says(ami: Events) -> None:
    reports = await _call_every_row(ami)
    wrong = {
        name: (r.dial_status, r.hangup_cause, r.amd_status)
        for name, r in reports.items()
        if r.dial_status not in ROWS[name].dial_status
        or r.hangup_cause not in ROWS[name].hangup_cause
        or r.amd_status not in ROWS[name].amd_status
    }
    assert wrong == {}
    # Each row was dialled exactly once, on its own customer leg, tied to its attempt by the linked id.
    assert sorted(reports) == sorted(ROWS)


async def test_amd_verdict_comes_before_the_result(ami: Events) -> None:
    attempt = str(uuid.uuid4())
    await ami.link.originate(OriginateRequest(
        channel="PJSIP/agent-1002", channel_id=attempt, context="cbdialer-callback", timeout_ms=10_000,
        variables={"CBDIALER_ATTEMPT": attempt, "CBDIALER_TIMEOUT": "15", "CBDIALER_AMD": "on",
                   "CBDIALER_CUSTOMER": "Local/+442079460022@cbdialer-sim-customers"}))
    await ami.wait_for(lambda e: isinstance(e, AttemptReport) and e.kind == "Result" and e.attempt_id == attempt)
    kinds = [e.kind for e in ami.seen if isinstance(e, AttemptReport) and e.attempt_id == attempt]
    assert kinds == ["AgentAnswered", "Dialing", "CustomerAnswered", "Amd", "Result"]
