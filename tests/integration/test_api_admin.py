"""The admin API beyond callbacks: queues, agents and teams, lists, reports, metrics, health, and every role
on every route (docs/design.md section 13, issue 5)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cbdialer.adapters.db import Database
from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import CompletionStatus
from cbdialer.domain.outcomes import NextStep
from tests.support.api_client import Api, open_api

# A queue whose pacing never gets in the way of these tests (its own tests are in test_pacing.py).
PACING = {"max_calls": 100, "calls_per_second": 1000.0}


@pytest.fixture
async def api(db: Database) -> AsyncIterator[Api]:
    async for opened in open_api(db, presence=lambda dial: "NOT_INUSE" if dial.endswith("1001") else "UNAVAILABLE"):
        yield opened


async def test_a_queue_holds_every_setting_under_its_design_name(api: Api) -> None:
    body = {"id": "billing", "name": "Billing", "duration_for_no_answer": 25, "attempts_before_failure": 4,
            "recall_intervals": [60, 600], "retry_interval": 900, "default_end_offset": 7200,
            "strict_agent_max_retries": 2, "callbacks_in_agent_queue": 5, "preview_mode": "always",
            "max_preview_time": 15, "amd": True, "calling_window": {"start": "09:00", "end": "20:30"},
            "apply_dnc": False, "schedule": {"timezone": "Europe/London",
                                             "weekly": [{"weekday": 0, "start": "08:00", "end": "18:00"}],
                                             "closed_dates": ["2026-12-25"]},
            "caller_id": "+442079460000", "customer_dial_string": "PJSIP/{number}@trunk",
            "max_concurrent_calls": 7, "calls_per_second": 2.5, "skills": ["fr"]}
    created = await api.call("POST", "/queues", json=body, expect=201)
    settings = created["settings"]
    for name, value in body.items():
        if name not in ("id", "name", "skills"):
            assert settings[name] == value, name
    assert created["skills"] == ["fr"] and created["status"] in ("active", "off_schedule")
    assert await api.call("GET", "/queues/billing", expect=200) == created
    await api.call("POST", "/queues", json=body, expect=409)
    patched = await api.call("PATCH", "/queues/billing", json={"duration_for_no_answer": 40}, expect=200)
    assert patched["settings"]["duration_for_no_answer"] == 40 and patched["settings"]["amd"] is True
    assert [q["id"] for q in await api.call("GET", "/queues", expect=200)] == ["billing", "sales", "support"]


async def test_the_time_restriction_is_a_queue_setting_on_by_default(api: Api) -> None:
    assert (await api.call("GET", "/queues/sales"))["settings"]["time_restriction"] is True
    patched = await api.call("PATCH", "/queues/sales", "supervisor", json={"time_restriction": False}, expect=200)
    assert patched["settings"]["time_restriction"] is False
    error = await api.call("PATCH", "/queues/sales", json={"time_restriction": "no"}, expect=422)
    assert error["field"] == "time_restriction"


@pytest.mark.parametrize(("body", "field"), [
    ({"duration_for_no_answer": 0}, "duration_for_no_answer"),
    ({"calling_window": {"start": "21:00", "end": "08:00"}}, "calling_window"),
    ({"customer_dial_string": "PJSIP/trunk"}, "customer_dial_string"),
    ({"schedule": {"timezone": "Nowhere/Land"}}, "schedule.timezone"),
    ({"preview_mode": "sometimes"}, "preview_mode"),
    ({"recall_intervals": []}, "recall_intervals"),
    ({"bogus": 1}, "bogus"),
])
async def test_bad_queue_settings_name_the_field(api: Api, body: dict, field: str) -> None:
    error = await api.call("PATCH", "/queues/sales", json=body, expect=422)
    assert error["field"] == field, error
    assert (await api.call("GET", "/queues/sales"))["settings"]["duration_for_no_answer"] == 60


async def test_stopping_a_queue_parks_its_callbacks_and_starting_resumes_them(api: Api) -> None:
    created = await api.call("POST", "/callbacks", json={"queue": "sales", "destination": "+442079460012",
                                                         "start_in": 60}, expect=201)
    stopped = await api.call("POST", "/queues/sales/stop", expect=200)
    assert stopped["queue"]["status"] == "stopped" and stopped["callbacks_moved"] == 1
    assert (await api.call("GET", f"/callbacks/{created['id']}"))["state"] == "waiting_for_queue"
    later = await api.call("POST", "/callbacks", json={"queue": "sales", "destination": "+442079460024",
                                                       "start_in": 60}, expect=201)
    assert later["state"] == "waiting_for_queue"
    started = await api.call("POST", "/queues/sales/start", expect=200)
    assert started["callbacks_moved"] == 2 and started["queue"]["status"] != "stopped"
    assert (await api.call("GET", f"/callbacks/{created['id']}"))["state"] == "scheduled"
    await api.call("POST", "/queues/nowhere/stop", expect=404)


async def test_a_terminated_queue_ends_its_callbacks_and_takes_no_more(api: Api) -> None:
    waiting = await api.call("POST", "/callbacks", json={"queue": "support", "destination": "+442079460012",
                                                         "start_in": 60}, expect=201)
    done = await api.call("POST", "/queues/support/terminate", "supervisor", expect=200)
    assert done["queue"]["status"] == "terminated" and done["callbacks_moved"] == 1
    found = await api.call("GET", f"/callbacks/{waiting['id']}")
    assert (found["state"], found["reason"]) == ("queue_terminated", "queue_terminated")
    await api.call("POST", "/queues/support/terminate", expect=409)
    await api.call("POST", "/queues/support/start", expect=409)
    await api.call("POST", "/queues/nowhere/terminate", expect=404)
    await api.call("POST", "/queues/support/terminate", "agent1001", expect=403)
    error = await api.call("POST", "/callbacks", json={"queue": "support", "destination": "+442079460024",
                                                       "start_in": 60}, expect=422)
    assert error["field"] == "queue" and "terminated" in error["message"]
    report = await api.call("GET", "/reports/scheduled-callbacks", params={
        "from": (api.clock.now - timedelta(minutes=1)).isoformat(),
        "to": (api.clock.now + timedelta(minutes=1)).isoformat()})
    assert [r["callback_status"] for r in report["records"]] == ["Campaign Terminated"]


async def test_queue_metrics_for_the_shift(api: Api) -> None:
    store = api.db.store()
    owner = uuid.uuid4()
    ids = []
    for number in ("+442079460012", "+442079460033", "+442079460045"):
        ids.append((await api.call("POST", "/callbacks", json={"queue": "sales", "destination": number,
                                                              "start_in": 1}, expect=201))["id"])
    await api.call("POST", f"/callbacks/{ids[2]}/purge", expect=200)
    api.clock.now += timedelta(seconds=5)
    claimed = await store.claim_due(owner, now=api.clock.now, limit=10, lease=timedelta(seconds=30))
    for callback, dial in zip(sorted(claimed, key=lambda c: c.destination), ("ANSWER", "NOANSWER"), strict=True):
        attempt = uuid.uuid4()
        await store.start_attempt(callback, attempt_id=attempt, agent_id="1001", owner=owner, now=api.clock.now,
                                  lease=timedelta(seconds=30), reserve_until=api.clock.now + timedelta(minutes=1),
                                  actor="test", **PACING)
        status = CompletionStatus.HANDLED if dial == "ANSWER" else CompletionStatus.NO_ANSWER
        step = NextStep(status=status, reason=Reason(status.value),
                        state=CallbackState.COMPLETED if dial == "ANSWER" else CallbackState.SCHEDULED,
                        due_at=None if dial == "ANSWER" else api.clock.now + timedelta(hours=1),
                        counted=dial != "ANSWER", attempts_count=0 if dial == "ANSWER" else 1, network_failures=0)
        await store.end_attempt(attempt, agent_id="1001", owner=owner, now=api.clock.now + timedelta(seconds=40),
                                wrap_up_until=api.clock.now, step=step, dial_status=dial, hangup_cause=16,
                                amd_status="", actor="test")
    metrics = await api.call("GET", "/queues/sales/metrics", "supervisor", expect=200)
    assert [row for row in await api.call("GET", "/monitor", "supervisor", expect=200)
            if row["queue"] == "sales"] == [metrics]  # the monitor's row is the same
    assert metrics["processed"] == 2 and metrics["purged"] == 1 and metrics["to_be_processed"] == 1
    assert metrics["percent_reached"] == 50.0 and metrics["percent_failed"] == 50.0
    assert metrics["average_handle_time"] == 40.0 and metrics["status"] in ("active", "off_schedule")
    report = await api.call("GET", "/reports/completed-callbacks", params={"to": (
        api.clock.now + timedelta(minutes=5)).isoformat()}, expect=200)
    assert report["total_records"] == 2  # the handled one and the purged one
    by_state = {r["state"]: r for r in report["records"]}
    assert by_state["completed"]["attempts"][0]["agent_id"] == "1001"
    assert by_state["completed"]["attempts"][0]["attempt_state"] == "Handled"
    assert by_state["purged"]["attempts"] == [] and by_state["purged"]["last_attempt_time"] is None


async def test_agents_teams_ready_and_the_callback_panel(api: Api) -> None:
    created = await api.call("POST", "/agents", json={"id": "2001", "dial_string": "PJSIP/agent-2001",
                                                      "queues": ["sales"], "skills": ["fr"], "teams": ["blue"]},
                             expect=201)
    assert created["ready"] is True and created["teams"] == ["blue"] and created["presence"] == "UNAVAILABLE"
    await api.call("POST", "/agents", json={"id": "2001", "dial_string": "PJSIP/x"}, expect=409)
    error = await api.call("POST", "/agents", json={"id": "2002", "dial_string": "PJSIP/x", "queues": ["nope"]},
                           expect=422)
    assert error["field"] == "queues"
    assert (await api.call("GET", "/agents/2002", expect=404))["error"] == "not_found"
    error = await api.call("POST", "/agents", json={"id": "2003", "dial_string": "no slash"}, expect=422)
    assert error["field"] == "dial_string"
    patched = await api.call("PATCH", "/agents/2001", json={"queues": ["support"]}, expect=200)
    assert patched["queues"] == ["support"] and patched["skills"] == ["fr"]
    assert (await api.call("PUT", "/agents/1001/ready", "agent1001", json={"ready": False}, expect=200))[
        "ready"] is False
    await api.call("PUT", "/agents/1002/ready", "agent1001", json={"ready": False}, expect=404)
    assert (await api.call("GET", "/agents/1001", "agent1001", expect=200))["presence"] == "NOT_INUSE"
    await api.call("POST", "/teams", json={"id": "red", "name": "Red"}, expect=201)
    await api.call("POST", "/teams", json={"id": "red", "name": "Red"}, expect=409)
    assert (await api.call("PATCH", "/teams/red", json={"name": "Crimson"}, expect=200))["name"] == "Crimson"
    assert [t["id"] for t in await api.call("GET", "/teams", expect=200)] == ["blue", "red"]
    mine = await api.call("POST", "/callbacks", "agent1001", json={
        "queue": "sales", "destination": "+442079460012", "type": "agent", "agent": "1001", "start_in": 600},
        expect=201)
    panel = await api.call("GET", "/agents/1001/callbacks", "agent1001", expect=200)
    assert panel["pending"] == 1 and panel["callbacks"][0]["id"] == mine["id"]
    await api.call("GET", "/agents/1001/callbacks", "agent1002", expect=404)


async def test_dnc_and_exclusion_lists(api: Api) -> None:
    added = await api.call("POST", "/dnc/+44 20 7946 0012", expect=201)
    assert added == {"number": "+442079460012", "list": "dnc"}
    assert [n["number"] for n in await api.call("GET", "/dnc", expect=200)] == ["+442079460012"]
    await api.call("DELETE", "/dnc/+442079460012", expect=200)
    await api.call("DELETE", "/dnc/+442079460012", expect=404)
    assert (await api.call("POST", "/exclusions/12", expect=422))["field"] == "number"
    await api.call("POST", "/exclusions/+442079460024", expect=201)
    assert len(await api.call("GET", "/exclusions", expect=200)) == 1


async def test_an_excluded_number_ends_its_waiting_callbacks_at_once(api: Api) -> None:
    """Seed 000: adding a number to the exclusion list marks its active callbacks contact_excluded."""
    def create(queue: str, number: str) -> Any:
        return api.call("POST", "/callbacks", json={"queue": queue, "destination": number, "start_in": 60},
                        expect=201)
    sales, support = await create("sales", "+442079460024"), await create("support", "+442079460024")
    other = await create("sales", "+442079460033")
    await api.call("POST", "/exclusions/+44 20 7946 0024", "supervisor", expect=201)
    for excluded in (sales, support):
        found = await api.call("GET", f"/callbacks/{excluded['id']}")
        assert (found["state"], found["reason"]) == ("contact_excluded", "contact_excluded")
        last = (await api.call("GET", f"/callbacks/{excluded['id']}/history"))[-1]
        assert (last["from_state"], last["to_state"], last["actor"].split(":")[0]) == (
            "scheduled", "contact_excluded", "supervisor")
    assert (await api.call("GET", f"/callbacks/{other['id']}"))["state"] == "scheduled"
    # The DNC list holds a callback (restricted_dnc at its due time); it does not end it.
    await api.call("POST", "/dnc/+442079460033", expect=201)
    assert (await api.call("GET", f"/callbacks/{other['id']}"))["state"] == "scheduled"


async def test_the_scheduled_callbacks_report_in_json_and_csv(api: Api) -> None:
    made = await api.call("POST", "/callbacks", "agent1001", json={
        "queue": "sales", "destination": "+442079460012", "type": "strict_agent", "agent": "1002",
        "start_in": 600, "remark": "call after lunch"}, expect=201)
    await api.call("POST", "/callbacks", json={"queue": "support", "destination": "+442079460024",
                                               "start_in": 600}, expect=201)
    window = {"from": (api.clock.now - timedelta(minutes=1)).isoformat(),
              "to": (api.clock.now + timedelta(minutes=1)).isoformat()}
    report = await api.call("GET", "/reports/scheduled-callbacks", "supervisor",
                            params={**window, "agent": "1001"}, expect=200)
    assert report["total_records"] == 1 and report["filters"] == {"agent": "1001"}
    (record,) = report["records"]
    assert record["callback_id"] == made["id"] and record["creator_agent_id"] == "1001"
    assert record["callback_type"] == "Strict agent" and record["created_for"] == "1002"
    assert record["callback_status"] == "Active" and record["campaign_name"] == "Sales"
    for name in ("contact", "creation_time", "scheduled_start_time", "scheduled_end_time", "serviced_by_agent_id",
                 "interaction_attempt_time", "custom_completion_code", "system_completion_code", "queue_id"):
        assert name in record
    text = await api.call("GET", "/reports/scheduled-callbacks", "supervisor", params={**window, "format": "csv"},
                          expect=200)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 2 and {r["Queue ID"] for r in rows} == {"sales", "support"}
    error = await api.call("GET", "/reports/scheduled-callbacks", params={"from": window["to"], "to": window["from"]},
                           expect=422)
    assert error["field"] == "from"
    error = await api.call("GET", "/reports/scheduled-callbacks", params={"format": "pdf"}, expect=422)
    assert error["field"] == "format"


async def test_a_report_in_csv_is_safe_to_open_in_a_spreadsheet(api: Api) -> None:
    """A value a spreadsheet would run as a formula is written as text; a phone number stays as it is."""
    await api.call("POST", "/queues", json={"id": "tricky", "name": "=HYPERLINK(\"http://x\")"}, expect=201)
    await api.call("POST", "/callbacks", json={"queue": "tricky", "destination": "+442079460012", "start_in": 600},
                   expect=201)
    window = {"from": (api.clock.now - timedelta(minutes=1)).isoformat(),
              "to": (api.clock.now + timedelta(minutes=1)).isoformat()}
    text = await api.call("GET", "/reports/scheduled-callbacks",
                          params={**window, "queue": "tricky", "format": "csv"}, expect=200)
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert (row["Campaign Name"], row["Contact Number"]) == ("'=HYPERLINK(\"http://x\")", "+442079460012")


async def test_health_metrics_and_openapi_need_no_token(api: Api) -> None:
    assert await api.call("GET", "/healthz", None, expect=200) == {"status": "ok", "database": True}
    await api.call("POST", "/callbacks", json={"queue": "sales", "destination": "+442079460012", "start_in": 60},
                   expect=201)
    text = await api.call("GET", "/metrics", None, expect=200)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("cbdialer_http_requests_total",
                    (("method", "POST"), ("route", "/api/v1/callbacks"), ("status", "201")))] == 1
    assert samples[("cbdialer_http_request_seconds_count", (("method", "POST"), ("route", "/api/v1/callbacks")))] == 1
    document = await api.call("GET", "/openapi.json", None, expect=200)
    assert document["openapi"].startswith("3.")
    assert {"/api/v1/callbacks", "/api/v1/queues/{id}/metrics", "/api/v1/dnc/{number}",
            "/api/v1/reports/completed-callbacks", "/healthz", "/metrics"} <= set(document["paths"])
    assert "CallbackIn" in document["components"]["schemas"]


async def test_tokens_are_required_and_never_logged(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    assert (await api.call("GET", "/callbacks", None, expect=401))["field"] == "Authorization"
    await api.call("GET", "/callbacks", None, headers={"Authorization": "Bearer nope"}, expect=401)
    await api.call("GET", "/callbacks", None, headers={"Authorization": f"Basic {api.tokens['admin']}"}, expect=401)
    await api.call("GET", "/callbacks", "admin", expect=200)
    rows = await api.db.store()._fetch("token_principal", "x")  # noqa: SLF001 - the table holds hashes only
    assert rows == []
    out = capsys.readouterr()
    for token in api.tokens.values():
        assert token not in out.out and token not in out.err


# Every route, every role: who may, and who may not.
ROUTES = [
    # (method, path, body, admin status, supervisor status, agent status)
    ("GET", "/queues", None, 200, 200, 200),
    ("GET", "/queues/sales", None, 200, 200, 200),
    ("POST", "/queues", {"id": "new-q"}, 201, 201, 403),
    ("PATCH", "/queues/sales", {"retry_interval": 900}, 200, 200, 403),
    # What reaches the telephony is the admin's (issue 11): a queue's dial string, caller ID and AMD.
    ("PATCH", "/queues/sales", {"amd": True}, 200, 403, 403),
    ("PATCH", "/queues/sales", {"caller_id": "+442079460000"}, 200, 403, 403),
    ("POST", "/queues", {"id": "dialled", "customer_dial_string": "PJSIP/{number}@trunk"}, 201, 403, 403),
    ("POST", "/queues/support/stop", None, 200, 200, 403),
    ("POST", "/queues/support/start", None, 200, 200, 403),
    # The queue monitor, with the shift's figures, is the supervisor's (seed 002), as its charts are.
    ("GET", "/queues/sales/metrics", None, 200, 200, 200),
    ("GET", "/monitor", None, 200, 200, 403),
    # An agent's dial string too, and so creating one.
    ("POST", "/agents", {"id": "3001", "dial_string": "PJSIP/agent-3001"}, 201, 403, 403),
    ("PATCH", "/agents/1003", {"skills": ["de"]}, 200, 200, 403),
    ("PATCH", "/agents/1003", {"dial_string": "PJSIP/agent-1003b"}, 200, 403, 403),
    ("GET", "/agents", None, 200, 200, 200),
    ("GET", "/agents/1003", None, 200, 200, 404),
    ("PUT", "/agents/1003/ready", {"ready": True}, 200, 200, 404),
    ("GET", "/agents/1003/callbacks", None, 200, 200, 404),
    ("GET", "/teams", None, 200, 200, 200),
    ("POST", "/teams", {"id": "green", "name": "Green"}, 201, 201, 403),
    ("PATCH", "/teams/blue", {"name": "Navy"}, 200, 200, 403),
    ("GET", "/dnc", None, 200, 200, 403),
    ("POST", "/dnc/+442079460099", None, 201, 201, 403),
    ("DELETE", "/dnc/+442079460099", None, 200, 200, 403),
    ("GET", "/exclusions", None, 200, 200, 403),
    ("POST", "/exclusions/+442079460098", None, 201, 201, 403),
    ("DELETE", "/exclusions/+442079460098", None, 200, 200, 403),
    ("GET", "/reports/scheduled-callbacks", None, 200, 200, 403),
    ("GET", "/reports/completed-callbacks", None, 200, 200, 403),
    ("GET", "/contacts/+442079460097", None, 404, 404, 403),
    ("PATCH", "/agents/1003", {"name": "Carol Jones"}, 200, 200, 403),
]


@pytest.mark.parametrize("role", ["admin", "supervisor", "agent1001"])
async def test_every_route_for_every_role(api: Api, role: str) -> None:
    for method, path, body, admin, supervisor, agent in ROUTES:
        expected = agent if role.startswith("agent") else supervisor if role == "supervisor" else admin
        await api.call(method, path, role, json=body, expect=expected)


async def test_a_supervisor_may_send_back_the_telephony_settings_unchanged(api: Api) -> None:
    """A read, then a write of the whole: the dial string, caller ID and AMD as they were change nothing."""
    settings = (await api.call("GET", "/queues/sales", "supervisor"))["settings"]
    telephony = {k: settings[k] for k in ("customer_dial_string", "caller_id", "amd")}
    await api.call("PATCH", "/queues/sales", "supervisor", json={**telephony, "retry_interval": 600}, expect=200)
    await api.call("PATCH", "/queues/sales", "supervisor", json={**telephony, "amd": not telephony["amd"]},
                   expect=403)
    await api.call("PATCH", "/agents/1003", "supervisor", json={"dial_string": "PJSIP/agent-1003"}, expect=200)


async def test_a_local_dial_string_reaches_only_an_allowed_context(api: Api) -> None:
    """A Local channel runs dialplan: whoever may edit a queue or an agent must not reach the PBX's own contexts
    (CBDIALER_DIAL_CONTEXTS; by default only the sandbox's cbdialer-sim-customers)."""
    error = await api.call("PATCH", "/queues/sales", json={"customer_dial_string": "Local/{number}@from-internal"},
                           expect=422)
    assert error["field"] == "customer_dial_string" and "from-internal" in error["message"]
    await api.call("PATCH", "/queues/sales", json={"customer_dial_string": "Local/{number}@cbdialer-sim-customers"},
                   expect=200)
    error = await api.call("POST", "/agents", json={"id": "3002", "dial_string": "Local/3002@from-internal"},
                           expect=422)
    assert error["field"] == "dial_string"
    await api.call("PATCH", "/agents/1003", json={"dial_string": "Local/1003"}, expect=422)
    assert (await api.call("GET", "/agents/1003"))["dial_string"] == "PJSIP/agent-1003"


async def test_an_agent_sees_and_changes_only_its_own_and_its_teams_callbacks(api: Api) -> None:
    api.clock.daytime()  # an agent's call now keeps the calling window
    def body(**fields: object) -> dict:
        return {"queue": "sales", "destination": "+442079460012", "start_in": 600, **fields}

    own = await api.call("POST", "/callbacks", "agent1001", json=body(created_by="1002"), expect=201)
    assert own["created_by"] == "1001"  # an agent creates in its own name
    teams = await api.call("POST", "/callbacks", "supervisor", json=body(destination="+442079460024", team="blue"),
                           expect=201)
    for_me = await api.call("POST", "/callbacks", "supervisor", json=body(
        destination="+442079460033", type="agent", agent="1001"), expect=201)
    # Another agent's own callback (issue 11: a queue's standard callbacks are seen by every agent serving it).
    others = await api.call("POST", "/callbacks", "agent1002", json=body(
        destination="+442079460045", type="agent", agent="1002"), expect=201)
    listed = await api.call("GET", "/callbacks", "agent1001", expect=200)
    assert {c["id"] for c in listed["items"]} == {own["id"], teams["id"], for_me["id"]}
    assert len((await api.call("GET", "/callbacks", "admin"))["items"]) == 4
    for method, suffix, payload in (("GET", "", None), ("PATCH", "", {"remark": "x"}),
                                    ("POST", "/cancel", None), ("POST", "/call-now", None),
                                    ("GET", "/attempts", None), ("GET", "/history", None),
                                    ("POST", "/disposition", {"status": "handled"})):
        await api.call(method, f"/callbacks/{others['id']}{suffix}", "agent1001", json=payload, expect=404)
    await api.call("POST", f"/callbacks/{teams['id']}/purge", "agent1001", expect=403)
    await api.call("POST", f"/callbacks/{teams['id']}/send-to-queue", "agent1001", expect=403)
    await api.call("PATCH", f"/callbacks/{teams['id']}", "agent1001", json={"remark": "mine now"}, expect=200)
    await api.call("POST", f"/callbacks/{for_me['id']}/call-now", "agent1001", expect=200)
    assert (await api.call("POST", f"/callbacks/{own['id']}/cancel", "agent1001", expect=200))["state"] == \
        "cancelled"
    assert (await api.call("GET", f"/callbacks/{others['id']}", "agent1002", expect=200))["state"] == "scheduled"


async def test_an_agent_sees_the_queue_callbacks_of_the_queues_it_serves(api: Api) -> None:
    """Seed 004: "Agents can view any pending callbacks that they may handle and edit their scheduled times or
    delete them": the standard and campaign callbacks of its queues, beside its own and its teams'."""
    sales = await api.call("POST", "/callbacks", "supervisor", json={
        "queue": "sales", "destination": "+442079460012", "start_in": 600}, expect=201)
    support = await api.call("POST", "/callbacks", "supervisor", json={
        "queue": "support", "destination": "+442079460024", "start_in": 600}, expect=201)
    named = await api.call("POST", "/callbacks", "supervisor", json={
        "queue": "sales", "destination": "+442079460033", "start_in": 600, "type": "strict_agent", "agent": "1002"},
        expect=201)
    assert {c["id"] for c in (await api.call("GET", "/callbacks", "agent1001"))["items"]} == {sales["id"]}
    assert {c["id"] for c in (await api.call("GET", "/callbacks", "agent1002"))["items"]} == {sales["id"],
                                                                                           named["id"]}
    await api.call("PATCH", f"/callbacks/{sales['id']}", "agent1001", json={"start_in": 1200}, expect=200)
    await api.call("GET", f"/callbacks/{support['id']}", "agent1001", expect=404)
    await api.call("GET", f"/callbacks/{named['id']}", "agent1001", expect=404)
    assert (await api.call("POST", f"/callbacks/{sales['id']}/cancel", "agent1002", expect=200))["state"] == \
        "cancelled"


@pytest.mark.parametrize("role", ["admin", "supervisor", "agent1001"])
async def test_every_callback_route_for_every_role(api: Api, role: str) -> None:
    agent = role.startswith("agent")
    api.clock.daytime()  # an agent's call now keeps the calling window

    async def made(number: str) -> str:
        body = {"queue": "sales", "destination": number, "start_in": 600}
        return (await api.call("POST", "/callbacks", role, json=body, expect=201))["id"]

    first, second, third = await made("+442079460012"), await made("+442079460024"), await made("+442079460033")
    assert len((await api.call("GET", "/callbacks", role, expect=200))["items"]) == 3
    await api.call("GET", f"/callbacks/{first}", role, expect=200)
    await api.call("PATCH", f"/callbacks/{first}", role, json={"remark": "r"}, expect=200)
    await api.call("GET", f"/callbacks/{first}/attempts", role, expect=200)
    await api.call("GET", f"/callbacks/{first}/history", role, expect=200)
    await api.call("POST", f"/callbacks/{first}/disposition", role, json={"status": "handled"}, expect=409)
    await api.call("POST", f"/callbacks/{first}/call-now", role, expect=200)
    await api.call("POST", f"/callbacks/{first}/cancel", role, expect=200)
    await api.call("POST", f"/callbacks/{second}/purge", role, expect=403 if agent else 200)
    await api.call("POST", f"/callbacks/{third}/send-to-queue", role, expect=403 if agent else 200)


async def test_a_revoked_token_is_refused(api: Api) -> None:
    await api.call("GET", "/queues", "supervisor", expect=200)
    (row,) = [t for t in await api.db.store().tokens() if t["role"] == "supervisor"]
    await api.admin.tokens.revoke_token(str(row["id"]))
    await api.call("GET", "/queues", "supervisor", expect=401)
    await api.call("GET", "/queues", "admin", expect=200)
    assert all(api.tokens["supervisor"] not in str(value) for t in await api.db.store().tokens()
               for value in t.values())  # only hashes are kept
