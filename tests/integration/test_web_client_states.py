"""The web client's states in a real headless Chromium: prices, progress through the event
stream (or polling without it), photos refused where they are shown, an anonymous visit
without a failing request, the sign-up dialog, and no layout shift."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from support.api import unique_email
from support.fake_openrouter import FakeOpenRouter
from support.web_client import (
    PHOTO,
    choose_photo,
    expect_done,
    generate,
    shoot,
    sign_up,
)

# A "JPEG": the JPEG signature, then text. It passes a look at the first bytes only.
FAKE_JPEG = b"\xff\xd8\xff\xe0" + b"this is not a picture at all " * 20
# Adds up the layout shifts of the page (as Lighthouse's CLS does, without input).
SHIFT_RECORDER = """
window.layoutShift = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (!entry.hadRecentInput) window.layoutShift += entry.value;
  }
}).observe({ type: "layout-shift", buffered: true });
"""


def format_price(page: Page, amount: int, currency: str) -> str:
    """What the browser's Intl.NumberFormat makes of a price in minor units."""
    formatted: str = page.evaluate(
        """([amount, currency]) => {
            const format = new Intl.NumberFormat(undefined, { style: "currency", currency });
            return format.format(amount / 10 ** format.resolvedOptions().maximumFractionDigits);
        }""",
        [amount, currency.upper()],
    )
    return formatted


def job_requests(page: Page) -> dict[str, list[str]]:
    """The job requests the page makes from now on: its polls and its event streams."""
    seen: dict[str, list[str]] = {"polls": [], "streams": []}
    job = re.compile(r"/api/generate/[0-9a-f-]{36}(/events)?$")

    def record(request: Any) -> None:
        match = job.search(request.url)
        if match and request.method == "GET":
            seen["streams" if match.group(1) else "polls"].append(request.url)

    page.on("request", record)
    return seen


def test_each_pack_shows_its_price_from_the_settings(site: Any) -> None:
    web = site(CREDIT_PACK_PRICES="5:450,10:800,20:1500", PAYMENTS_CURRENCY="eur")
    page = web.open()
    with httpx.Client(base_url=web.url) as api:
        packs = api.get("/api/credits/packs").json()["packs"]
    assert [p["amount"] for p in packs] == [450, 800, 1500]

    for pack in packs:
        expected = format_price(page, pack["amount"], pack["currency"])
        button = page.get_by_role("button", name=f"{pack['pack']} credits")
        expect(button.locator(".price")).to_have_text(expected)
    assert format_price(page, 450, "eur") == "€4.50"  # Chromium's en-US
    shoot(page, "09-prices")


def test_the_default_prices_are_in_dollars(site: Any) -> None:
    page = site().open()

    for pack, price in ((5, "$5.00"), (10, "$9.00"), (20, "$16.00")):
        expect(page.get_by_role("button", name=f"{pack} credits").locator(".price")).to_have_text(
            price
        )


def test_progress_arrives_through_the_event_stream(site: Any, slow_model: FakeOpenRouter) -> None:
    web = site(OPENROUTER_API_KEY="fake-key", OPENROUTER_URL=slow_model.url)
    page = web.open()
    requests = job_requests(page)
    choose_photo(page)
    generate(page)
    expect_done(page)

    assert page.evaluate("window.jobStages") == ["sending", "queued", "running", "succeeded"]
    expect(page.locator("#progress")).to_have_attribute("data-via", "stream")
    assert len(requests["streams"]) == 1
    assert requests["polls"] == []  # nothing asked again and again


def test_with_the_stream_blocked_progress_comes_by_polling(
    site: Any, slow_model: FakeOpenRouter
) -> None:
    web = site(OPENROUTER_API_KEY="fake-key", OPENROUTER_URL=slow_model.url)
    page = web.open()
    page.route(re.compile(r"/events$"), lambda route: route.abort())
    requests = job_requests(page)
    choose_photo(page)
    generate(page)
    expect_done(page)

    expect(page.locator("#progress")).to_have_attribute("data-via", "polling")
    assert page.evaluate("window.jobStages")[-1] == "succeeded"
    assert len(requests["polls"]) >= 2


def test_a_fake_jpeg_is_refused_under_the_photo_with_no_broken_image(site: Any) -> None:
    page = site().open()
    error = page.locator("#photo-error")

    choose_photo(page, FAKE_JPEG, "fake.jpg")
    expect(error).to_have_text("That file is damaged or not really a JPEG, PNG or WebP image.")
    broken = page.evaluate(
        "[...document.images].filter((i) => i.checkVisibility() && !i.naturalWidth).length"
    )
    assert broken == 0
    expect(page.get_by_role("img", name=re.compile("Preview"))).to_be_hidden()

    choose_photo(page, PHOTO, "me.jpg")
    expect(error).to_be_hidden()
    choose_photo(page, FAKE_JPEG, "fake.jpg")
    expect(error).to_contain_text(
        "Your previous photo (me.jpg) is still the one that will be used."
    )
    preview = page.get_by_role("img", name="Preview of me.jpg")
    expect(preview).to_be_visible()
    assert preview.evaluate("img => img.naturalWidth") > 0
    shoot(page, "10-fake-jpeg")


def test_a_photo_the_server_refuses_is_said_under_the_photo(site: Any) -> None:
    page = site().open()
    detail = "The file is not a supported image (JPEG, PNG or WebP)."
    page.route(
        re.compile(r"/api/generate$"),
        lambda route: (
            route.fulfill(status=415, json={"status_code": 415, "detail": detail})
            if route.request.method == "POST"
            else route.continue_()
        ),
    )
    choose_photo(page)
    generate(page)

    expect(page.locator("#photo-error")).to_have_text(f"{detail} Choose another photo.")
    expect(page.locator("#problem")).to_be_hidden()
    expect(page.get_by_role("img", name=re.compile("Preview"))).to_be_hidden()


def test_an_anonymous_visit_makes_no_failing_request_and_does_not_shift(site: Any) -> None:
    failures: list[str] = []
    console_errors: list[str] = []

    def watch(page: Page) -> None:
        page.add_init_script(SHIFT_RECORDER)
        page.on(
            "response",
            lambda r: failures.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)

    page = site().open(width=390, height=844, before_load=watch)  # a phone: the header wraps
    expect(page.locator("#credits-total")).to_have_text("3 credits")
    expect(page.get_by_role("button", name="5 credits").locator(".price")).not_to_be_empty()

    assert failures == []
    assert console_errors == []
    assert page.evaluate("window.layoutShift") < 0.01
    expect(page.locator("#free-note")).to_be_visible()


def test_signed_in_people_are_not_promised_free_pictures(site: Any) -> None:
    page = site().open()
    hero = page.locator(".hero p")
    expect(page.locator("#free-note")).to_be_visible()
    assert "your first ones are free" in hero.inner_text()

    sign_up(page, unique_email())
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.locator("#free-note")).to_be_hidden()
    assert "free" not in hero.inner_text()
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.locator("#free-note")).to_be_hidden()


def test_the_sign_up_dialog_closes_and_points_at_the_first_empty_field(site: Any) -> None:
    page = site().open()
    page.get_by_role("navigation").get_by_role("button", name="Sign up").click()
    dialog = page.get_by_role("dialog")

    dialog.get_by_role("button", name="Sign up", exact=True).click()
    expect(dialog.get_by_label("Email")).to_be_focused()
    expect(dialog.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    dialog.get_by_label("Email").fill("ada@example.com")
    dialog.get_by_role("button", name="Sign up", exact=True).click()
    expect(dialog.get_by_label("Password")).to_be_focused()
    expect(dialog.locator("#auth-error")).to_have_text("Enter a password.")

    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
