"""The web client in a real headless Chromium: the browser, a running site, and what a
person does on the page (by labels and button names), shared by the browser tests."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from support.api import PASSWORD
from support.chromium import SCREENSHOTS, chromium_missing, launch_chromium
from support.fake_openrouter import Answer, FakeOpenRouter
from support.images import portrait_jpeg_bytes
from support.server import ServerProcess

PHOTO = portrait_jpeg_bytes()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CATEGORIES = ("portraits", "editorial", "documentary")
WAIT_MS = 30_000
# Records every stage the progress element shows, in order, for the test to read back.
STAGE_RECORDER = """
window.jobStages = [];
document.addEventListener("DOMContentLoaded", () => {
  const progress = document.getElementById("progress");
  new MutationObserver(() => {
    const stage = progress.dataset.status;
    if (window.jobStages.at(-1) !== stage) window.jobStages.push(stage);
  }).observe(progress, { attributes: true, attributeFilter: ["data-status"] });
});
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    problem = chromium_missing()
    if problem:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{problem}; under CI=true the browser tests must run", pytrace=False)
        pytest.skip(problem)
    expect.set_options(timeout=WAIT_MS)  # jobs on a loaded machine take more than 5 s
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


class Site:
    """A running server and a way to open pages on it."""

    def __init__(self, server: ServerProcess, browser: Browser) -> None:
        self.server = server
        self.browser = browser
        self.url = server.base_url
        self.contexts: list[Any] = []

    def open(
        self,
        width: int = 1280,
        height: int = 900,
        path: str = "/",
        before_load: Callable[[Page], object] | None = None,
    ) -> Page:
        """A new page on ``path``, ready; ``before_load(page)`` runs before it loads."""
        context = self.browser.new_context(
            base_url=self.url, viewport={"width": width, "height": height}, accept_downloads=True
        )
        self.contexts.append(context)
        page = context.new_page()
        page.add_init_script(STAGE_RECORDER)
        page.set_default_timeout(WAIT_MS)
        if before_load is not None:
            before_load(page)
        page.goto(path)
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def site(browser: Browser, postgres_url: str) -> Iterator[Any]:
    """``site(**settings)`` starts ``picpaygo serve`` on the run's database.

    ``{url}`` in a setting's value becomes the server's own base URL.
    """
    running: list[Site] = []

    def start(**settings: str) -> Site:
        server = ServerProcess({"DATABASE_URL": postgres_url, "JOB_POLL_SECONDS": "0.2"})
        server.env.update({k: v.replace("{url}", server.base_url) for k, v in settings.items()})
        opened = Site(server, browser)
        running.append(opened)
        server.start()
        server.wait_ready()
        return opened

    try:
        yield start
    finally:
        for opened in reversed(running):
            opened.close()
            opened.server.close()


@pytest.fixture
def slow_model() -> Iterator[FakeOpenRouter]:
    """A fake OpenRouter that takes 1.5 s per picture, so "running" lasts long enough to see."""
    with FakeOpenRouter(default=Answer.slow(1.5, then=Answer.success())) as fake:
        yield fake


# --- what a person does ---------------------------------------------------------------


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def choose_photo(
    page: Page, data: bytes = PHOTO, name: str = "me.jpg", mime: str = "image/jpeg"
) -> None:
    page.get_by_label(re.compile(r"(Choose|Change) (a )?photo")).set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": data}]
    )


def drop_photo(page: Page, data: bytes = PHOTO, name: str = "me.jpg") -> None:
    transfer = page.evaluate_handle(
        """([data, name]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "image/jpeg" }));
            return transfer;
        }""",
        [base64.b64encode(data).decode(), name],
    )
    page.dispatch_event("#drop", "dragover", {"dataTransfer": transfer})
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})


def generate(page: Page, category: str = "portraits") -> None:
    page.get_by_role("radio", name=category.capitalize()).check()
    page.get_by_role("button", name="Generate").click()


def expect_done(page: Page) -> None:
    expect(page.locator("#job-status")).to_have_text("Done! Your picture is ready.")
    expect(page.locator("#result")).to_be_visible()


def sign_up(page: Page, email: str) -> None:
    page.get_by_role("navigation").get_by_role("button", name="Sign up").click()
    fill_credentials(page, email, "Sign up")


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.get_by_role("navigation").get_by_role("button", name="Sign in").click()
    fill_credentials(page, email, "Sign in", password)


def fill_credentials(page: Page, email: str, submit: str, password: str = PASSWORD) -> None:
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Email").fill(email)
    dialog.get_by_label("Password").fill(password)
    dialog.get_by_role("button", name=submit, exact=True).click()


def credits_shown(page: Page) -> Any:
    return expect(page.locator("#credits-total"))


def api_client(site: Site, page: Page) -> httpx.Client:
    """An API client with the page's cookies, to compare what the page shows with the API."""
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    return httpx.Client(base_url=site.url, cookies=cookies)
