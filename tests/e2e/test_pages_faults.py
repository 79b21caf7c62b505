"""The pages under faults (docs/design.md sections 8 and 15): a supervisor's page open in Chromium against
`cbdialer run` rides through a PostgreSQL restart (the daemon's listener opens again, and the page hears of
the next change without a reload) and through the daemon killed with -9 and started again on the same
address: the page says it lost touch, its stream reopens by itself, the session holds (the same
CBDIALER_SESSION_SECRET) and the page reads everything again. The database is a server of the test's own."""

from __future__ import annotations

import secrets
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from playwright.async_api import Browser, Page, expect

from cbdialer.adapters.db import Database
from cbdialer.domain.access import COMMAND_LINE, Role
from cbdialer.domain.models import CallbackType, Queue, QueueSettings
from cbdialer.services import Admin
from tests.support.browser import shot, watch_errors
from tests.support.daemon import Daemon
from tests.support.postgres import PrivatePostgres, private_database_url, private_postgres, restart

__all__ = ["private_database_url", "private_postgres"]  # fixtures used here

WAIT = 30_000  # ms: a listener's backoff after the restart, a daemon's start


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Book:
    """The test's own connection to the daemon's database, opened again after a restart."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.db: Database | None = None

    async def open(self) -> Admin:
        self.db = await Database.connect(self.url, max_size=2)
        return Admin(self.db.store(), lambda: datetime.now(UTC))

    async def close(self) -> None:
        if self.db is not None:
            await self.db.close()
            self.db = None

    async def add(self, number: str) -> None:
        admin = await self.open()
        try:
            await admin.callbacks.create_callback(COMMAND_LINE, queue="sales", destination=number,
                                                  type=CallbackType.STANDARD, start_in=3600)
        finally:
            await self.close()


@pytest.fixture
async def book(private_database_url: str) -> AsyncIterator[Book]:
    book = Book(private_database_url)
    yield book
    await book.close()


async def started(pbx: dict[str, str], url: str, port: int, secret: str) -> Daemon:
    daemon = await Daemon.start(pbx, url, CBDIALER_HTTP_PORT=str(port), CBDIALER_SESSION_SECRET=secret)
    await daemon.wait_for_log(lambda line: line.get("event") == "admin_api_listening", timeout=20)
    return daemon


async def test_the_supervisors_page_rides_through_a_database_restart_and_a_killed_daemon(
        pbx: dict[str, str], private_postgres: PrivatePostgres, private_database_url: str, book: Book,
        browser: Browser) -> None:
    admin = await book.open()
    assert book.db is not None
    await book.db.store().save_queue(Queue(id="sales", name="Sales", settings=QueueSettings()))
    token = await admin.tokens.issue_token(Role.SUPERVISOR)
    await book.close()
    port, secret = free_port(), secrets.token_urlsafe(32)
    daemon = await started(pbx, private_database_url, port, secret)
    try:
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page: Page = await context.new_page()
        watch_errors(page, "supervisor")
        await page.goto(f"http://127.0.0.1:{port}/")
        await page.get_by_label("API token").fill(token)
        await page.get_by_role("button", name="Log in").click()
        await page.wait_for_url("**/supervisor")
        pending = page.locator('#monitor tr[data-queue="sales"] td.to-be-processed')
        await expect(pending).to_have_text("0", timeout=WAIT)

        # PostgreSQL restarts under the daemon: its listener opens again; the page hears the next change.
        await restart(private_postgres)
        await daemon.wait_for_log(lambda line: line.get("event") == "database_unavailable", timeout=30)
        await daemon.wait_for_log(lambda line: line.get("event") == "database_back", timeout=30)
        await book.add("+442079460012")
        await expect(pending).to_have_text("1", timeout=WAIT)

        # kill -9, a change while it is down, then the daemon again on the same address.
        daemon.kill()
        assert await daemon.stop() == -9
        # The restart was ridden through: warnings, no error.
        assert not any(line.get("level") in ("error", "critical") for line in daemon.lines), daemon.tail()
        await expect(page.locator("#offline")).to_be_visible(timeout=WAIT)
        await shot(page, "supervisor-offline")
        await book.add("+442079460013")
        daemon = await started(pbx, private_database_url, port, secret)
        await expect(page.locator("#offline")).to_be_hidden(timeout=WAIT)
        await expect(pending).to_have_text("2", timeout=WAIT)  # read again on reconnecting: not reloaded
        assert page.url.endswith("/supervisor")  # the session held
        await book.add("+442079460014")
        await expect(pending).to_have_text("3", timeout=WAIT)  # and live again
        await expect(page.locator("#settings-fields input").first).to_be_visible()
        for chart in ("#due-chart", "#outcomes-chart"):  # drawn again: none left broken by the outage
            await expect(page.locator(chart)).to_have_js_property("naturalWidth", 560, timeout=WAIT)
        await shot(page, "supervisor-after-faults")
        await context.close()
    finally:
        assert await daemon.stop() == 0
    assert not any(line.get("level") in ("error", "critical") for line in daemon.lines), daemon.tail()
