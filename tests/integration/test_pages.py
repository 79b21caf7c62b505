"""The pages' sessions and their guard against cross-site posts (docs/design.md section 15), over the admin API
on PostgreSQL: a token opens a session (an HttpOnly, SameSite=Strict cookie); the API then answers the session
as it answers the token; a write through the session needs its CSRF token; an agent is kept off the
supervisor's page; logout ends it. The pages in a real browser: tests/e2e/test_pages_browser.py."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession, StreamReader

from cbdialer.adapters.db import Database
from cbdialer.adapters.http.changes import CHANGES_KEY
from cbdialer.adapters.http.sessions import COOKIE, CSRF_HEADER
from cbdialer.domain.access import COMMAND_LINE
from cbdialer.domain.models import CallbackType
from cbdialer.services.tokens import hash_token
from tests.support.api_client import Api, open_api
from tests.support.contracts.common import make_callback


@pytest.fixture
async def api(db: Database) -> AsyncIterator[Api]:
    async for opened in open_api(db):
        opened.clock.daytime()
        yield opened


async def log_in(api: Api, who: str) -> str:
    """Log in as `who`; the page's CSRF token."""
    response = await api.client.post("/login", data={"token": api.tokens[who]}, allow_redirects=False)
    assert response.status == 303, await response.text()
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    page = await api.client.get(response.headers["Location"])
    assert page.status == 200
    found = re.search(r'name="csrf-token" content="([^"]+)"', await page.text())
    assert found is not None
    return found.group(1)


async def test_a_bad_token_is_refused_and_sets_no_cookie(api: Api) -> None:
    response = await api.client.post("/login", data={"token": "nope"}, allow_redirects=False)
    assert response.status == 401 and COOKIE not in response.cookies
    assert "not valid" in await response.text()
    page = await api.client.get("/agent", allow_redirects=False)
    assert page.status == 303 and page.headers["Location"] == "/login"


async def test_the_session_speaks_for_its_token_and_writes_need_the_csrf_token(api: Api) -> None:
    csrf = await log_in(api, "agent1001")
    panel = await api.client.get("/api/v1/agents/1001/callbacks")
    assert panel.status == 200 and (await panel.json())["agent"] == "1001"
    # Another agent's panel: refused as the API refuses 1001's token.
    bearer = await api.client.get("/api/v1/agents/1002/callbacks", cookies={}, headers=api.auth("agent1001"))
    assert (await api.client.get("/api/v1/agents/1002/callbacks")).status == bearer.status == 404
    body = {"queue": "sales", "destination": "+442079460012", "type": "agent", "agent": "1001", "start_in": 3600}
    refused = await api.client.post("/api/v1/callbacks", json=body)
    assert refused.status == 403 and (await refused.json())["field"] == CSRF_HEADER
    forged = await api.client.post("/api/v1/callbacks", json=body, headers={CSRF_HEADER: "x" + csrf})
    assert forged.status == 403
    made = await api.client.post("/api/v1/callbacks", json=body, headers={CSRF_HEADER: csrf})
    assert made.status == 201, await made.text()
    assert (await (await api.client.get("/api/v1/agents/1001/callbacks")).json())["pending"] == 1


async def test_a_cross_site_form_post_is_refused_and_stores_nothing(api: Api) -> None:
    csrf = await log_in(api, "supervisor")
    # A page elsewhere posts a form here: the browser sends its Origin; a form can set no CSRF header.
    other = await api.client.post("/logout", data={"csrf": csrf}, headers={"Origin": "https://evil.example"})
    assert other.status == 403
    form = await api.client.post("/api/v1/callbacks", data={"queue": "sales", "destination": "+442079460012"},
                                 headers={"Origin": "https://evil.example"})
    assert form.status == 403
    assert (await api.client.get("/api/v1/callbacks")).status == 200  # still logged in: nothing was done


async def test_an_agent_cannot_open_the_supervisors_page_and_logout_ends_the_session(api: Api) -> None:
    csrf = await log_in(api, "agent1001")
    page = await api.client.get("/supervisor")
    assert page.status == 403 and "Not for agents" in await page.text()
    out = await api.client.post("/logout", data={"csrf": csrf}, allow_redirects=False)
    assert out.status == 303 and out.headers["Location"] == "/login"
    assert (await api.client.get("/api/v1/agents/1001/callbacks")).status == 401
    assert (await api.client.get("/agent", allow_redirects=False)).status == 303


async def test_a_forged_damaged_or_ended_cookie_is_no_session(api: Api) -> None:
    csrf = await log_in(api, "supervisor")
    cookie = api.client.session.cookie_jar.filter_cookies(api.client.make_url("/"))[COOKIE].value
    token_hash, opened, expires, signature = cookie.split(".")
    assert api.tokens["supervisor"] not in cookie  # the cookie holds the token's hash, never the token
    async with ClientSession(base_url=str(api.client.make_url("/"))) as other:
        assert (await other.get("/api/v1/callbacks", cookies={COOKIE: cookie})).status == 200  # a copy works...
        admin_hash = hash_token(api.tokens["admin"])
        for value in (f"{token_hash}.{opened}.{int(expires) + 3600}.{signature}",
                      f"{admin_hash}.{opened}.{expires}.{signature}", "a.1.2.\u00e9", "x"):
            response = await other.get("/api/v1/callbacks", cookies={COOKIE: value})
            assert response.status == 401, value
        non_ascii = await other.post("/api/v1/callbacks", json={}, cookies={COOKIE: cookie},
                                     headers={CSRF_HEADER: "\u00e9"})
        assert non_ascii.status == 403
        # ...until its holder logs out: then no copy of it is worth anything, on any node.
        out = await api.client.post("/logout", data={"csrf": csrf}, allow_redirects=False)
        assert out.status == 303
        assert (await other.get("/api/v1/callbacks", cookies={COOKIE: cookie})).status == 401
    # A new login works at once.
    await log_in(api, "supervisor")
    assert (await api.client.get("/api/v1/callbacks")).status == 200


async def next_change(stream: StreamReader, seen: int) -> int:
    """The next `changed` event's version past `seen` (keepalives may come first)."""
    while True:
        event = await asyncio.wait_for(stream.readuntil(b"\n\n"), 10)
        if event.startswith(b"event: changed") and (version := int(event.rsplit(b"data: ", 1)[1])) > seen:
            return version


async def test_the_stream_tells_a_page_when_what_it_shows_changed(db: Database) -> None:
    """A callback written, a queue stopped with no callback in it, an agent made not ready: each is news to
    the supervisor's page (migrations 0003 and 0016)."""
    changed, stop = asyncio.Event(), asyncio.Event()
    async for api in open_api(db, changed=changed):
        listener = asyncio.create_task(db.listen_for_changes(changed, stop))
        try:
            await log_in(api, "supervisor")
            async with api.client.get("/events") as stream:
                assert stream.status == 200 and stream.content_type == "text/event-stream"
                first = await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 5)
                assert b"event: changed" in first
                seen = int(first.rsplit(b"data: ", 1)[1])
                if seen < 1:  # the listener's first version (it looks again once it listens) is not news
                    seen = await next_change(stream.content, seen)
                for change in (
                        api.admin.callbacks.create_callback(COMMAND_LINE, queue="sales", destination="+442079460012",
                                                            type=CallbackType.STANDARD, start_in=600),
                        api.admin.queues.run_queue(COMMAND_LINE, "support", False),
                        api.admin.agents.set_ready(COMMAND_LINE, "1002", False)):
                    await change
                    seen = await next_change(stream.content, seen)
        finally:
            stop.set()
            await asyncio.wait_for(listener, 5)


async def test_the_monitor_is_read_again_once_the_book_is_heard_to_change(db: Database) -> None:
    """GET /monitor shares one read per version of the book among its viewers; a write another process makes
    is notified, moves the version, and the next answer has it."""
    changed, stop = asyncio.Event(), asyncio.Event()
    async for api in open_api(db, changed=changed):
        listener = asyncio.create_task(db.listen_for_changes(changed, stop))
        changes = api.client.app[CHANGES_KEY]
        try:
            seen = await changes.next(0, timeout=10)  # the listener's first look
            rows = await api.call("GET", "/monitor", "supervisor", expect=200)
            assert [(r["queue"], r["to_be_processed"]) for r in rows] == [("sales", 0), ("support", 0)]
            assert await api.call("GET", "/monitor", "admin", expect=200) == rows
            await api.db.store().add_callback(make_callback(api.clock.now), actor="elsewhere")
            await changes.next(seen, timeout=10)
            rows = await api.call("GET", "/monitor", "supervisor", expect=200)
            assert [(r["queue"], r["to_be_processed"]) for r in rows] == [("sales", 1), ("support", 0)]
        finally:
            stop.set()
            await asyncio.wait_for(listener, 5)


@pytest.mark.parametrize("chart", ["due", "outcomes"])
async def test_a_chart_is_the_supervisors_and_an_inert_document(api: Api, chart: str) -> None:
    """Both charts: SVG drawn from the API's figures, shown to a supervisor only, with headers that keep an
    SVG opened on its own from running or loading anything."""
    await api.admin.callbacks.create_callback(COMMAND_LINE, queue="sales", destination="+442079460012",
                                              type=CallbackType.STANDARD, start_in=600)
    await log_in(api, "supervisor")
    response = await api.client.get(f"/supervisor/{chart}.svg", params={"queue": "sales"})
    assert response.status == 200 and response.content_type == "image/svg+xml"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    text = await response.text()
    assert "<script" not in text
    assert ("1 callbacks due in the next 24 hours" in text) if chart == "due" else ("Queue sales" in text)
    assert (await api.client.get(f"/supervisor/{chart}.svg", params={"queue": "nowhere"})).status == 404
    await api.client.post("/logout", headers={"Origin": str(api.client.make_url(""))})
    await log_in(api, "agent1001")
    assert (await api.client.get(f"/supervisor/{chart}.svg", params={"queue": "sales"})).status == 403
