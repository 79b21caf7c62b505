"""The agent's rules of seeds 002-004 through the admin API on PostgreSQL, with every role: call now is the
agent's (issue 11 item 5) and the dispositions the line's result allows (item 4)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta

import pytest

from cbdialer.adapters.db import Database
from cbdialer.domain.lifecycle import CallbackState
from cbdialer.domain.models import CallbackType, CompletionStatus
from tests.support.api_client import Api, open_api

PACING = {"max_calls": 100, "calls_per_second": 1000.0}


@pytest.fixture
async def api(db: Database) -> AsyncIterator[Api]:
    async for opened in open_api(db):
        opened.clock.daytime()
        yield opened


async def new(api: Api, who: str = "supervisor", **fields: object) -> dict:
    body = {"queue": "sales", "destination": "+442079460012", "start_in": 3600, **fields}
    return await api.call("POST", "/callbacks", who, json=body, expect=201)


# --- call now is the agent's (seeds 003 and 004) ---------------------------------------------------------------


async def test_an_agents_call_now_is_offered_to_that_agent_and_a_supervisors_keeps_its_meaning(api: Api) -> None:
    teams = await new(api, destination="+442079460024", team="blue", type="team")  # 1001 is in blue
    pressed = await api.call("POST", f"/callbacks/{teams['id']}/call-now", "agent1001", expect=200)
    assert (pressed["state"], pressed["reason"], pressed["call_now_agent"]) == ("queued", "call_now", "1001")
    assert datetime.fromisoformat(pressed["due_at"]) == api.clock.now
    # A supervisor's call now: due at once, routed as usual (nobody's in particular).
    other = await new(api, type="agent", agent="1002")
    steered = await api.call("POST", f"/callbacks/{other['id']}/call-now", "supervisor", expect=200)
    assert (steered["state"], steered["call_now_agent"]) == ("queued", None)
    # A supervisor's press after the agent's: nobody's in particular again.
    again = await api.call("POST", f"/callbacks/{teams['id']}/call-now", "supervisor", expect=200)
    assert again["call_now_agent"] is None


async def test_an_agents_call_now_keeps_dnc_exclusion_the_window_and_says_which(api: Api) -> None:
    dnc = await new(api, "agent1001", destination="+442079460031")
    await api.call("POST", "/dnc/+442079460031", "supervisor", expect=201)
    refused = await api.call("POST", f"/callbacks/{dnc['id']}/call-now", "agent1001", expect=409)
    assert refused["message"].startswith("restricted_dnc:")
    # Nothing changed: still waiting for its time.
    assert (await api.call("GET", f"/callbacks/{dnc['id']}", "agent1001"))["state"] == "scheduled"

    api.clock.now = datetime.combine(api.clock.now.date(), time(21, 30), UTC)  # 21:30 in London: window shut
    late = await new(api, "agent1001", destination="+442079460032", start_in=60,
                     end_at=(api.clock.now + timedelta(days=1)).isoformat())
    refused = await api.call("POST", f"/callbacks/{late['id']}/call-now", "agent1001", expect=409)
    assert refused["message"].startswith("restricted_time:") and "calling window" in refused["message"]
    # The supervisor's call now is today's: due at once, and the scheduler holds it for the window.
    assert (await api.call("POST", f"/callbacks/{late['id']}/call-now", "supervisor", expect=200))["state"] == \
        "queued"


async def test_an_agent_not_ready_or_not_serving_the_queue_cannot_call_now(api: Api) -> None:
    mine = await new(api, "agent1001", destination="+442079460041")
    await api.call("PUT", "/agents/1001/ready", "agent1001", json={"ready": False}, expect=200)
    refused = await api.call("POST", f"/callbacks/{mine['id']}/call-now", "agent1001", expect=409)
    assert "not ready" in refused["message"]
    await api.call("PUT", "/agents/1001/ready", "agent1001", json={"ready": True}, expect=200)
    # Its own callback, in a queue it does not serve: the offer could never reach it.
    support = await new(api, queue="support", destination="+442079460042", type="agent", agent="1001")
    refused = await api.call("POST", f"/callbacks/{support['id']}/call-now", "agent1001", expect=409)
    assert "do not serve queue 'support'" in refused["message"]
    assert (await api.call("GET", f"/callbacks/{support['id']}", "agent1001"))["call_now_agent"] is None
    assert (await api.call("POST", f"/callbacks/{mine['id']}/call-now", "agent1001"))["call_now_agent"] == "1001"


async def test_an_agent_makes_callbacks_only_for_the_queues_it_serves(api: Api) -> None:
    """Seed 004: "Agents can only specify queues for which they can handle calls as the source queue"."""
    refused = await api.call("POST", "/callbacks", "agent1001", json={
        "queue": "support", "destination": "+442079460051", "start_in": 600}, expect=422)
    assert refused["field"] == "queue" and "do not serve" in refused["message"]
    assert (await api.call("GET", "/callbacks", "admin", params={"destination": "+442079460051"}))["items"] == []
    await new(api, "agent1001", destination="+442079460051")  # sales: its own
    await new(api, "supervisor", queue="support", destination="+442079460052")  # staff: any queue


# --- dispositions (seed 002) -----------------------------------------------------------------------------------


async def in_wrap_up(api: Api, callback: dict, *, agent: str, dial_status: str, status: CompletionStatus) -> uuid.UUID:
    store = api.db.store()
    owner = uuid.uuid4()
    api.clock.now += timedelta(hours=2)
    [claimed] = [c for c in await store.claim_due(owner, now=api.clock.now, limit=10, lease=timedelta(seconds=30))
                 if str(c.id) == callback["id"]]
    attempt = uuid.uuid4()
    await store.start_attempt(claimed, attempt_id=attempt, agent_id=agent, owner=owner, now=api.clock.now,
                              lease=timedelta(seconds=30), reserve_until=api.clock.now + timedelta(minutes=1),
                              actor="test", **PACING)
    await store.record_result(attempt, agent_id=agent, heard_at=api.clock.now, dial_status=dial_status,
                              hangup_cause=17 if dial_status == "BUSY" else 16, amd_status="",
                              wrap_up_until=api.clock.now + timedelta(seconds=30), status=status)
    return attempt


@pytest.mark.parametrize("who", ["admin", "supervisor", "agent1001"])
async def test_after_no_answer_or_busy_the_same_options_except_cancel(api: Api, who: str) -> None:
    callback = await new(api, type="agent", agent="1001")
    attempt = await in_wrap_up(api, callback, agent="1001", dial_status="BUSY", status=CompletionStatus.BUSY)
    path = f"/callbacks/{callback['id']}/disposition"
    for unanswered in ("handled", "answering_machine"):
        refused = await api.call("POST", path, who, json={"status": unanswered}, expect=422)
        assert refused["field"] == "status" and "after a busy call" in refused["message"]
        assert "no_answer" in refused["message"]
    await api.call("POST", path, who, json={"status": "cancel"}, expect=422)  # never a disposition
    await api.call("POST", path, who, json={"status": "no_answer"}, expect=202)
    # Callback requested "for a particular agent & date/time".
    refused = await api.call("POST", path, who, json={"status": "callback_requested", "start_in": 7200,
                                                      "agent": "1003"}, expect=422)
    assert refused["field"] == "agent" and "does not serve queue 'sales'" in refused["message"]
    refused = await api.call("POST", path, who, json={"status": "no_answer", "agent": "1002"}, expect=422)
    assert refused["field"] == "agent"
    await api.call("POST", path, who, json={"status": "callback_requested", "start_in": 7200, "agent": "1002"},
                   expect=202)
    # A queue that offers no agent callbacks takes no "for a particular agent" either.
    await api.call("PATCH", "/queues/sales", "admin", json={"routing_types": ["standard"]}, expect=200)
    refused = await api.call("POST", path, who, json={"status": "callback_requested", "start_in": 7200,
                                                      "agent": "1002"}, expect=422)
    assert refused["field"] == "agent" and "does not offer agent callbacks" in refused["message"]
    status, start, agent = await api.db.store().take_disposition(attempt)
    assert (status, agent) == (CompletionStatus.CALLBACK_REQUESTED, "1002")
    assert start == api.clock.now + timedelta(hours=2)


async def test_after_a_call_that_reached_someone_no_answer_is_not_a_disposition(api: Api) -> None:
    callback = await new(api)
    await in_wrap_up(api, callback, agent="1002", dial_status="ANSWER", status=CompletionStatus.HANDLED)
    path = f"/callbacks/{callback['id']}/disposition"
    refused = await api.call("POST", path, "agent1002", json={"status": "no_answer"}, expect=422)
    assert refused["field"] == "status" and "after a handled call" in refused["message"]
    await api.call("POST", path, "agent1002", json={"status": "answering_machine"}, expect=202)
    fetched = await api.call("GET", f"/callbacks/{callback['id']}", "agent1002")
    assert fetched["state"] == CallbackState.IN_PROGRESS.value and fetched["type"] == CallbackType.STANDARD.value
