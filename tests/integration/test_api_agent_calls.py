"""A callback from the call the agent is on, or from one in its history (seeds 003 and 004), through the admin
API on PostgreSQL, with every role: GET /agents/{id}/calls and POST /agents/{id}/calls/{call_id}/callback."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from cbdialer.adapters.db import Database
from cbdialer.domain.models import Queue, QueueSettings
from cbdialer.ports.calls import CURRENT_FOR_AT_MOST, AgentCall
from tests.support.api_client import Api, open_api


@pytest.fixture
async def api(db: Database) -> AsyncIterator[Api]:
    async for opened in open_api(db):
        store = db.store()
        # sales serves the sandbox's inbound queue, support another; 'walk-in' is served by none.
        await store.save_queue(Queue(id="sales", name="Sales",
                                     settings=QueueSettings(asterisk_queue="cbdialer-sandbox")))
        await store.save_queue(Queue(id="support", name="Support", settings=QueueSettings(asterisk_queue="help-desk")))
        opened.clock.daytime()
        yield opened


async def heard(api: Api, uniqueid: str, *, agent: str = "1001", ago: int = 60, ended: bool = False,
                queue: str = "cbdialer-sandbox", number: str = "+442079460123", withheld: bool = False) -> AgentCall:
    """A queue call as the dialer keeps it (dialer/inbound.py), answered `ago` seconds ago."""
    answered = api.clock() - timedelta(seconds=ago)
    queue_id = {"cbdialer-sandbox": "sales", "help-desk": "support"}.get(queue)
    call = await api.db.store().record_agent_call(AgentCall(
        id=uuid.uuid4(), caller_uniqueid=uniqueid, agent_id=agent, asterisk_queue=queue, queue_id=queue_id,
        caller_number=number, caller_name="Customer", withheld=withheld, answered_at=answered,
        ended_at=answered + timedelta(seconds=30) if ended else None))
    assert call is not None
    return call


async def callbacks(api: Api) -> list[dict]:
    return (await api.call("GET", "/callbacks?limit=100", expect=200))["items"]


async def test_the_agent_sees_its_current_call_and_its_last_ones(api: Api) -> None:
    old = await heard(api, "1.1", ago=600, ended=True, number="02079460012")  # national, as a trunk may send it
    now = await heard(api, "1.2", ago=20)
    await heard(api, "2.1", agent="1002")
    body = await api.call("GET", "/agents/1001/calls", "agent1001", expect=200)
    assert body["agent"] == "1001"
    current = body["current"]
    assert datetime.fromisoformat(current.pop("answered_at")) == now.answered_at
    assert current == {"id": str(now.id), "number": "+442079460123", "withheld": False, "caller_name": "Customer",
                       "asterisk_queue": "cbdialer-sandbox", "queue": "sales", "agent": "1001", "ended_at": None}
    assert [c["id"] for c in body["calls"]] == [str(now.id), str(old.id)]
    # No default region here: a national number is shown as the line gave it.
    assert body["calls"][1]["number"] == "02079460012" and body["calls"][1]["ended_at"] is not None
    for staff in ("supervisor", "admin"):
        assert (await api.call("GET", "/agents/1001/calls", staff, expect=200))["current"]["id"] == str(now.id)


async def test_an_agent_reads_and_uses_only_its_own_calls(api: Api) -> None:
    call = await heard(api, "1.1")
    refused = await api.call("GET", "/agents/1001/calls", "agent1002", expect=403)
    assert refused["error"] == "forbidden"
    await api.call("POST", f"/agents/1001/calls/{call.id}/callback", "agent1002", json={"start_in": 3600},
                   expect=403)
    # Its own path does not reach another agent's call either.
    await api.call("POST", f"/agents/1002/calls/{call.id}/callback", "agent1002", json={"start_in": 3600},
                   expect=404)
    await api.call("GET", "/agents/nobody/calls", "admin", expect=404)
    await api.call("POST", "/agents/1001/calls/not-a-uuid/callback", "agent1001", json={}, expect=404)
    assert await callbacks(api) == []


async def test_the_agent_makes_a_callback_from_its_current_call_with_the_cli_and_queue_filled_in(api: Api) -> None:
    call = await heard(api, "1.1")
    created = await api.call("POST", f"/agents/1001/calls/{call.id}/callback", "agent1001",
                             json={"start_in": 3600, "remark": "wants the invoice", "type": "agent",
                                   "agent": "1001"}, expect=201)
    assert (created["destination"], created["queue"], created["created_by"], created["agent"], created["remark"]) == \
        ("+442079460123", "sales", "1001", "1001", "wants the invoice")
    assert created["state"] == "scheduled"
    assert await api.call("GET", f"/callbacks/{created['id']}", "agent1001", expect=200) == created


@pytest.mark.parametrize("who", ["supervisor", "admin"])
async def test_staff_make_a_callback_from_any_agents_call(api: Api, who: str) -> None:
    call = await heard(api, "1.1", agent="1002", ago=3600, ended=True)  # from its history
    created = await api.call("POST", f"/agents/1002/calls/{call.id}/callback", who, json={"start_in": 600},
                             expect=201)
    assert (created["destination"], created["queue"]) == ("+442079460123", "sales")


async def test_a_withheld_caller_needs_a_number(api: Api) -> None:
    call = await heard(api, "1.1", number="", withheld=True)
    listed = await api.call("GET", "/agents/1001/calls", "agent1001", expect=200)
    assert listed["current"]["withheld"] is True and listed["current"]["number"] is None
    path = f"/agents/1001/calls/{call.id}/callback"
    refused = await api.call("POST", path, "agent1001", json={"start_in": 3600}, expect=422)
    assert refused["field"] == "destination" and "withheld" in refused["message"]
    assert await callbacks(api) == []
    created = await api.call("POST", path, "agent1001", json={"start_in": 3600, "destination": "020 7946 0012"},
                             expect=422)  # national, and this API has no default region
    assert created["field"] == "destination"
    created = await api.call("POST", path, "agent1001", json={"start_in": 3600, "destination": "+442079460012"},
                             expect=201)
    assert (created["destination"], created["queue"]) == ("+442079460012", "sales")


async def test_a_shown_number_may_be_replaced(api: Api) -> None:
    """Seed 002: the pre-filled destination may be edited."""
    call = await heard(api, "1.1")
    created = await api.call("POST", f"/agents/1001/calls/{call.id}/callback", "agent1001",
                             json={"start_in": 3600, "destination": "+442079460099"}, expect=201)
    assert created["destination"] == "+442079460099"


async def test_a_call_no_queue_serves_is_refused_naming_queue(api: Api) -> None:
    call = await heard(api, "1.1", queue="walk-in")
    listed = await api.call("GET", "/agents/1001/calls", "agent1001", expect=200)
    assert listed["current"]["queue"] is None and listed["current"]["asterisk_queue"] == "walk-in"
    for who in ("agent1001", "supervisor"):
        refused = await api.call("POST", f"/agents/1001/calls/{call.id}/callback", who, json={"start_in": 60},
                                 expect=422)
        assert refused["field"] == "queue" and "walk-in" in refused["message"]
    # Once a queue serves it, the call maps to that queue.
    await api.db.store().save_queue(Queue(id="walk", name="Walk", settings=QueueSettings(asterisk_queue="walk-in")))
    listed = await api.call("GET", "/agents/1001/calls", "agent1001", expect=200)
    assert listed["current"]["queue"] == "walk"
    assert await callbacks(api) == []


async def test_an_agent_makes_callbacks_only_for_the_queues_it_serves(api: Api) -> None:
    """Seed 004: "Agents can only specify queues for which they can handle calls as the source queue"."""
    call = await heard(api, "1.1", queue="help-desk")  # 1001 serves sales, not support
    refused = await api.call("POST", f"/agents/1001/calls/{call.id}/callback", "agent1001", json={"start_in": 60},
                             expect=422)
    assert refused["field"] == "queue" and "support" in refused["message"]
    assert await callbacks(api) == []
    created = await api.call("POST", f"/agents/1001/calls/{call.id}/callback", "supervisor", json={"start_in": 60},
                             expect=201)
    assert created["queue"] == "support"


@pytest.mark.parametrize(("body", "field"), [
    ({"queue": "support", "start_in": 60}, "queue"),  # the call's queue is the callback's
    ({"start_in": -1}, "start_in"),
    ({"type": "agent", "start_in": 60}, "agent"),
    ({"start_in": 60, "destination": "12"}, "destination"),
])
async def test_bad_input_names_the_field_and_stores_nothing(api: Api, body: dict, field: str) -> None:
    call = await heard(api, "1.1")
    refused = await api.call("POST", f"/agents/1001/calls/{call.id}/callback", "agent1001", json=body, expect=422)
    assert refused["field"] == field
    assert await callbacks(api) == []


async def test_a_call_whose_end_was_never_heard_stops_being_current(api: Api) -> None:
    await heard(api, "1.1", ago=int(CURRENT_FOR_AT_MOST.total_seconds()) + 60)
    body = await api.call("GET", "/agents/1001/calls", "agent1001", expect=200)
    assert body["current"] is None and len(body["calls"]) == 1 and body["calls"][0]["ended_at"] is None


async def test_the_routes_are_in_the_openapi_document(api: Api) -> None:
    document = await api.call("GET", "/openapi.json", None, expect=200)
    listing = document["paths"]["/api/v1/agents/{id}/calls"]["get"]
    assert listing["responses"]["200"]
    create = document["paths"]["/api/v1/agents/{id}/calls/{call_id}/callback"]["post"]
    assert create["requestBody"] and "201" in create["responses"]
