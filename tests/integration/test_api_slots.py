"""Time slots and caller callbacks through the admin API on PostgreSQL (docs/design.md sections 13 and 14):
every role, the concurrency guard, and bad input named by field with nothing stored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from cbdialer.adapters.db import Database
from tests.support.api_client import Api, open_api

ROLES = ["admin", "supervisor", "agent1001"]


@pytest.fixture
async def api(db: Database) -> AsyncIterator[Api]:
    async for opened in open_api(db):
        opened.clock.daytime()  # tomorrow noon UTC; the slots are the day after, 10:00-11:00 UTC
        day = (opened.clock.now + timedelta(days=1)).date()
        await opened.call("PATCH", "/queues/sales", json={"slot_length": 1800, "slot_capacity": [
            {"weekday": day.weekday(), "start": "10:00", "end": "11:00", "capacity": 3}]}, expect=200)
        yield opened


def slot(api: Api, minutes: int = 0) -> str:
    day = (api.clock.now + timedelta(days=1)).date()
    return (datetime.fromisoformat(f"{day.isoformat()}T10:00:00+00:00") + timedelta(minutes=minutes)).isoformat()


def period(api: Api) -> dict[str, str]:
    return {"from": api.clock.now.isoformat(), "to": (api.clock.now + timedelta(days=2)).isoformat()}


async def book(api: Api, who: str = "admin", *, expect: int = 201, **fields: object) -> dict:
    body = {"queue": "sales", "destination": "+442079460012", "slot": slot(api), **fields}
    return await api.call("POST", "/callbacks", who, json=body, expect=expect)


async def test_fifty_concurrent_bookings_into_a_slot_of_three_book_exactly_three(api: Api) -> None:
    async def one(i: int) -> int:
        body = {"queue": "sales", "destination": f"+4420794600{i:02d}", "slot": slot(api)}
        response = await api.client.post("/api/v1/callbacks", json=body, headers=api.auth("supervisor"))
        await response.read()
        return response.status

    statuses = await asyncio.gather(*(one(i) for i in range(50)))
    assert (statuses.count(201), statuses.count(409)) == (3, 47)
    slots = await api.call("GET", "/queues/sales/slots", params=period(api), expect=200)
    assert [(s["capacity"], s["booked"]) for s in slots] == [(3, 3), (3, 0)]
    found = await api.call("GET", "/callbacks", params={"queue": "sales"}, expect=200)
    assert len(found["items"]) == 3


@pytest.mark.parametrize("role", ROLES)
async def test_every_role_lists_and_books_slots_and_a_full_slot_answers_409(api: Api, role: str) -> None:
    [first, second] = await api.call("GET", "/queues/sales/slots", role, params=period(api), expect=200)
    assert (datetime.fromisoformat(first["start"]), first["capacity"], first["booked"]) == (
        datetime.fromisoformat(slot(api)), 3, 0)
    assert datetime.fromisoformat(second["start"]) - datetime.fromisoformat(first["start"]) == timedelta(minutes=30)
    made = [await book(api, role, destination=f"+44207946001{i}") for i in range(3)]
    assert all(datetime.fromisoformat(c["slot"]) == datetime.fromisoformat(slot(api)) for c in made)
    c = made[0]
    assert c["due_at"] == c["start_at"] == c["slot"]
    assert datetime.fromisoformat(c["end_at"]) == datetime.fromisoformat(slot(api, 30))
    assert c["origin"] == ("agent" if role.startswith("agent") else "api") and c["joined_at"] is None
    error = await book(api, role, destination="+442079460019", expect=409)
    assert error["error"] == "conflict" and "full" in error["message"]
    # A cancelled booking frees its place.
    await api.call("POST", f"/callbacks/{c['id']}/cancel", role, expect=200)
    [listed, _] = await api.call("GET", "/queues/sales/slots", role, params=period(api), expect=200)
    assert listed["booked"] == 2
    await book(api, role, destination="+442079460019")
    if role.startswith("agent"):  # agents book slots of the queues they serve only
        error = await book(api, role, queue="support", expect=422)
        assert error["field"] == "queue"


@pytest.mark.parametrize(("fields", "field"), [
    ({"start_in": 60}, "slot"),
    ({"slot": "MINUTES:15"}, "slot"),
    ({"slot": "PAST"}, "slot"),
    ({"end_at": "EARLY"}, "end_at"),
    ({"origin": "caller"}, "joined_at"),
    ({"joined_at": "NOW"}, "joined_at"),
    ({"origin": "nobody"}, "origin"),
])
async def test_bad_bookings_name_the_field_and_store_nothing(api: Api, fields: dict, field: str) -> None:
    values = {"MINUTES:15": slot(api, 15), "PAST": slot(api), "EARLY": slot(api, 10), "NOW": api.clock.now.isoformat()}
    if fields.get("slot") == "PAST":  # a real slot, but begun
        api.clock.now = datetime.fromisoformat(slot(api)) + timedelta(minutes=1)
    body = {k: values.get(v, v) if isinstance(v, str) else v for k, v in fields.items()}
    error = await book(api, expect=422, **body)
    assert error["field"] == field, error
    assert (await api.call("GET", "/callbacks", expect=200))["items"] == []


async def test_a_listing_is_bounded(api: Api) -> None:
    start = api.clock.now
    for to in (start + timedelta(days=31, seconds=1), start):
        error = await api.call("GET", "/queues/sales/slots", params={"from": start.isoformat(), "to": to.isoformat()},
                               expect=422)
        assert error["field"] == "to"
    assert (await api.call("GET", "/queues/sales/slots", params={"from": start.isoformat()}, expect=422))[
        "field"] == "to"
    await api.call("GET", "/queues/nowhere/slots", params=period(api), expect=404)


async def test_a_callers_second_request_updates_the_first_and_the_queue_takes_at_most_its_limit(api: Api) -> None:
    joined = (api.clock.now - timedelta(minutes=3)).isoformat()
    # A caller's place is its join time: only the IVR's side (an admin token) claims one.
    for who in ("supervisor", "agent1001"):
        refused = await api.call("POST", "/callbacks", who, expect=422, json={
            "queue": "sales", "destination": "+442079460012", "origin": "caller", "joined_at": joined,
            "start_in": 60})
        assert refused["field"] == "origin"
    for bad in ((api.clock.now + timedelta(seconds=5)).isoformat(), (api.clock.now - timedelta(hours=5)).isoformat()):
        refused = await api.call("POST", "/callbacks", "admin", expect=422, json={
            "queue": "sales", "destination": "+442079460012", "origin": "caller", "joined_at": bad, "start_in": 60})
        assert refused["field"] == "joined_at"
    first = await api.call("POST", "/callbacks", "admin", expect=201, json={
        "queue": "sales", "destination": "+442079460012", "origin": "caller", "joined_at": joined, "start_in": 60,
        "remark": "first"})
    assert first["origin"] == "caller" and datetime.fromisoformat(first["joined_at"]) == datetime.fromisoformat(joined)
    # No end given: the caller's expiry (4 h by default) after the start.
    assert datetime.fromisoformat(first["end_at"]) - datetime.fromisoformat(first["start_at"]) == timedelta(hours=4)
    again = await book(api, "admin", expect=200, origin="caller", joined_at=api.clock.now.isoformat(),
                       remark="in a slot now")
    assert (again["id"], again["joined_at"], again["remark"]) == (first["id"], first["joined_at"], "in a slot now")
    assert again["slot"] is not None
    await api.call("PATCH", "/queues/sales", json={"max_caller_callbacks": 1}, expect=200)
    error = await api.call("POST", "/callbacks", "admin", expect=409, json={
        "queue": "sales", "destination": "+442079460013", "origin": "caller", "joined_at": joined, "start_in": 60})
    assert "max_caller_callbacks" in error["message"]
    found = await api.call("GET", "/callbacks", params={"queue": "sales"}, expect=200)
    assert [c["id"] for c in found["items"]] == [first["id"]]


async def test_a_slot_the_calling_window_closes_throughout_is_refused_when_booked(api: Api) -> None:
    day = (api.clock.now + timedelta(days=1)).date()
    await api.call("PATCH", "/queues/sales", json={"slot_capacity": [
        {"weekday": day.weekday(), "start": "10:00", "end": "11:00", "capacity": 3},
        {"weekday": day.weekday(), "start": "21:00", "end": "22:00", "capacity": 3}]}, expect=200)
    late = datetime.fromisoformat(f"{day.isoformat()}T21:00:00+00:00")  # 21:00 in London: the window has shut
    refused = await book(api, expect=422, slot=late.isoformat())
    assert refused["field"] == "slot" and "calling window" in refused["message"]
    # Without the time restriction, the same slot can be called: booked.
    await api.call("PATCH", "/queues/sales", json={"time_restriction": False}, expect=200)
    assert (await book(api, slot=late.isoformat()))["slot"] is not None
