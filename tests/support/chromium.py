"""Debian's Chromium, driven by Playwright, for end-to-end tests of the web client.

Playwright's own browser downloads are never used: ``launch_chromium`` starts the
system's ``/usr/bin/chromium`` headless, with everything that would reach the network
on its own (updates, sync, background services) switched off.
"""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Browser, Playwright

CHROMIUM = Path(os.environ.get("PICPAYGO_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Where the tests save screenshots of the page's main states (git-ignored).
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    return None


def launch_chromium(playwright: Playwright) -> Browser:
    """The system Chromium, headless."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
