"""A real browser (headless Chromium) on another origin cannot change anything.

The attacking page is served from another port of the same host: cross-origin but
same-site, so the SameSite=Lax session cookie IS sent with its requests, and only the
server's Origin check stands in the way. It tries what a hostile page can do without a
CORS preflight: a ``fetch`` with credentials and a ``text/plain`` body, and an HTML form
POST (``enctype="text/plain"``) shaped like JSON.
"""

from __future__ import annotations

import contextlib
import http.server
import shutil
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from support.server import HOST, free_port, serving

CHROMIUM = "/usr/bin/chromium"

ATTACK_PAGE = """<!doctype html>
<html><body>
<form id="buy" method="POST" action="{api}/api/credits/checkout" enctype="text/plain"
      target="sink">
  <input name='{{"pack": 20, "x": "' value='"}}'>
</form>
<form id="spend" method="POST" action="{api}/api/credits/consume" enctype="text/plain"
      target="sink">
  <input name='{{"amount": 1, "x": "' value='"}}'>
</form>
<iframe name="sink"></iframe>
<script>
async function attack() {{
  const results = [];
  for (const [path, body] of [["/api/credits/consume", '{{"amount": 1}}'],
                              ["/api/auth/logout", ""]]) {{
    try {{
      const r = await fetch("{api}" + path, {{method: "POST", mode: "no-cors",
        credentials: "include", headers: {{"content-type": "text/plain"}}, body: body}});
      results.push(r.type);
    }} catch (e) {{ results.push("error"); }}
  }}
  document.getElementById("buy").submit();
  return results;
}}
</script>
</body></html>
"""


@contextlib.contextmanager
def page_server(html: str) -> Iterator[str]:
    """Serve ``html`` at ``/`` on a free loopback port: the attacker's site."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer((HOST, free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            browser.close()


def credits_in_browser(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(
        "async () => (await fetch('/api/credits', {credentials: 'include'})).json()"
    )
    return result


def test_a_page_from_another_origin_changes_nothing(browser: Any) -> None:
    env = {"JOB_WORKERS": "0", "DEFAULT_FREE_CREDITS": "3", "PAYMENTS_MODE": "instant"}
    with serving(env) as api, page_server(ATTACK_PAGE.format(api=api.base_url)) as attacker:
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{api.base_url}/api/health")
        signed_up = page.evaluate(
            """async () => (await fetch('/api/auth/register', {method: 'POST',
                 credentials: 'include', headers: {'content-type': 'application/json'},
                 body: JSON.stringify({email: 'victim@example.com',
                                       password: 'correct horse battery'})})).status"""
        )
        assert signed_up == 201
        before = credits_in_browser(page)
        assert (before["freeCredits"], before["balance"], before["authenticated"]) == (3, 0, True)

        attack = context.new_page()
        attack.goto(attacker)
        fetches = attack.evaluate("attack()")
        attack.wait_for_load_state("networkidle")
        attack.evaluate("document.getElementById('spend').submit()")
        attack.wait_for_load_state("networkidle")

        after = credits_in_browser(page)

    assert fetches == ["opaque", "opaque"]  # sent and answered; what came back is unreadable
    assert after == before  # nothing spent, nothing bought, still signed in
