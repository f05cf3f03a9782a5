"""The web client's account flows in a real headless Chromium against a real
``picpaygo serve`` mailing through a real SMTP server (aiosmtpd, in this process):
forgot → mail → reset → signed in; verify from the mailed link; change password;
download my data; delete my account with a typed confirmation."""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from support.api import PASSWORD, register, unique_email
from support.chromium import chromium_missing, launch_chromium
from support.mail import text_of
from support.server import ServerProcess
from support.smtp import SmtpServer

WAIT_MS = 30_000
NEW_PASSWORD = "a brand new password"
LINK = re.compile(r"https?://[^/\s]+(/\?(?:verify|reset)=[A-Za-z0-9_-]+)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    problem = chromium_missing()
    if problem:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{problem}; under CI=true the browser tests must run", pytrace=False)
        pytest.skip(problem)
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def server(postgres_url: str, smtp: SmtpServer) -> Iterator[ServerProcess]:
    running = ServerProcess({"DATABASE_URL": postgres_url, "MAIL_URL": smtp.url})
    running.env["PUBLIC_URL"] = running.base_url
    running.start()
    try:
        running.wait_ready()
        yield running
    finally:
        running.close()


@pytest.fixture
def open_page(browser: Browser, server: ServerProcess) -> Iterator[Any]:
    contexts: list[Any] = []

    def open_(path: str = "/") -> Page:
        context = browser.new_context(base_url=server.base_url, accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(path)
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        return page

    try:
        yield open_
    finally:
        for context in contexts:
            context.close()


def mailed_link(smtp: SmtpServer, email: str, kind: str, count: int = 1) -> str:
    """The path (``/?<kind>=<token>``) of the newest ``kind`` link mailed to ``email``."""
    found: list[str] = []
    for _ in range(2):
        messages = smtp.inbox.wait_for(email, count)
        found = [m for message in messages for m in LINK.findall(text_of(message)) if kind in m]
        if found:
            break
        count += 1
    assert found, f"no {kind} link mailed to {email}"
    return found[-1]


def signed_in_as(page: Page, email: str) -> None:
    expect(page.locator("#who")).to_have_text(email)


def test_forgot_password_mail_reset_and_signed_in(
    server: ServerProcess, smtp: SmtpServer, open_page: Any
) -> None:
    email = unique_email()
    with httpx.Client(base_url=server.base_url) as api:
        register(api, email)
    smtp.inbox.wait_for(email)  # the verification mail
    page = open_page()
    page.get_by_role("navigation").get_by_role("button", name="Sign in").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Forgot password?").click()
    expect(dialog.get_by_label("Password")).to_be_hidden()
    dialog.get_by_label("Email").fill(email)
    dialog.get_by_role("button", name="Send me a link").click()
    expect(page.locator("#notice")).to_contain_text("we mailed it a link")

    link = mailed_link(smtp, email, "reset", count=2)
    page.goto(link)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    reset = page.get_by_role("dialog", name="Choose a new password")
    reset.get_by_label("New password").fill(NEW_PASSWORD)
    reset.get_by_role("button", name="Set my password").click()
    signed_in_as(page, email)
    expect(page.locator("#notice")).to_contain_text("you are signed in")
    assert "reset=" not in page.url
    with httpx.Client(base_url=server.base_url) as api:
        login = api.post("/api/auth/login", json={"email": email, "password": NEW_PASSWORD})
        assert login.status_code == 200


def test_verify_the_email_from_the_mailed_link(smtp: SmtpServer, open_page: Any) -> None:
    email = unique_email()
    page = open_page()
    page.get_by_role("navigation").get_by_role("button", name="Sign up").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Email").fill(email)
    dialog.get_by_label("Password").fill(PASSWORD)
    dialog.get_by_role("button", name="Sign up", exact=True).click()
    signed_in_as(page, email)
    expect(page.locator("#verify-banner")).to_be_visible()

    page.goto(mailed_link(smtp, email, "verify"))
    expect(page.locator("#notice")).to_have_text("Thank you: your email address is verified.")
    expect(page.locator("#verify-banner")).to_be_hidden()
    assert "verify=" not in page.url


def test_change_password_download_my_data_and_delete_my_account(
    server: ServerProcess, open_page: Any
) -> None:
    email = unique_email()
    page = open_page()
    page.get_by_role("navigation").get_by_role("button", name="Sign up").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Email").fill(email)
    dialog.get_by_label("Password").fill(PASSWORD)
    dialog.get_by_role("button", name="Sign up", exact=True).click()
    signed_in_as(page, email)
    with httpx.Client(base_url=server.base_url) as other:
        assert (
            other.post("/api/auth/login", json={"email": email, "password": PASSWORD}).status_code
            == 200
        )

        page.get_by_role("button", name="My account").click()
        panel = page.locator("#settings")
        expect(panel).to_be_visible()
        panel.get_by_label("Current password").fill(PASSWORD)
        panel.get_by_label("New password").fill(NEW_PASSWORD)
        panel.get_by_role("button", name="Change password").click()
        expect(page.locator("#notice")).to_contain_text("your other devices are signed out")
        assert other.get("/api/auth/me").status_code == 401

    with page.expect_download() as downloading:
        panel.get_by_role("button", name="Download my data").click()
    path = downloading.value.path()
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
        account = json.loads(archive.read("account.json"))
    assert account["profile"]["email"] == email

    delete = panel.get_by_role("button", name="Delete my account")
    expect(panel).to_contain_text("Unspent credits are lost")
    expect(delete).to_be_disabled()
    panel.get_by_label("Type DELETE to confirm").fill("DELETE")
    panel.get_by_label("Your password").fill(NEW_PASSWORD)
    expect(delete).to_be_enabled()
    delete.click()
    expect(page.locator("#notice")).to_contain_text("Your account is deleted")
    expect(page.get_by_role("navigation").get_by_role("button", name="Sign in")).to_be_visible()
    expect(panel).to_be_hidden()
    with httpx.Client(base_url=server.base_url) as api:
        login = api.post("/api/auth/login", json={"email": email, "password": NEW_PASSWORD})
        assert login.status_code == 401
