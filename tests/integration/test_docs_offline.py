"""``/api/docs`` in a real browser with no network: the operations render, nothing is
fetched from another host.

Headless Debian Chromium driven by Playwright; every request to a host other than the
server is refused, as it would be on a machine without internet.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Route, sync_playwright

from support.server import serving

CHROMIUM = Path("/usr/bin/chromium")
RENDER_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("Chromium is not installed (the CI script installs it)", pytrace=False)
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            launched.close()


def test_the_docs_page_renders_every_operation_with_no_network(browser: Browser) -> None:
    with serving({}) as server:
        own_host = urlsplit(server.base_url).netloc
        html = httpx.get(f"{server.base_url}/api/docs", timeout=10).text
        operation_count = sum(
            len(item)
            for item in httpx.get(f"{server.base_url}/api/docs/openapi.json")
            .json()["paths"]
            .values()
        )
        refused: list[str] = []

        def offline(route: Route) -> None:
            if urlsplit(route.request.url).netloc == own_host:
                route.continue_()
            else:
                refused.append(route.request.url)
                route.abort("internetdisconnected")

        page = browser.new_page()
        try:
            page.route("**/*", offline)
            page.goto(f"{server.base_url}/api/docs")
            page.wait_for_selector(".opblock", timeout=RENDER_TIMEOUT_MS)
            rendered = page.locator(".opblock").count()
            title = page.locator(".info .title").inner_text()
        finally:
            page.close()

    assert refused == []
    assert rendered == operation_count
    assert "PicPayGo API" in title
    assert re.findall(r"https?://", html) == []  # the page names no host at all
