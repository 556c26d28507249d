"""Debian's headless Chromium, driven by Playwright, for tests that use Airflow's UI as a person does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's ``chromium`` package, which scripts/bootstrap.sh installs."""
CHROMIUM_ARGS = (
    # Root runs the tests here, and Chromium's sandbox refuses to start as root.
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these, Chromium keeps dialling Google's hosts, and the closed network refuses every call.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
ACTION_TIMEOUT_MS = 60_000
"""How long an action or an ``expect`` waits for its element. The slowest step, the UI's first page load
beside a running scheduler, took under 5 s here (``expect`` alone would wait 5 s)."""


@contextmanager
def chromium_page() -> Iterator[Page]:
    """Open a page in a fresh headless Chromium, and close it (and stop the browser process) on leaving."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.set_default_timeout(ACTION_TIMEOUT_MS)
            expect.set_options(timeout=ACTION_TIMEOUT_MS)
            yield page
        finally:
            browser.close()
