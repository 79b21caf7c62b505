"""The screens in a real browser (docs/design.md section 15): Debian's Chromium driven by Playwright, against the
admin API's pages on PostgreSQL. An agent logs in and schedules (a past time first: the error shows by its
field), the badge and the row appear; a supervisor watches the queue monitor change without reloading, purges
a callback and downloads a report; an agent is kept off the supervisor's page and another agent's callback; a
cross-site form post is refused. Screenshots of each page go to tests/artifacts/ (ignored by git; tests/support/browser.py)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import uuid
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, expect

from cbdialer.adapters.db import Database
from cbdialer.domain.access import COMMAND_LINE
from cbdialer.domain.lifecycle import CallbackState
from cbdialer.domain.models import CallbackOrigin, CallbackType
from cbdialer.ports import AgentCall, CallbackQuery
from tests.support.api_client import Api, open_api
from tests.support.browser import ARTIFACTS, shot, watch_errors

WAIT = 10_000  # ms, for what the page shows after an action or a change


@dataclass
class Site:
    api: Api
    base: str
    recordings: Path


def silent_wav(seconds: float) -> bytes:
    """A WAV file of silence, 8 kHz mono, as Asterisk's Record() writes them."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\0\0" * int(8000 * seconds))
    return out.getvalue()


@pytest.fixture
async def site(db: Database, tmp_path: Path) -> AsyncIterator[Site]:
    changed = asyncio.Event()
    stop = asyncio.Event()
    async for api in open_api(db, changed=changed, recordings_dir=tmp_path):
        api.clock.daytime()
        listener = asyncio.create_task(db.listen_for_changes(changed, stop), name="page-changes")
        try:
            yield Site(api, str(api.client.make_url("")).rstrip("/"), tmp_path)
        finally:
            stop.set()
            await asyncio.wait_for(listener, 5)


async def logged_in(browser: Browser, site: Site, who: str, *, width: int = 1280, height: int = 800) -> Page:
    context = await browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    page = await context.new_page()
    watch_errors(page, who)
    await page.goto(site.base + "/")
    await page.get_by_label("API token").fill(site.api.tokens[who])
    await page.get_by_role("button", name="Log in").click()
    return page


async def test_an_agent_schedules_a_callback_and_sees_it_in_the_panel(browser: Browser, site: Site) -> None:
    page = await logged_in(browser, site, "agent1001", width=420, height=800)
    await page.wait_for_url("**/agent")
    badge = page.locator("#badge")
    await expect(badge).to_have_text("0", timeout=WAIT)
    await page.get_by_label("Destination").fill("+442079460012")
    await page.get_by_label("Date").fill("2020-01-01")
    await page.get_by_label("Start time").fill("10:00")
    await page.get_by_label("Customer time zone").fill("Europe/London")
    await page.get_by_role("button", name="Save").click()
    # A start in the past: the API's message, shown by the field it names.
    await expect(page.locator("#start_at-error")).not_to_be_empty(timeout=WAIT)
    await shot(page, "agent-panel-error")
    await page.get_by_label("Date").fill("")
    await page.get_by_label("Start time").fill("")
    await page.get_by_label("or in").fill("2h")
    await page.get_by_label("Remark").fill("Wants the renewal quote")
    await page.get_by_role("button", name="Save").click()
    await expect(badge).to_have_text("1", timeout=WAIT)
    row = page.locator("#pending tbody tr")
    await expect(row).to_have_count(1, timeout=WAIT)
    await expect(row.first).to_contain_text("+442079460012")
    await expect(row.first).to_contain_text("Wants the renewal quote")
    await shot(page, "agent-panel")
    # Delete it: the badge goes back down (the live stream, not a reload).
    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await row.first.get_by_role("button", name="Delete").click()
    await expect(badge).to_have_text("0", timeout=WAIT)


async def test_a_supervisor_watches_the_monitor_purges_and_downloads_a_report(browser: Browser, site: Site) -> None:
    page = await logged_in(browser, site, "supervisor")
    await page.wait_for_url("**/supervisor")
    pending = page.locator('#monitor tr[data-queue="sales"] td.to-be-processed')
    await expect(pending).to_have_text("0", timeout=WAIT)
    created, _ = await site.api.admin.callbacks.create_callback(
        COMMAND_LINE, queue="sales", destination="+442079460013", type=CallbackType.STANDARD, start_in=600)
    # Not reloaded: the page hears the change over its stream.
    await expect(pending).to_have_text("1", timeout=WAIT)
    chart = page.locator("#due-chart")
    await expect(chart).to_have_attribute("src", re.compile(r"queue=sales"), timeout=WAIT)
    drawn = await page.evaluate("async () => await (await fetch(document.getElementById('due-chart').src)).text()")
    assert "1 callbacks due in the next 24 hours" in drawn and "2 agents ready" in drawn
    outcomes = await page.evaluate(
        "async () => await (await fetch(document.getElementById('outcomes-chart').src)).text()")
    assert "0 attempts ended since" in outcomes and "no answer" in outcomes
    await expect(page.locator('#monitor tr[data-queue="sales"] td.agents-ready')).to_have_text("2")
    before = await chart.get_attribute("src")
    await site.api.admin.agents.set_ready(COMMAND_LINE, "1002", False)  # news too, with no callback written
    await expect(page.locator('#monitor tr[data-queue="sales"] td.agents-ready')).to_have_text("1", timeout=WAIT)
    # The chart, drawn at most every 30 s, is drawn again at once when its agents ready change: the two agree.
    await expect(chart).not_to_have_attribute("src", before or "", timeout=WAIT)
    drawn = await page.evaluate("async () => await (await fetch(document.getElementById('due-chart').src)).text()")
    assert "1 agents ready" in drawn
    row = page.locator(f'#results tr[data-id="{created.id}"]')
    await expect(row.locator("td.location")).to_have_text("Pending", timeout=WAIT)
    await row.get_by_role("button", name="History").click()
    details = page.locator("#results tr.details")
    await expect(details).to_contain_text("new → scheduled", timeout=WAIT)
    # A caller's callback with a recording: the supervisor plays it from the search (seed 002).
    (site.recordings / "abc.wav").write_bytes(silent_wav(seconds=1))
    heard, _ = await site.api.admin.callbacks.create_callback(
        COMMAND_LINE, queue="sales", destination="+442079460015", type=CallbackType.STANDARD, start_in=900,
        origin=CallbackOrigin.CALLER, joined_at=site.api.clock.now - timedelta(minutes=2),
        recording="/var/spool/asterisk/cbdialer-recordings/abc")
    await expect(pending).to_have_text("2", timeout=WAIT)
    recorded = page.locator(f'#results tr[data-id="{heard.id}"]')
    await expect(recorded).to_be_visible(timeout=WAIT)  # the search re-read: the open history stayed, once
    await expect(page.locator(f'#results tr[data-id="{created.id}"] + tr.details')).to_contain_text("new → scheduled")
    await expect(details).to_have_count(1)
    await recorded.get_by_role("button", name="History").click()
    audio = page.locator(f'#results tr[data-id="{heard.id}"] + tr.details audio')
    duration = await audio.evaluate(
        "a => new Promise((ok, fail) => { a.onloadedmetadata = () => ok(a.duration); a.onerror = () => fail("
        "new Error('the recording did not load')); a.load(); })")
    assert duration == pytest.approx(1.0, abs=0.05)
    await shot(page, "supervisor")
    await row.get_by_role("button", name="Purge").click()
    await expect(page.locator('#monitor tr[data-queue="sales"] td.purged')).to_have_text(
        "1", timeout=WAIT)
    stored = await site.api.admin.callbacks.store.get_callback(created.id)
    assert stored is not None and stored.state is CallbackState.PURGED
    # The reports: a wrong period is refused by its field; the queue's filter narrows the preview and the CSV.
    form = page.locator("#report")
    await form.get_by_label("From").fill("2026-12-02T10:00")
    await form.get_by_label("To").fill("2026-12-01T10:00")
    await form.get_by_role("button", name="Show").click()
    await expect(page.locator("#r-from-error")).to_have_text(re.compile("before"), timeout=WAIT)
    await expect(form.get_by_label("From")).to_have_attribute("aria-invalid", "true")
    await form.get_by_label("From").fill("")
    await form.get_by_label("To").fill("")
    await form.get_by_label("Queue").select_option("sales")
    site.api.clock.now += timedelta(seconds=1)  # time moves on: the default period ends now, exclusive
    await form.get_by_role("button", name="Show").click()
    await expect(page.locator("#report-total")).to_have_text("2 records", timeout=WAIT)
    await expect(page.locator("#r-from-error")).to_be_empty()
    await expect(page.locator("#report-rows thead")).to_contain_text("Callback ID")
    await expect(page.locator("#report-rows tbody")).to_contain_text(str(heard.id))
    await shot(page, "supervisor-report")
    async with page.expect_download() as download_info:
        await page.locator("#report-csv").click()
    download = await download_info.value
    saved = ARTIFACTS / "scheduled-callbacks.csv"
    ARTIFACTS.mkdir(exist_ok=True)
    await download.save_as(str(saved))
    lines = saved.read_text().splitlines()
    assert lines[0].startswith("Campaign Type,") and len(lines) == 3  # the header and the queue's two
    await form.get_by_label("Queue").select_option("support")
    async with page.expect_download() as download_info:
        await page.locator("#report-csv").click()
    await (await download_info.value).save_as(str(saved))
    assert len(saved.read_text().splitlines()) == 1  # only the header: support has none


async def test_an_agent_is_kept_off_the_supervisors_page_and_another_agents_callback(
        browser: Browser, site: Site) -> None:
    theirs, _ = await site.api.admin.callbacks.create_callback(
        COMMAND_LINE, queue="support", destination="+442079460014", type=CallbackType.STANDARD, start_in=600)
    page = await logged_in(browser, site, "agent1001")
    await page.wait_for_url("**/agent")
    response = await page.goto(site.base + "/supervisor")
    assert response.status == 403
    await expect(page.get_by_role("heading", name="Not for agents")).to_be_visible()
    status = await page.evaluate("async (id) => (await fetch('/api/v1/callbacks/' + id)).status", str(theirs.id))
    assert status in (403, 404)


async def test_a_cross_site_form_post_is_refused(browser: Browser, site: Site) -> None:
    # Another origin (another port) whose page posts a form to cbdialer as the victim's browser would.
    evil = web.Application()

    async def form(_: web.Request) -> web.Response:
        return web.Response(content_type="text/html", text=f"""<form id="f" method="post"
            action="{site.base}/api/v1/callbacks"><input name="queue" value="sales">
            <input name="destination" value="+442079460015"></form><script>f.submit()</script>""")
    evil.router.add_get("/", form)
    server = TestServer(evil)
    await server.start_server()
    try:
        page = await logged_in(browser, site, "supervisor")
        await page.wait_for_url("**/supervisor")
        async with page.expect_response(lambda r: r.url.endswith("/api/v1/callbacks")) as answered:
            await page.goto(str(server.make_url("/")))
        response = await answered.value
        assert response.status in (401, 403)
        found = await site.api.admin.callbacks.store.search_callbacks(CallbackQuery(queue_id="sales"), limit=10)
        assert not any(c.destination == "+442079460015" for c in found)
    finally:
        with contextlib.suppress(Exception):
            await server.close()


async def test_an_agent_makes_a_callback_from_the_call_it_answered(browser: Browser, site: Site) -> None:
    answered = site.api.clock.now - timedelta(minutes=3)
    await site.api.admin.callbacks.store.record_agent_call(AgentCall(
        id=uuid.uuid4(), caller_uniqueid="1796222877.42", agent_id="1001", asterisk_queue="sales-in",
        queue_id="sales", caller_number="+442079460017", caller_name="Customer", withheld=False,
        answered_at=answered, ended_at=answered + timedelta(minutes=2)))
    page = await logged_in(browser, site, "agent1001", width=420, height=800)
    await page.wait_for_url("**/agent")
    await expect(page.locator("#last-call")).to_contain_text("+442079460017", timeout=WAIT)
    await page.get_by_role("button", name="Callback from this call").click()
    await expect(page.get_by_label("Destination")).to_have_value("+442079460017")
    await page.get_by_label("or in").fill("1h")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#badge")).to_have_text("1", timeout=WAIT)
    [made] = await site.api.admin.callbacks.store.search_callbacks(CallbackQuery(queue_id="sales"), limit=5)
    assert (made.destination, made.created_by, made.agent_id) == ("+442079460017", "1001", "1001")


async def test_a_supervisor_changes_a_queue_setting_and_a_bad_value_is_refused_by_its_field(
        browser: Browser, site: Site) -> None:
    page = await logged_in(browser, site, "supervisor")
    await page.wait_for_url("**/supervisor")
    await page.locator("#settings-queue").select_option("sales")
    field = page.get_by_label("duration for no answer")
    await expect(field).to_have_value("60", timeout=WAIT)
    await field.fill("0")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.locator("#setting-duration_for_no_answer-error")).to_contain_text(
        "duration_for_no_answer", timeout=WAIT)
    await field.fill("")  # a setting that cannot be cleared: said so by its field, not "saved"
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.locator("#setting-duration_for_no_answer-error")).to_contain_text("cannot be left empty",
                                                                                      timeout=WAIT)
    await field.fill("45")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.locator("#status")).to_have_text("Settings saved", timeout=WAIT)
    queue = await site.api.admin.queues.store.get_queue("sales")
    assert queue is not None and queue.settings.duration_for_no_answer == 45
    await shot(page, "supervisor-settings")
