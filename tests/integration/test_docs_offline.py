"""``/api/docs`` in a real browser with no network: the operations render, nothing is
fetched from another host, and the page's Content-Security-Policy refuses nothing the
page needs (no violation while it renders and while an operation is tried out).

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
# Collects the page's CSP violations (injected by the browser, not subject to the policy).
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


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
        docs = httpx.get(f"{server.base_url}/api/docs", timeout=10)
        html = docs.text
        operation_count = sum(
            len(item)
            for item in httpx.get(f"{server.base_url}/api/docs/openapi.json")
            .json()["paths"]
            .values()
        )
        refused: list[str] = []
        console: list[str] = []

        def offline(route: Route) -> None:
            if urlsplit(route.request.url).netloc == own_host:
                route.continue_()
            else:
                refused.append(route.request.url)
                route.abort("internetdisconnected")

        page = browser.new_page()
        try:
            page.route("**/*", offline)
            page.add_init_script(RECORD_VIOLATIONS)
            page.on("console", lambda message: console.append(message.text))
            page.goto(f"{server.base_url}/api/docs")
            page.wait_for_selector(".opblock", timeout=RENDER_TIMEOUT_MS)
            rendered = page.locator(".opblock").count()
            title = page.locator(".info .title").inner_text()
            live = page.locator("#operations-health-live")
            live.locator(".opblock-summary").click()
            live.locator("button.try-out__btn").click()
            live.locator("button.execute").click()
            tried = live.locator(".live-responses-table .response .response-col_status").first
            tried.wait_for(timeout=RENDER_TIMEOUT_MS)
            tried_status = tried.inner_text().strip()
            violations = page.evaluate("window.cspViolations")
        finally:
            page.close()

    policy = docs.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "'unsafe-inline'" not in policy
    assert "'unsafe-eval'" not in policy
    assert violations == []
    assert [line for line in console if "Content Security Policy" in line] == []
    assert tried_status == "200"
    assert refused == []
    assert rendered == operation_count
    assert "PicPayGo API" in title
    assert re.findall(r"https?://", html) == []  # the page names no host at all
