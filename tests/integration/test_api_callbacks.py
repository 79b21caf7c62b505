"""The admin API's callbacks (docs/design.md section 13), through aiohttp's test client on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from cbdialer.adapters.db import Database
from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import Callback, CallbackType, CompletionStatus
from tests.support.api_client import Api, open_api

# A queue whose pacing never gets in the way of these tests (its own tests are in test_pacing.py).
PACING = {"max_calls": 100, "calls_per_second": 1000.0}


@pytest.fixture
async def api(db: Database) -> AsyncIterator[Api]:
    async for opened in open_api(db):
        yield opened


async def new(api: Api, who: str = "admin", **fields: object) -> dict:
    body = {"queue": "sales", "destination": "+44 20 7946 0012", "start_in": 3600, **fields}
    return await api.call("POST", "/callbacks", who, json=body, expect=201)


async def test_create_normalises_the_number_and_reads_back(api: Api) -> None:
    created = await new(api, remark="asked for the manager")
    assert created["destination"] == "+442079460012"
    assert created["state"] == "scheduled" and created["type"] == "standard"
    due = created["due_at"]
    fetched = await api.call("GET", f"/callbacks/{created['id']}", expect=200)
    assert fetched == created and fetched["attempts_count"] == 0 and fetched["completion_status"] is None
    assert fetched["reason"] == "created" and due == fetched["start_at"]


@pytest.mark.parametrize(("fields", "field"), [
    ({"destination": "12"}, "destination"),
    ({"destination": "+999 1"}, "destination"),
    ({"queue": "nowhere"}, "queue"),
    ({"type": "agent"}, "agent"),
    ({"type": "strict_agent", "agent": "9999"}, "agent"),
    ({"type": "telepathy"}, "type"),
    ({"start_in": -5}, "start_in"),
    ({"start_in": None, "start_at": "2020-01-01T10:00:00+00:00"}, "start_at"),
    ({"start_in": None, "start_at": "2030-01-01T10:00:00"}, "customer_timezone"),
    ({"start_in": None, "start_at": "2030-03-31T01:30:00", "customer_timezone": "Europe/London"}, "start_at"),
    ({"customer_timezone": "Mars/Olympus"}, "customer_timezone"),
    ({"end_at": "2020-01-01T00:00:00Z"}, "end_at"),
    ({"surprise": 1}, "surprise"),
    ({"team": "red"}, "team"),
])
async def test_bad_input_names_the_field_and_stores_nothing(api: Api, fields: dict, field: str) -> None:
    body = {"queue": "sales", "destination": "+442079460012", "start_in": 3600, **fields}
    body = {k: v for k, v in body.items() if v is not None}
    error = await api.call("POST", "/callbacks", json=body, expect=422)
    assert error["field"] == field, error
    assert error["message"]
    assert (await api.call("GET", "/callbacks", expect=200))["items"] == []


async def test_a_body_that_is_not_json_or_too_large_is_refused(api: Api) -> None:
    error = await api.call("POST", "/callbacks", data=b"{nope", headers={"Content-Type": "application/json"},
                           expect=400)
    assert error["field"] == "body"
    error = await api.call("POST", "/callbacks", json={"remark": "x" * 100_000}, expect=413)
    assert error["field"] == "body"
    assert (await api.call("POST", "/callbacks", json=[1], expect=422))["field"] == "body"


async def test_local_start_in_the_customers_zone(api: Api) -> None:
    created = await new(api, start_in=None, start_at="2031-07-01T09:30:00", customer_timezone="Europe/Paris")
    assert created["start_at"] == "2031-07-01T07:30:00Z"
    assert created["customer_timezone"] == "Europe/Paris"


async def test_an_idempotency_key_makes_a_retry_safe(api: Api) -> None:
    headers = {"Idempotency-Key": "order-77"}
    body = {"queue": "sales", "destination": "+442079460012", "start_in": 600}
    first = await api.call("POST", "/callbacks", json=body, headers=headers, expect=201)
    again = await api.call("POST", "/callbacks", json=body, headers=headers, expect=200)
    assert again["id"] == first["id"]
    other = await api.call("POST", "/callbacks", json={**body, "start_in": 900}, headers=headers, expect=409)
    assert other["field"] == "Idempotency-Key"
    assert len((await api.call("GET", "/callbacks", expect=200))["items"]) == 1


async def test_a_newer_callback_overwrites_the_older_one_for_the_same_contact(api: Api) -> None:
    old = await new(api)
    await new(api, start_in=7200)
    assert (await api.call("GET", f"/callbacks/{old['id']}", expect=200))["state"] == "overwritten"


async def test_edit_reschedules_and_refuses_a_past_start(api: Api) -> None:
    created = await new(api)
    moved = await api.call("PATCH", f"/callbacks/{created['id']}", json={"start_in": 86_400, "remark": "later"},
                           expect=200)
    assert moved["remark"] == "later" and moved["start_at"] > created["start_at"]
    assert moved["due_at"] == moved["start_at"] and moved["reason"] == "rescheduled"
    error = await api.call("PATCH", f"/callbacks/{created['id']}",
                           json={"start_at": "2020-05-05T10:00:00+00:00"}, expect=422)
    assert error["field"] == "start_at"
    assert (await api.call("GET", f"/callbacks/{created['id']}"))["start_at"] == moved["start_at"]
    history = await api.call("GET", f"/callbacks/{created['id']}/history", expect=200)
    assert [h["reason"] for h in history] == ["created", "rescheduled"]


async def test_cancel_purge_call_now_and_send_to_queue(api: Api) -> None:
    one, two, three = await new(api), await new(api, destination="+442079460024"), \
        await new(api, destination="+442079460033")
    now_due = await api.call("POST", f"/callbacks/{one['id']}/call-now", expect=200)
    assert now_due["state"] == "queued" and now_due["reason"] == "call_now" and now_due["due_at"] < one["due_at"]
    sent = await api.call("POST", f"/callbacks/{two['id']}/send-to-queue", expect=200)
    assert sent["state"] == "queued" and sent["reason"] == "send_to_queue"
    assert (await api.call("POST", f"/callbacks/{three['id']}/purge", expect=200))["state"] == "purged"
    assert (await api.call("POST", f"/callbacks/{one['id']}/cancel", expect=200))["state"] == "cancelled"
    error = await api.call("POST", f"/callbacks/{one['id']}/cancel", expect=409)  # already ended
    assert "cancelled" in error["message"]
    await api.call("PATCH", f"/callbacks/{one['id']}", json={"remark": "x"}, expect=409)
    await api.call("POST", f"/callbacks/{uuid.uuid4()}/cancel", expect=404)
    await api.call("GET", "/callbacks/not-a-uuid", expect=404)


async def test_disposition_needs_a_call_in_wrap_up(api: Api) -> None:
    created = await new(api)
    error = await api.call("POST", f"/callbacks/{created['id']}/disposition", json={"status": "handled"},
                           expect=409)
    assert "wrap-up" in error["message"]
    error = await api.call("POST", f"/callbacks/{created['id']}/disposition", json={"status": "busy"}, expect=422)
    assert error["field"] == "status"
    assert await api.call("GET", f"/callbacks/{created['id']}/attempts", expect=200) == []


async def test_search_filters_and_pages_with_a_cursor(api: Api) -> None:
    made = []
    for i in range(7):
        api.clock.now += timedelta(seconds=1)
        made.append(await new(api, destination=f"+4420794600{10 + i}", start_in=600 + i))
    await new(api, queue="support", destination="+442079460099", created_by="1001")
    page = await api.call("GET", "/callbacks", params={"queue": "sales", "limit": "3"}, expect=200)
    seen = [c["id"] for c in page["items"]]
    while page["next_cursor"]:
        page = await api.call("GET", "/callbacks", params={"queue": "sales", "limit": "3",
                                                           "cursor": page["next_cursor"]}, expect=200)
        seen += [c["id"] for c in page["items"]]
    assert seen == [c["id"] for c in reversed(made)]  # newest first, each once
    by_number = await api.call("GET", "/callbacks", params={"destination": "+44 20 7946 0013"}, expect=200)
    assert [c["id"] for c in by_number["items"]] == [made[3]["id"]]
    by_creator = await api.call("GET", "/callbacks", params={"created_by": "1001"}, expect=200)
    assert [c["queue"] for c in by_creator["items"]] == ["support"]
    assert (await api.call("GET", "/callbacks", params={"state": "purged"}))["items"] == []
    error = await api.call("GET", "/callbacks", params={"cursor": "garbage"}, expect=422)
    assert error["field"] == "cursor"
    error = await api.call("GET", "/callbacks", params={"limit": "0"}, expect=422)
    assert error["field"] == "limit"
    error = await api.call("GET", "/callbacks", params={"state": "sleeping"}, expect=422)
    assert error["field"] == "state"


async def test_time_range_search(api: Api) -> None:
    first = await new(api)
    api.clock.now += timedelta(hours=2)
    second = await new(api, destination="+442079460024")
    middle = (api.clock.now - timedelta(hours=1)).isoformat()
    later = await api.call("GET", "/callbacks", params={"created_from": middle}, expect=200)
    earlier = await api.call("GET", "/callbacks", params={"created_to": middle}, expect=200)
    assert [c["id"] for c in later["items"]] == [second["id"]]
    assert [c["id"] for c in earlier["items"]] == [first["id"]]


async def test_a_nul_character_is_refused_by_name_not_a_server_error(api: Api) -> None:
    error = await api.call("POST", "/callbacks", json={"queue": "sales", "destination": "+442079460012",
                                                       "start_in": 60, "remark": "a\u0000b"}, expect=422)
    assert error["field"] == "remark"
    await api.call("GET", "/queues/sa%00les", expect=404)
    error = await api.call("GET", "/callbacks", params={"created_by": "a\u0000"}, expect=422)
    assert error["field"] == "created_by"
    assert (await api.call("GET", "/callbacks"))["items"] == []


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("POST", "/callbacks", {"queue": "sales", "destination": "+442079460012", "start_in": "2912116d"}, "start_in"),
    ("PATCH", "/queues/sales", {"calls_per_second": 1e-300}, "calls_per_second"),
    ("PATCH", "/queues/sales", {"caller_id": '"Acme, Inc" <+442079460000>'}, "caller_id"),
    ("PATCH", "/queues/sales", {"customer_dial_string": "PJSIP/{number}\r\nAction: Hangup"}, "customer_dial_string"),
])
async def test_values_that_would_break_the_dialer_are_refused(api: Api, method: str, path: str, body: dict,
                                                              field: str) -> None:
    error = await api.call(method, path, json=body, expect=422)
    assert error["field"] == field, error


async def test_malformed_requests_are_4xx(api: Api) -> None:
    await api.call("GET", "/callbacks", None, headers={"Authorization": "Bearer caf\u00e9"}, expect=401)
    error = await api.call("POST", "/callbacks", data=b"[" * 5000, headers={"Content-Type": "application/json"},
                           expect=400)
    assert error["field"] == "body"
    error = await api.call("POST", "/callbacks", json={"queue": "sales", "destination": "+442079460012",
                                                       "start_in": 60}, headers={"Idempotency-Key": "cl\u00e9"},
                           expect=422)
    assert error["field"] == "Idempotency-Key"
    old_cursor = "MDAwMS0wMS0wMVQwMDowMDowMCswMTowMHwwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA"
    assert (await api.call("GET", "/callbacks", params={"cursor": old_cursor}, expect=422))["field"] == "cursor"


async def test_a_full_page_of_500_still_gives_a_cursor(api: Api) -> None:
    store = api.db.store()
    base = api.clock.now
    for i in range(501):
        start = base + timedelta(hours=1)
        await store.add_callback(Callback(
            id=uuid.uuid4(), queue_id="sales", destination=f"+44207946{i:04d}", type=CallbackType.STANDARD,
            state=CallbackState.SCHEDULED, due_at=start, start_at=start, end_at=start + timedelta(hours=1),
            created_at=base + timedelta(seconds=i)), actor="test")
    page = await api.call("GET", "/callbacks", params={"limit": "500"}, expect=200)
    assert len(page["items"]) == 500 and page["next_cursor"]
    rest = await api.call("GET", "/callbacks", params={"limit": "500", "cursor": page["next_cursor"]}, expect=200)
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None


async def test_an_edit_leaves_the_agents_queue_and_a_stale_edit_fails(api: Api) -> None:
    store = api.db.store()
    created = await new(api)
    waiting = await store.transition(uuid.UUID(created["id"]), expected=CallbackState.SCHEDULED,
                                     to=CallbackState.SCHEDULED, reason=Reason.DIAL_SLOT_UNAVAILABLE,
                                     now=api.clock.now, actor="test", due_at=api.clock.now + timedelta(hours=2),
                                     assigned_agent="1001")
    assert waiting is not None and waiting.assigned_agent == "1001"
    edited = await api.call("PATCH", f"/callbacks/{created['id']}", json={"start_in": 7200}, expect=200)
    assert edited["assigned_agent"] is None
    # A read made before the dialer moved it on (its due time changed since) cannot be written back.
    stale = await store.get_callback(waiting.id)
    assert stale is not None
    await store.transition(stale.id, expected=CallbackState.SCHEDULED, to=CallbackState.SCHEDULED,
                           reason=Reason.POSTPONED, now=api.clock.now, actor="test",
                           due_at=stale.due_at + timedelta(minutes=5))
    assert await store.edit_callback(stale, stale, now=api.clock.now, actor="test") is None


async def test_an_agent_gives_the_disposition_of_its_own_call_only(api: Api) -> None:
    store = api.db.store()
    created = await new(api, team="blue")  # agent 1001 sees it through its team
    owner = uuid.uuid4()
    api.clock.now += timedelta(hours=2)
    (claimed,) = await store.claim_due(owner, now=api.clock.now, limit=1, lease=timedelta(seconds=30))
    attempt = uuid.uuid4()
    await store.start_attempt(claimed, attempt_id=attempt, agent_id="1002", owner=owner, now=api.clock.now,
                              lease=timedelta(seconds=30), reserve_until=api.clock.now + timedelta(minutes=1),
                              actor="test", **PACING)
    await store.record_result(attempt, agent_id="1002", heard_at=api.clock.now, dial_status="ANSWER",
                              hangup_cause=16, amd_status="", wrap_up_until=api.clock.now + timedelta(seconds=30),
                              status=CompletionStatus.HANDLED)
    path = f"/callbacks/{created['id']}/disposition"
    error = await api.call("POST", path, "agent1001", json={"status": "handled"}, expect=409)
    assert "of yours" in error["message"]
    await api.call("POST", path, "agent1002", json={"status": "wrong_destination"}, expect=202)
    assert await store.take_disposition(attempt) == (CompletionStatus.WRONG_DESTINATION, None, None)
    # Once taken, the wrap-up is closed: a late disposition is refused, not accepted and lost (agent 1002 sees
    # this standard callback of a queue it serves, issue 11: it learns why).
    await api.call("POST", path, "admin", json={"status": "handled"}, expect=409)
    await api.call("POST", path, "agent1002", json={"status": "handled"}, expect=409)


async def test_a_team_callback_and_the_routing_types_a_queue_offers(api: Api) -> None:
    """Seed 003: a callback goes to a specific agent or to a team of agents, as the queue's routing types
    (its preconfigured options) allow."""
    error = await api.call("POST", "/callbacks", json={"queue": "sales", "destination": "+442079460012",
                                                       "start_in": 600, "type": "team"}, expect=422)
    assert error["field"] == "team"
    team = await new(api, "agent1001", type="team", team="blue")
    assert (team["type"], team["team"]) == ("team", "blue")
    # Seen by the team's agents, not by every agent of the queue (1002 serves sales but is not in blue).
    await api.call("GET", f"/callbacks/{team['id']}", "agent1002", expect=404)
    await api.call("PATCH", "/queues/sales", json={"routing_types": ["standard", "team"]}, expect=200)
    error = await api.call("POST", "/callbacks", json={"queue": "sales", "destination": "+442079460024",
                                                       "start_in": 600, "type": "agent", "agent": "1001"},
                           expect=422)
    assert error["field"] == "type" and "does not offer agent callbacks" in error["message"]
    error = await api.call("PATCH", "/queues/sales", json={"routing_types": []}, expect=422)
    assert error["field"] == "routing_types"


async def test_narrowed_routing_types_leave_existing_callbacks_editable(api: Api) -> None:
    made = await new(api, type="agent", agent="1001")
    await api.call("PATCH", "/queues/sales", json={"routing_types": ["standard"]}, expect=200)
    await api.call("PATCH", f"/callbacks/{made['id']}", "supervisor", json={"start_in": 1200}, expect=200)
    error = await api.call("PATCH", f"/callbacks/{made['id']}", "supervisor", json={"type": "strict_agent"},
                           expect=422)
    assert error["field"] == "type"


async def test_an_agent_only_reschedules_a_queue_callback_that_is_not_its_own(api: Api) -> None:
    """Seed 004: agents "edit their scheduled times or delete them"; they do not take a colleague's customer."""
    queued = await new(api, "supervisor")
    for change in ({"type": "strict_agent", "agent": "1001"}, {"destination": "+442079460099"},
                   {"type": "team", "team": "blue"}, {"remark": "mine"}):
        await api.call("PATCH", f"/callbacks/{queued['id']}", "agent1001", json=change, expect=403)
    moved = await api.call("PATCH", f"/callbacks/{queued['id']}", "agent1001", json={"start_in": 7200}, expect=200)
    assert moved["type"] == "standard" and moved["destination"] == "+442079460012"
    await api.call("POST", f"/callbacks/{queued['id']}/cancel", "agent1001", expect=200)
    # Ended, it is no longer one the agent may handle: not in its list, not readable.
    assert queued["id"] not in {c["id"] for c in (await api.call("GET", "/callbacks", "agent1001"))["items"]}
    await api.call("GET", f"/callbacks/{queued['id']}", "agent1001", expect=404)


async def test_an_excluded_contact_gets_no_new_callback(api: Api) -> None:
    await api.call("POST", "/exclusions/+442079460012", expect=201)
    error = await api.call("POST", "/callbacks", json={"queue": "sales", "destination": "020 7946 0012x"},
                           expect=422)
    assert error["field"] == "destination"
    error = await api.call("POST", "/callbacks", json={"queue": "sales", "destination": "+44 20 7946 0012",
                                                       "start_in": 60}, expect=422)
    assert error["field"] == "destination" and "exclusion list" in error["message"]
