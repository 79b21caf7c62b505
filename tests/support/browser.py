"""Debian's Chromium under Playwright for the browser tests (docs/design.md section 15): launched as root on a
closed network; a test fails on any script error or console error of its pages; screenshots go to
tests/artifacts/ (ignored by git)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
# As root, and on a closed network: no sandbox, and none of Chromium's own calls home.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
PAGE_ERRORS: list[str] = []


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Chromium; a test fails on any script error or console error of its pages (the refusals it provokes,
    which Chromium logs as failed loads, aside)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: the README's test command installs Debian's chromium")
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield launched
        finally:
            await launched.close()
    errors = list(PAGE_ERRORS)
    PAGE_ERRORS.clear()
    assert errors == [], errors


def watch_errors(page: Page, who: str) -> None:
    page.on("pageerror", lambda error: PAGE_ERRORS.append(f"{who}: {error}"))
    page.on("console", lambda message: PAGE_ERRORS.append(f"{who}: {message.text}")
            if message.type == "error" and not message.text.startswith("Failed to load resource") else None)


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
