"""The reports through the API, as seeds 001 and 002 define them (issue 11, item 8), for every role: each field
of Callbacks Scheduled Details and of Completed Callback Interaction, in JSON and CSV; the job id of a queue
run; the contact id; dummy attempts for holds and skips; the agents' names."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

import cbdialer.services.reports as reports_service
from cbdialer.adapters.db import Database
from cbdialer.domain.models import Callback, CompletionStatus, Queue
from cbdialer.domain.outcomes import after_attempt
from cbdialer.domain.routing import AgentView
from cbdialer.scheduler import Scheduler
from tests.support.api_client import Api, open_api
from tests.support.recording_dialer import RecordingDialer

LEASE = timedelta(seconds=30)
ROLES = ["admin", "supervisor", "agent1001"]
# Seed 001's fields, in its order (the campaign's type and strategy "in front of the campaign name"), then ours.
SCHEDULED_FIELDS = [
    "campaign_type", "campaign_strategy", "campaign_name", "job_id", "creator_agent_id", "callback_id",
    "callback_type", "created_for", "contact_id", "creation_time", "scheduled_start_time", "scheduled_end_time",
    "callback_status", "serviced_by_agent_id", "serviced_by_agent_name", "interaction_attempt_time",
    "custom_completion_code", "system_completion_code", "dummy_attempt", "contact", "queue_id", "state", "attempt_id",
    "origin"]
SCHEDULED_HEADINGS = [
    "Campaign Type", "Campaign Strategy", "Campaign Name", "Job ID", "Creator Agent ID", "Callback ID",
    "Callback Type", "Created For Campaign/Agent", "Contact ID", "Creation Time", "Scheduled Start Time",
    "Scheduled End Time", "Callback Status", "Serviced By Agent ID", "Serviced By Agent Name",
    "Interaction Attempt Time", "Custom Completion Code", "System Completion Code", "Dummy Attempt",
    "Contact Number", "Queue ID", "State", "Attempt ID", "Origin"]
# Seed 002's: the end interaction state, the entrance time, the last attempt time, the attempts (each with its
# time, agent name and state), the recording's transcription (the remark); after the callback's own.
COMPLETED_FIELDS = [
    "callback_id", "campaign_type", "campaign_strategy", "campaign_name", "contact_id", "end_interaction_state",
    "entrance_time", "last_attempt_time", "total_attempts", "attempts", "recording_transcription",
    "completion_status", "ended_at", "contact", "queue_id", "state", "origin"]
ATTEMPT_FIELDS = ["attempt_time", "agent_name", "attempt_state", "agent_id", "job_id", "dummy_attempt"]


@pytest.fixture
async def api(db: Database) -> AsyncIterator[Api]:
    async for opened in open_api(db):
        # Noon tomorrow: inside the calling window of the UK numbers, whenever the tests run.
        opened.clock.now = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), time(12), UTC)
        yield opened


def period(api: Api, **filters: str) -> dict[str, str]:
    return {"from": (api.clock.now - timedelta(hours=3)).isoformat(),
            "to": (api.clock.now + timedelta(hours=3)).isoformat(), **filters}


async def report(api: Api, name: str, role: str = "supervisor", **filters: str) -> list[dict[str, Any]]:
    body = await api.call("GET", f"/reports/{name}-callbacks", role, params=period(api, **filters), expect=200)
    assert body["total_records"] == len(body["records"])
    return body["records"]


def when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None


async def attempt(api: Api, callback_id: str, agent: str, status: CompletionStatus, *, seconds: int = 30,
                  disposition: CompletionStatus | None = None) -> tuple[str, datetime]:
    """One attempt of the due callback, by `agent`, from now, ended `seconds` later in `status` (with the
    agent's `disposition`, set in the wrap-up); the clock moves to its end. Returns its id and start."""
    store, owner, started_at = api.db.store(), uuid.uuid4(), api.clock.now
    claimed = await store.claim_due(owner, now=started_at, limit=10, lease=LEASE)
    [callback] = [c for c in claimed if str(c.id) == callback_id]
    attempt_id = uuid.uuid4()
    started = await store.start_attempt(callback, attempt_id=attempt_id, agent_id=agent, owner=owner,
                                        now=started_at, lease=LEASE, reserve_until=started_at + 2 * LEASE,
                                        actor="test", max_calls=100, calls_per_second=1000.0)
    live: Callback = started.callback
    api.clock.now += timedelta(seconds=seconds)
    if disposition is not None:
        assert await store.record_result(attempt_id, agent_id=agent, heard_at=api.clock.now, dial_status="ANSWER",
                                         hangup_cause=16, amd_status="", wrap_up_until=api.clock.now,
                                         status=status)
        assert await store.set_disposition(live.id, disposition)
    settings = (await store.get_queue(live.queue_id) or Queue(id="", name="")).settings
    step = after_attempt(live, settings, status, now=api.clock.now, reopens_at=api.clock.now + timedelta(hours=1))
    await store.end_attempt(attempt_id, agent_id=agent, owner=owner, now=api.clock.now, wrap_up_until=api.clock.now,
                            step=step, dial_status="ANSWER" if status is CompletionStatus.HANDLED else "NOANSWER",
                            hangup_cause=16, amd_status="", actor="test")
    return str(attempt_id), started_at


async def named(api: Api) -> None:
    for agent, name in (("1001", "Ann Smith"), ("1002", "Bob Brown")):
        assert (await api.call("PATCH", f"/agents/{agent}", json={"name": name}, expect=200))["name"] == name
    await api.call("PATCH", "/queues/sales", json={"preview_mode": "always", "amd": True}, expect=200)


@pytest.mark.parametrize("role", ROLES)
async def test_the_scheduled_report_has_seed_001s_fields_one_row_per_attempt(api: Api, role: str) -> None:
    await named(api)
    made = api.clock.now
    a = await api.call("POST", "/callbacks", "agent1001", json={
        "queue": "sales", "destination": "+442079460012", "type": "strict_agent", "agent": "1001", "start_in": 1},
        expect=201)
    api.clock.now += timedelta(seconds=1)  # the report lists by creation time
    b = await api.call("POST", "/callbacks", json={"queue": "support", "destination": "+442079460024",
                                                   "start_in": 600}, expect=201)
    api.clock.now += timedelta(seconds=4)
    first, first_at = await attempt(api, a["id"], "1002", CompletionStatus.NO_ANSWER)
    api.clock.now = when((await api.call("GET", f"/callbacks/{a['id']}"))["due_at"])
    second, second_at = await attempt(api, a["id"], "1001", CompletionStatus.HANDLED,
                                      disposition=CompletionStatus.HANDLED)
    if role.startswith("agent"):
        for path in ("/reports/scheduled-callbacks", "/reports/completed-callbacks", "/contacts/+442079460012"):
            assert (await api.call("GET", path, role, expect=403))["error"] == "forbidden"
        return
    rows = await report(api, "scheduled", role)
    assert [list(r) for r in rows] == [SCHEDULED_FIELDS] * 3
    row_a1, row_a2, row_b = rows
    common = {"campaign_type": "Infinite", "campaign_strategy": "Preview, AMD", "campaign_name": "Sales",
              "creator_agent_id": "1001", "callback_id": a["id"], "callback_type": "Strict agent",
              "created_for": "1001", "creation_time": made, "scheduled_start_time": made + timedelta(seconds=1),
              "scheduled_end_time": made + timedelta(seconds=1, minutes=300), "callback_status": "Completed",
              "dummy_attempt": False, "contact": "+442079460012", "queue_id": "sales", "state": "completed",
              "origin": "agent"}
    for row, expected in ((row_a1, {"serviced_by_agent_id": "1002", "serviced_by_agent_name": "Bob Brown",
                                    "interaction_attempt_time": first_at, "custom_completion_code": None,
                                    "system_completion_code": "No Answer", "attempt_id": first}),
                          (row_a2, {"serviced_by_agent_id": "1001", "serviced_by_agent_name": "Ann Smith",
                                    "interaction_attempt_time": second_at, "custom_completion_code": "Handled",
                                    "system_completion_code": "Handled", "attempt_id": second})):
        got = {k: when(v) if k.endswith("_time") else v for k, v in row.items()}
        assert got == common | expected | {"job_id": row_a1["job_id"], "contact_id": row_a1["contact_id"]}
    assert type(row_a1["job_id"]) is int and row_a2["job_id"] == row_a1["job_id"]
    assert {k: row_b[k] for k in ("campaign_strategy", "callback_type", "created_for", "callback_status",
                                  "creator_agent_id", "serviced_by_agent_name", "interaction_attempt_time",
                                  "system_completion_code", "attempt_id")} == {
        "campaign_strategy": "Progressive", "callback_type": "Standard", "created_for": "Support",
        "callback_status": "Active", "creator_agent_id": None, "serviced_by_agent_name": None,
        "interaction_attempt_time": None, "system_completion_code": None, "attempt_id": None}
    assert row_b["callback_id"] == b["id"] and row_b["job_id"] not in (None, row_a1["job_id"])
    assert row_b["contact_id"] != row_a1["contact_id"]
    # The agent filter is the creator's (seed 001), the queue filter the queue's.
    assert [r["callback_id"] for r in await report(api, "scheduled", role, agent="1001")] == [a["id"]] * 2
    assert [r["callback_id"] for r in await report(api, "scheduled", role, queue="support")] == [b["id"]]
    text = await api.call("GET", "/reports/scheduled-callbacks", role, params={**period(api), "format": "csv"},
                          expect=200)
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == SCHEDULED_HEADINGS and len(table) == 4
    assert dict(zip(table[0], table[2], strict=True)) | {"Job ID": "", "Contact ID": ""} == {
        "Campaign Type": "Infinite", "Campaign Strategy": "Preview, AMD", "Campaign Name": "Sales", "Job ID": "",
        "Creator Agent ID": "1001", "Callback ID": a["id"], "Callback Type": "Strict agent",
        "Created For Campaign/Agent": "1001", "Contact ID": "", "Creation Time": made.isoformat(),
        "Scheduled Start Time": (made + timedelta(seconds=1)).isoformat(),
        "Scheduled End Time": (made + timedelta(seconds=1, minutes=300)).isoformat(),
        "Callback Status": "Completed", "Serviced By Agent ID": "1001", "Serviced By Agent Name": "Ann Smith",
        "Interaction Attempt Time": second_at.isoformat(), "Custom Completion Code": "Handled",
        "System Completion Code": "Handled", "Dummy Attempt": "False", "Contact Number": "+442079460012",
        "Queue ID": "sales", "State": "completed", "Attempt ID": second, "Origin": "agent"}
    assert table[2][3] == str(row_a1["job_id"])


@pytest.mark.parametrize("role", ROLES)
async def test_the_completed_report_has_seed_002s_fields_and_every_attempt(api: Api, role: str) -> None:
    """Every attempt's time, agent name and state, Aborted included (seed 002: cut short by the schedule)."""
    await named(api)
    made = api.clock.now
    c = await api.call("POST", "/callbacks", json={"queue": "sales", "destination": "+442079460033",
                                                   "start_in": 1, "remark": "about the invoice"}, expect=201)
    api.clock.now += timedelta(seconds=5)
    _, first_at = await attempt(api, c["id"], "1001", CompletionStatus.NO_ANSWER)
    api.clock.now = when((await api.call("GET", f"/callbacks/{c['id']}"))["due_at"])
    _, second_at = await attempt(api, c["id"], "1002", CompletionStatus.ABORTED, seconds=3)
    await api.call("POST", f"/callbacks/{c['id']}/cancel", expect=200)
    ended = api.clock.now
    if role.startswith("agent"):
        await api.call("GET", "/reports/completed-callbacks", role, expect=403)
        return
    [record] = await report(api, "completed", role)
    assert list(record) == COMPLETED_FIELDS and [list(a) for a in record["attempts"]] == [ATTEMPT_FIELDS] * 2
    job = record["attempts"][0]["job_id"]
    assert type(job) is int and type(record["contact_id"]) is int
    assert {k: when(v) if k.endswith(("_time", "_at")) else v for k, v in record.items() if k != "attempts"} == {
        "callback_id": c["id"], "campaign_type": "Infinite", "campaign_strategy": "Preview, AMD",
        "campaign_name": "Sales", "contact_id": record["contact_id"], "end_interaction_state": "Cancelled",
        "entrance_time": made, "last_attempt_time": second_at, "total_attempts": 2,
        "recording_transcription": "about the invoice", "completion_status": "Aborted", "ended_at": ended,
        "contact": "+442079460033", "queue_id": "sales", "state": "cancelled", "origin": "api"}
    assert [{**a, "attempt_time": when(a["attempt_time"])} for a in record["attempts"]] == [
        {"attempt_time": first_at, "agent_name": "Ann Smith", "attempt_state": "No Answer", "agent_id": "1001",
         "job_id": job, "dummy_attempt": False},
        {"attempt_time": second_at, "agent_name": "Bob Brown", "attempt_state": "Aborted", "agent_id": "1002",
         "job_id": job, "dummy_attempt": False}]
    assert [r["callback_id"] for r in await report(api, "completed", role, agent="1002")] == [c["id"]]
    assert await report(api, "completed", role, agent="1003") == []
    text = await api.call("GET", "/reports/completed-callbacks", role, params={**period(api), "format": "csv"},
                          expect=200)
    table = list(csv.DictReader(io.StringIO(text)))
    assert [(r["Callback ID"], r["Attempt Time"], r["Agent Name"], r["Attempt State"]) for r in table] == [
        (c["id"], first_at.isoformat(), "Ann Smith", "No Answer"), (c["id"], second_at.isoformat(), "Bob Brown",
                                                                     "Aborted")]
    assert table[0]["End Interaction State"] == "Cancelled" and table[0]["Total Attempts"] == "2"


async def test_a_job_id_is_a_queue_run_and_changes_after_a_stop_and_a_start(api: Api) -> None:
    c = await api.call("POST", "/callbacks", json={"queue": "sales", "destination": "+442079460033",
                                                   "start_in": 1}, expect=201)
    api.clock.now += timedelta(seconds=5)
    await attempt(api, c["id"], "1001", CompletionStatus.NO_ANSWER)
    await api.call("POST", "/queues/sales/stop", "supervisor", expect=200)
    api.clock.now += timedelta(minutes=1)
    await api.call("POST", "/queues/sales/start", "supervisor", expect=200)
    api.clock.now = when((await api.call("GET", f"/callbacks/{c['id']}"))["due_at"])
    await attempt(api, c["id"], "1001", CompletionStatus.NO_ANSWER)
    await api.call("POST", "/queues/sales/start", "admin", expect=200)  # running already: the same run
    api.clock.now = when((await api.call("GET", f"/callbacks/{c['id']}"))["due_at"])
    await attempt(api, c["id"], "1002", CompletionStatus.NO_ANSWER)
    jobs = [r["job_id"] for r in await report(api, "scheduled")]
    assert len(jobs) == 3 and jobs[0] != jobs[1] == jobs[2] and all(type(j) is int for j in jobs)


@pytest.mark.parametrize("role", ROLES)
async def test_a_contact_id_is_shared_by_the_callbacks_of_one_number(api: Api, role: str) -> None:
    sales = await api.call("POST", "/callbacks", json={"queue": "sales", "destination": "+442079460012",
                                                       "start_in": 600}, expect=201)
    api.clock.now += timedelta(seconds=1)
    support = await api.call("POST", "/callbacks", json={"queue": "support", "destination": "+44 20 7946 0012",
                                                         "start_in": 600}, expect=201)
    other = await api.call("POST", "/callbacks", json={"queue": "sales", "destination": "+442079460024",
                                                       "start_in": 600}, expect=201)
    if role.startswith("agent"):
        await api.call("GET", "/contacts/+442079460012", role, expect=403)
        return
    ids = {r["callback_id"]: r["contact_id"] for r in await report(api, "scheduled", role)}
    assert ids[sales["id"]] == ids[support["id"]] != ids[other["id"]]
    contact = await api.call("GET", "/contacts/+44 20 7946 0012", role, expect=200)
    assert (contact["contact_id"], contact["number"]) == (ids[sales["id"]], "+442079460012")
    assert [c["id"] for c in contact["callbacks"]] == [support["id"], sales["id"]]  # newest first
    assert (await api.call("GET", "/contacts/+442079460099", role, expect=404))["error"] == "not_found"
    assert (await api.call("GET", "/contacts/12", role, expect=422))["field"] == "number"


class NoAgents:
    async def pool_for(self, queue: Queue, callback: Callback) -> list[AgentView]:
        return []

    def free_agents(self) -> int | None:
        return None

    def next_free_at(self) -> datetime | None:
        return None


async def test_a_dnc_hold_and_a_postponement_are_dummy_attempts(api: Api) -> None:
    """Seed 001: "POM assigns some of the completion codes to dummy attempts": the scheduler holds a number on
    the DNC list (Restricted DNC), then finds no agent (Callback Postponed); nobody is dialled."""
    c = await api.call("POST", "/callbacks", json={"queue": "sales", "destination": "+442079460045",
                                                   "start_in": 1}, expect=201)
    await api.call("POST", "/dnc/+442079460045", expect=201)
    scheduler = Scheduler(api.db.store(), RecordingDialer(), NoAgents(), owner=uuid.uuid4(), clock=api.clock)
    api.clock.now += timedelta(seconds=5)
    dnc_at = api.clock.now
    assert await scheduler.tick() == 1
    await api.call("DELETE", "/dnc/+442079460045", expect=200)
    api.clock.now = when((await api.call("GET", f"/callbacks/{c['id']}"))["due_at"])
    postponed_at = api.clock.now
    assert await scheduler.tick() == 1
    rows = await report(api, "scheduled")
    assert [(when(r["interaction_attempt_time"]), r["system_completion_code"], r["dummy_attempt"],
             r["serviced_by_agent_id"], r["custom_completion_code"]) for r in rows] == [
        (dnc_at, "Restricted DNC", True, None, None), (postponed_at, "Callback Postponed", True, None, None)]
    assert all(type(r["job_id"]) is int for r in rows)
    await api.call("POST", f"/callbacks/{c['id']}/cancel", expect=200)
    [record] = await report(api, "completed")
    assert [(a["attempt_state"], a["agent_name"], a["dummy_attempt"]) for a in record["attempts"]] == [
        ("Restricted DNC", None, True), ("Callback Postponed", None, True)]
    assert record["total_attempts"] == 2


async def test_an_agent_has_a_name_bounded_and_checked(api: Api) -> None:
    created = await api.call("POST", "/agents", json={"id": "2001", "dial_string": "PJSIP/agent-2001"}, expect=201)
    assert created["name"] == "2001"  # unnamed: named by its id
    named = await api.call("POST", "/agents", json={"id": "2002", "dial_string": "PJSIP/agent-2002",
                                                    "name": "Dana Lee"}, expect=201)
    assert named["name"] == "Dana Lee"
    for body in ({"name": "x" * 101}, {"name": ""}, {"name": "Eve\nMallory"}, {"name": "Tab\there"}, {"name": 5}):
        error = await api.call("PATCH", "/agents/2002", json=body, expect=422)
        assert error["field"] == "name", (body, error)
    error = await api.call("POST", "/agents", json={"id": "2003", "dial_string": "PJSIP/agent-2003",
                                                    "name": "a\x00b"}, expect=422)
    assert error["field"] == "name"
    await api.call("GET", "/agents/2003", expect=404)  # nothing stored
    assert (await api.call("GET", "/agents/2002"))["name"] == "Dana Lee"
    assert (await api.call("PATCH", "/agents/2002", "supervisor", json={"name": "  Dana Lee-Smith "},
                           expect=200))["name"] == "Dana Lee-Smith"
    assert (await api.call("GET", "/agents/1001", "agent1001"))["name"] == ""  # the fixture's, stored unnamed


async def test_a_preview_asks_for_a_few_records_and_is_told_when_there_are_more(api: Api) -> None:
    """The supervisor's page shows the first records (limit), and says so when more match (truncated); a
    completed callback is never cut between its attempts."""
    made = []
    for number in ("+442079460071", "+442079460072", "+442079460073"):
        made.append(await api.call("POST", "/callbacks", json={"queue": "sales", "destination": number,
                                                               "start_in": 1}, expect=201))
        api.clock.now += timedelta(seconds=1)
    api.clock.now += timedelta(seconds=5)
    await attempt(api, made[0]["id"], "1001", CompletionStatus.NO_ANSWER)
    for c in made:
        await api.call("POST", f"/callbacks/{c['id']}/cancel", expect=200)
        api.clock.now += timedelta(seconds=1)

    async def preview(name: str, limit: int) -> tuple[list[str], bool]:
        body = await api.call("GET", f"/reports/{name}-callbacks", params={**period(api), "limit": str(limit)},
                              expect=200)
        assert body["total_records"] == len(body["records"])
        return [r["callback_id"] for r in body["records"]], body["truncated"]

    ids = [c["id"] for c in made]
    assert await preview("scheduled", 2) == (ids[:2], True)  # one row per attempt: the first's one, the second
    assert await preview("scheduled", 3) == (ids, False)
    assert await preview("completed", 1) == (ids[:1], True)
    completed = await api.call("GET", "/reports/completed-callbacks", params={**period(api), "limit": "1"})
    assert completed["records"][0]["total_attempts"] == 1  # whole, with its attempt
    assert await preview("completed", 3) == (ids, False)
    assert await preview("completed", 100_000) == (ids, False)
    response = await api.client.get("/api/v1/reports/scheduled-callbacks", headers=api.auth("admin"),
                                    params={**period(api), "format": "csv", "limit": "1"})
    assert (response.status, response.headers["X-Truncated"], response.headers["X-Total-Records"]) == (200, "true", "1")
    for bad in ("0", "100001", "many"):
        error = await api.call("GET", "/reports/completed-callbacks", params={**period(api), "limit": bad},
                               expect=422)
        assert error["field"] == "limit"


async def test_a_completed_report_of_exactly_the_row_cap_is_whole(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cap on rows (one per attempt) cuts a report only when more rows than the cap match: one of exactly the
    cap's rows is whole, and says so."""
    made = []
    for number in ("+442079460081", "+442079460082"):
        made.append(await api.call("POST", "/callbacks", json={"queue": "sales", "destination": number,
                                                               "start_in": 1}, expect=201))
    api.clock.now += timedelta(seconds=5)
    await attempt(api, made[0]["id"], "1001", CompletionStatus.NO_ANSWER)
    for c in made:
        await api.call("POST", f"/callbacks/{c['id']}/cancel", expect=200)
    whole = await api.call("GET", "/reports/completed-callbacks", params=period(api), expect=200)
    rows = sum(max(1, r["total_attempts"]) for r in whole["records"])
    seen = {}
    for cap in range(1, rows + 2):
        monkeypatch.setattr(reports_service, "MAX_REPORT_ROWS", cap)
        body = await api.call("GET", "/reports/completed-callbacks", expect=200,
                              params={**period(api), "limit": str(min(cap, 2))})  # the limit is capped too
        seen[cap] = (len(body["records"]), body["truncated"])
    assert seen[rows] == seen[rows + 1] == (2, False)
    assert seen[rows - 1][1] is True
