"""The agent's panel during a real call (docs/design.md section 15, seed 003): in Chromium, against `cbdialer
run` and the sandbox PBX. Agent 1003 (a SIPp phone that answers) schedules a callback, presses Call Now, its
phone rings, the panel follows the call (on the call, then wrap-up) and the agent gives a disposition in the
wrap-up, which the dialer applies. Everything waits for events: the page's own text, AMI events, the book."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.async_api import Browser, expect

from cbdialer.adapters.ami import DeviceStateChange
from cbdialer.domain.access import Role
from cbdialer.domain.lifecycle import CallbackState
from cbdialer.domain.models import CompletionStatus
from cbdialer.ports import CallbackQuery
from cbdialer.services import Admin
from tests.e2e.conftest import Book, Events
from tests.support.browser import shot, watch_errors
from tests.support.daemon import Daemon

AGENT = "1003"  # the sandbox phone that answers
CUSTOMER = "+442079460016"  # answers after a second, says hello, stays ten seconds (asterisk/sandbox)
WAIT = 30_000  # ms


async def test_call_now_rings_the_phone_and_the_panel_follows_the_call_to_a_disposition(
        pbx: dict[str, str], database_url: str, crash_book: Book, watcher: Events, browser: Browser) -> None:
    await crash_book.queue("sales", [AGENT], wrap_up_time=15)
    token = await Admin(crash_book.store, lambda: datetime.now(UTC)).tokens.issue_token(Role.AGENT, AGENT)
    daemon = await Daemon.start(pbx, database_url)
    try:
        listening = await daemon.wait_for_log(lambda line: line.get("event") == "admin_api_listening", timeout=20)
        await daemon.wait_for_log(lambda line: line.get("event") == "ami_link_up", timeout=20)
        base = f"http://127.0.0.1:{listening['port']}"
        context = await browser.new_context(viewport={"width": 420, "height": 800})
        page = await context.new_page()
        watch_errors(page, AGENT)
        await page.goto(base + "/")
        await page.get_by_label("API token").fill(token)
        await page.get_by_role("button", name="Log in").click()
        await page.wait_for_url("**/agent")
        await page.get_by_label("Destination").fill(CUSTOMER)
        await page.get_by_label("or in").fill("1h")
        await page.get_by_label("Remark").fill("Asked for a call about the invoice")
        await page.get_by_role("button", name="Save").click()
        await expect(page.locator("#badge")).to_have_text("1", timeout=WAIT)
        await page.locator("#pending tbody tr").first.get_by_role("button", name="Call Now").click()
        # The sandbox phone rings: Asterisk says so.
        await watcher.wait_for(lambda e: e == DeviceStateChange(device=f"PJSIP/agent-{AGENT}", state="RINGING"),
                               timeout=30)
        current = page.locator("#current")
        await expect(current).to_have_attribute("data-state", "handling", timeout=WAIT)
        await expect(page.locator("#current-number")).to_have_text(CUSTOMER)
        await shot(page, "agent-panel-on-a-call")
        # The customer hangs up after ten seconds: the wrap-up offers the dispositions the result allows.
        await expect(current).to_have_attribute("data-state", "wrap_up", timeout=WAIT)
        await shot(page, "agent-panel-wrap-up")
        await page.get_by_label("Call back (for callback requested)").fill("2h")
        await current.get_by_role("button", name="callback requested").click()
        [callback] = await crash_book.store.search_callbacks(CallbackQuery(queue_id="sales"), limit=5)
        done = await crash_book.wait_until(
            callback.id, lambda c: c.completion_status is CompletionStatus.CALLBACK_REQUESTED, timeout=60)
        assert done.state is CallbackState.SCHEDULED
        assert done.due_at >= datetime.now(UTC) + timedelta(hours=1, minutes=55)
        await expect(page.locator("#badge")).to_have_text("1", timeout=WAIT)  # back in the panel, for later
        await context.close()
    finally:
        assert await daemon.stop() == 0
    assert not any(line.get("level") in ("error", "critical") for line in daemon.lines), daemon.tail()
