"""The web client at ``/`` in a real headless Chromium, against a real ``picpaygo serve``.

Each test starts the server on the run's PostgreSQL database (the offline generator, or
the fake OpenRouter where a slower model makes the job's stages visible) and uses the
page as a person would: by labels and button names, the file picker or drag-and-drop.
What the page shows is checked against what the API says. Screenshots of the main
states are saved in ``screenshots/`` (git-ignored).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import FileChooser, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from support.api import unique_email
from support.chromium import SCREENSHOTS
from support.fake_openrouter import FakeOpenRouter
from support.s3 import S3Server, store_env
from support.web_client import (
    CATEGORIES,
    PHOTO,
    PNG_SIGNATURE,
    WAIT_MS,
    api_client,
    choose_photo,
    credits_shown,
    drop_photo,
    expect_done,
    fill_credentials,
    generate,
    shoot,
    sign_in,
    sign_up,
)

# --- the tests ------------------------------------------------------------------------


def test_a_first_picture_anonymously_with_free_credits(
    site: Any, slow_model: FakeOpenRouter
) -> None:
    web = site(OPENROUTER_API_KEY="fake-key", OPENROUTER_URL=slow_model.url)
    page = web.open()
    credits_shown(page).to_have_text("3 credits")
    expect(page.locator("#credits-detail")).to_have_text("3 free")
    shoot(page, "01-empty")

    choose_photo(page)
    expect(page.get_by_role("img", name="Preview of me.jpg")).to_be_visible()
    generate(page, "portraits")
    expect(page.locator("#progress")).to_have_attribute("data-status", "running")
    shoot(page, "02-running")
    expect_done(page)

    assert page.evaluate("window.jobStages") == ["sending", "queued", "running", "succeeded"]
    credits_shown(page).to_have_text("2 credits")
    result = page.get_by_role("img", name="Your photo restyled as portraits")
    expect(result).to_be_visible()
    expect(page.get_by_role("img", name="Your original photo")).to_be_visible()
    assert result.evaluate("img => img.naturalWidth") > 0
    shoot(page, "03-anonymous-result")


def test_with_an_object_store_the_picture_comes_from_the_store(
    site: Any, s3_server: S3Server
) -> None:
    web = site(**store_env(s3_server.url, s3_server.new_bucket(), "web"))
    page = web.open()
    from_store: list[tuple[str, int]] = []
    page.on(
        "response",
        lambda r: from_store.append((r.url, r.status)) if r.url.startswith(s3_server.url) else None,
    )
    blocked: list[str] = []
    page.on(
        "console",
        lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None,
    )

    choose_photo(page)
    generate(page, "portraits")
    expect_done(page)

    result = page.get_by_role("img", name="Your photo restyled as portraits")
    expect(result).to_be_visible()
    page.wait_for_function(
        "() => document.getElementById('result-image').naturalWidth > 0", timeout=WAIT_MS
    )
    assert blocked == []
    assert [status for url, status in from_store if "/web/outputs/" in url] == [200]


def test_a_reload_while_the_picture_is_made_does_not_lose_it(
    site: Any, slow_model: FakeOpenRouter
) -> None:
    web = site(OPENROUTER_API_KEY="fake-key", OPENROUTER_URL=slow_model.url)
    page = web.open()
    choose_photo(page)
    generate(page, "documentary")
    expect(page.locator("#progress")).to_have_attribute("data-status", "running")

    page.reload()
    expect_done(page)
    expect(page.get_by_role("img", name="Your photo restyled as documentary")).to_be_visible()
    expect(page.get_by_role("img", name="Your original photo")).to_be_hidden()
    credits_shown(page).to_have_text("2 credits")
    page.reload()  # once finished, it is not followed again
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#result")).to_be_hidden()


def test_sign_up_buy_a_pack_generate_in_each_category_and_download(site: Any) -> None:
    web = site(DEFAULT_FREE_CREDITS="0")
    page = web.open()
    credits_shown(page).to_have_text("0 credits")
    sign_up(page, unique_email())
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    page.get_by_role("button", name="5 credits").click()
    expect(page.locator("#buy-status")).to_have_text("5 credits added. You now have 5 credits.")
    credits_shown(page).to_have_text("5 credits")
    expect(page.locator("#credits-detail")).to_have_text("0 free · 5 bought")

    drop_photo(page)
    expect(page.get_by_role("img", name="Preview of me.jpg")).to_be_visible()
    api = api_client(web, page)
    for number, category in enumerate(CATEGORIES, start=1):
        generate(page, category)
        expect_done(page)
        expect(page.locator("#result-caption")).to_have_text(category.capitalize())
        shoot(page, f"04-result-{category}")
        with page.expect_download() as download:
            page.get_by_role("link", name="Download").click()
        saved = download.value
        assert saved.suggested_filename.startswith(f"picpaygo-{category}-")
        data = Path(saved.path()).read_bytes()
        assert data.startswith(PNG_SIGNATURE)
        output_url = page.get_by_role("link", name="Download").get_attribute("href")
        assert data == api.get(output_url).content
        credits_shown(page).to_have_text(f"{5 - number} credits")
    assert api.get("/api/credits").json()["credits"] == 2


def test_without_credits_the_page_offers_to_buy_them(site: Any) -> None:
    web = site(DEFAULT_FREE_CREDITS="0")
    page = web.open()
    choose_photo(page)

    expect(page.get_by_role("button", name="Generate")).to_be_disabled()
    next_step = page.locator("#no-credit")
    expect(next_step).to_contain_text("sign up and buy a pack")
    expect(page.get_by_role("button", name="Generate")).to_have_attribute(
        "aria-describedby", "no-credit-text"
    )
    with httpx.Client(base_url=web.url) as api:  # the API still refuses on its own
        refused = api.post(
            "/api/generate",
            files={"image": ("me.jpg", PHOTO, "image/jpeg")},
            data={"category": "portraits"},
        )
    assert refused.status_code == 402
    shoot(page, "05-no-credits")

    next_step.get_by_role("button", name="Sign up to buy credits").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Create your account")).to_be_visible()
    expect(dialog.locator("#auth-reason")).to_contain_text("kept in an account")
    shoot(page, "05b-why-sign-up")
    fill_credentials(page, unique_email(), "Sign up")
    expect(next_step).to_contain_text("You have no credits left. Buy a pack")
    expect(next_step.get_by_role("button", name="Buy credits")).to_be_visible()
    expect(page.get_by_role("button", name="Generate")).to_be_disabled()
    page.get_by_role("button", name="10 credits").click()
    credits_shown(page).to_have_text("10 credits")
    expect(next_step).to_be_hidden()
    generate(page)
    expect_done(page)
    credits_shown(page).to_have_text("9 credits")


def test_the_api_s_own_sentences_for_a_large_file_a_non_image_and_too_many_sign_ins(
    site: Any,
) -> None:
    web = site(MAX_UPLOAD_BYTES="4000", AUTH_ATTEMPTS_PER_MINUTE="2")
    page = web.open()
    photo_error = page.locator("#photo-error")  # upload problems are said under the photo

    choose_photo(page)  # 16 KB: fine for the browser, too large for this server
    generate(page)
    expect(photo_error).to_contain_text("larger")
    assert "413" not in photo_error.inner_text()
    expect(page.locator("#problem")).to_be_hidden()

    fake_png = PNG_SIGNATURE + b"not really a picture" * 10
    choose_photo(page, fake_png, "fake.png", "image/png")
    with httpx.Client(base_url=web.url) as api:
        refused = api.post(
            "/api/generate",
            files={"image": ("fake.png", fake_png, "image/png")},
            data={"category": "portraits"},
        )
    assert refused.status_code == 415  # and the page refuses it before sending it
    expect(photo_error).to_contain_text("not really a JPEG, PNG or WebP image")

    choose_photo(page, b"hello", "notes.txt", "text/plain")
    expect(page.locator("#photo-error")).to_have_text("That file is not a JPEG, PNG or WebP image.")

    email = unique_email()
    page.get_by_role("navigation").get_by_role("button", name="Sign in").click()
    error = page.get_by_role("dialog").locator("#auth-error")
    for _ in range(3):
        fill_credentials(page, email, "Sign in", "wrong password")
        expect(error).to_be_visible()
    expect(error).to_contain_text("Too many")
    shoot(page, "06-too-many-sign-ins")


# Contrast ratio (WCAG 2) of an element's text against the first opaque background
# behind it.
CONTRAST = """
(element) => {
  const rgb = (text) => text.match(/[\\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => {
    const [R, G, B] = [r, g, b].map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * R + 0.7152 * G + 0.0722 * B;
  };
  let node = element;
  let background = null;
  while (node && node.nodeType === 1) {
    const colour = rgb(getComputedStyle(node).backgroundColor);
    if (colour.length === 3 || colour[3] === 1) { background = colour.slice(0, 3); break; }
    node = node.parentElement;
  }
  background = background || [255, 255, 255];
  const [a, b] = [luminance(rgb(getComputedStyle(element).color)), luminance(background)];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}
"""
TEXT_ELEMENTS = (
    "h1",
    ".hero p",
    ".help",
    ".look-hint",
    ".credits-detail",
    "#sign-in-open",
    ".primary",
    ".pack",
    ".foot a",
    ".drop-text",
    ".problem p",
    ".no-credit p",
    ".price",
    "#photo-error",
)


def open_picker_with_the_keyboard(page: Page) -> FileChooser:
    """Space on the focused file input opens the picker. On a loaded machine Chromium
    sometimes drops the first key's user activation, so a second press is allowed."""
    for attempt in range(3):
        try:
            with page.expect_file_chooser(timeout=10_000) as chooser:
                page.keyboard.press("Space")
            return chooser.value
        except PlaywrightTimeoutError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def test_it_works_from_the_keyboard_with_readable_contrast(site: Any) -> None:
    web = site(DEFAULT_FREE_CREDITS="1")
    page = web.open()

    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to the studio"
    for _ in range(10):
        if page.evaluate("document.activeElement.id") == "photo":
            break
        page.keyboard.press("Tab")
    expect(page.locator("#photo")).to_be_focused()
    open_picker_with_the_keyboard(page).set_files(
        files=[{"name": "me.jpg", "mimeType": "image/jpeg", "buffer": PHOTO}]
    )
    expect(page.get_by_role("img", name="Preview of me.jpg")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("radio", name="Portraits")).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("radio", name="Editorial")).to_be_checked()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Generate")).to_be_focused()
    page.keyboard.press("Enter")
    expect_done(page)
    expect(page.get_by_role("link", name="Download")).to_be_focused()
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename.startswith("picpaygo-editorial-")

    expect(page.get_by_role("button", name="Generate")).to_be_disabled()  # no credit left
    expect(page.locator("#no-credit")).to_be_visible()
    low = {}
    for selector in TEXT_ELEMENTS:
        for element in page.locator(selector).all():
            if element.is_visible():
                ratio = element.evaluate(CONTRAST)
                if ratio < 4.5:
                    low[selector] = round(ratio, 2)
    assert not low, f"text below a 4.5:1 contrast: {low}"


def test_it_fits_a_phone_screen(site: Any) -> None:
    web = site()
    page = web.open(width=390, height=844)
    choose_photo(page)
    generate(page, "documentary")
    expect_done(page)

    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    restyled = page.get_by_role("img", name="Your photo restyled as documentary")
    expect(restyled).to_be_in_viewport(ratio=0.9)  # what was made is what is seen
    expect(page.get_by_role("link", name="Download")).to_be_in_viewport()
    original = page.get_by_role("img", name="Your original photo").bounding_box()
    result = restyled.bounding_box()
    assert original is not None
    assert result is not None
    assert result["y"] < original["y"]  # stacked, the new picture first
    assert original["width"] > 300
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "07-phone.png")  # the screen as the person sees it


FAKE_GOOGLE_SCRIPT = """
window.google = { accounts: { id: {
  initialize(config) { window.googleConfig = config; },
  renderButton(element) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Continue with Google";
    button.onclick = () => window.googleConfig.callback({ credential: "not.a.token" });
    element.append(button);
  },
} } };
"""


def test_the_google_button_appears_only_when_google_login_is_on(site: Any) -> None:
    off = site().open()
    google_requests: list[str] = []
    off.on(
        "request", lambda r: google_requests.append(r.url) if "accounts.google" in r.url else None
    )
    off.reload()
    expect(off.locator("body")).to_have_attribute("data-ready", "true")
    off.get_by_role("navigation").get_by_role("button", name="Sign in").click()
    expect(off.get_by_role("dialog").get_by_label("Email")).to_be_visible()
    expect(off.locator("#google")).to_be_hidden()
    assert google_requests == []

    web = site(GOOGLE_CLIENT_ID="1234-test.apps.googleusercontent.com")
    context = web.browser.new_context(base_url=web.url)
    web.contexts.append(context)
    page = context.new_page()
    page.route(
        "https://accounts.google.com/gsi/client",
        lambda route: route.fulfill(content_type="text/javascript", body=FAKE_GOOGLE_SCRIPT),
    )
    page.goto("/")
    page.get_by_role("navigation").get_by_role("button", name="Sign in").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Continue with Google").click()
    assert page.evaluate("window.googleConfig.client_id") == "1234-test.apps.googleusercontent.com"
    with httpx.Client(base_url=web.url) as api:
        refused = api.post("/api/auth/google", json={"credential": "not.a.token"})
    assert refused.status_code in (401, 503)
    expect(dialog.locator("#auth-error")).to_have_text(refused.json()["detail"])


def test_sign_out_sign_in_again_and_see_my_pictures(site: Any) -> None:
    web = site(DEFAULT_FREE_CREDITS="0")
    page = web.open()
    expect(page.get_by_role("heading", name="My pictures")).to_be_hidden()
    email = unique_email()
    sign_up(page, email)
    expect(page.get_by_role("heading", name="My pictures")).to_be_visible()
    expect(page.locator("#pictures-empty")).to_have_text(
        "Nothing yet: your pictures will appear here."
    )
    page.get_by_role("button", name="5 credits").click()
    credits_shown(page).to_have_text("5 credits")
    choose_photo(page)
    for category in ("editorial", "documentary"):
        generate(page, category)
        expect_done(page)
    gallery = page.get_by_role("list").filter(has=page.locator(".picture"))
    expect(gallery.get_by_role("listitem")).to_have_count(2)

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("navigation").get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.get_by_role("heading", name="My pictures")).to_be_hidden()
    credits_shown(page).to_have_text("0 credits")
    with httpx.Client(base_url=web.url) as api:
        assert api.get("/api/generate").status_code == 401

    page.reload()  # a fresh visit: nothing of the old session is left in the page
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    sign_in(page, email)
    expect(page.get_by_role("heading", name="My pictures")).to_be_visible()
    credits_shown(page).to_have_text("3 credits")
    pictures = page.locator("#gallery img")
    expect(pictures).to_have_count(2)
    names = [img.get_attribute("alt") or "" for img in pictures.all()]
    assert names[0].startswith("documentary picture")  # newest first
    assert names[1].startswith("editorial picture")
    for img in pictures.all():
        assert img.evaluate("img => img.complete && img.naturalWidth > 0")
    with api_client(web, page) as api:
        jobs = api.get("/api/generate").json()["jobs"]
    hrefs = [a.get_attribute("href") for a in page.locator("#gallery a").all()]
    assert hrefs == [job["outputUrl"] for job in jobs]
    shoot(page, "08-my-pictures")


def test_an_answer_lost_on_the_way_is_asked_again_and_charged_once(site: Any) -> None:
    web = site()
    page = web.open()
    lost: list[int] = []

    def lose_the_first_answer(route: Any) -> None:
        if route.request.method != "POST" or lost:
            route.continue_()
            return
        answer = route.fetch()  # the server makes the job and charges for it...
        lost.append(answer.status)
        route.abort("connectionreset")  # ...but the page never hears back

    page.route("**/api/generate", lose_the_first_answer)
    choose_photo(page)
    generate(page)
    expect_done(page)

    assert lost == [202]
    credits_shown(page).to_have_text("2 credits")
    with api_client(web, page) as api:
        assert api.get("/api/credits").json()["credits"] == 2


@pytest.fixture
def stripe() -> Iterator[Any]:
    """A fake Stripe whose payment page pays without telling the service (the test does)."""
    from support.fake_stripe import FakeStripe

    with FakeStripe() as fake:
        yield fake


def stripe_settings(fake: Any) -> dict[str, str]:
    return {
        "PAYMENTS_MODE": "stripe",
        "STRIPE_SECRET_KEY": fake.secret_key,
        "STRIPE_WEBHOOK_SECRET": fake.webhook_secret,
        "STRIPE_API_BASE": fake.url,
        "CHECKOUT_SUCCESS_URL": "{url}/?checkout=success&session={CHECKOUT_SESSION_ID}",
        "CHECKOUT_CANCEL_URL": "{url}/?checkout=cancel",
        "DEFAULT_FREE_CREDITS": "0",
    }


def test_with_stripe_the_page_goes_to_checkout_and_waits_for_the_payment(
    site: Any, stripe: Any
) -> None:
    web = site(**stripe_settings(stripe))
    page = web.open()
    sign_up(page, unique_email())
    credits_shown(page).to_have_text("0 credits")

    with page.expect_navigation(url=re.compile(r"/\?checkout=success")):
        page.get_by_role("button", name="10 credits").click()  # to Stripe's page and back
    [session] = stripe.sessions
    status = page.locator("#buy-status")
    expect(status).to_have_text("Waiting for the payment to be confirmed…")
    credits_shown(page).to_have_text("0 credits")
    assert "checkout=" not in page.url  # the page tidies its address once back

    delivered = stripe.deliver(f"{web.url}/api/stripe/webhook", stripe.completed(session))
    assert delivered.status_code == 200, delivered.text
    expect(status).to_have_text("Payment received: 10 credits added. You now have 10 credits.")
    credits_shown(page).to_have_text("10 credits")
    with api_client(web, page) as api:
        [purchase] = api.get("/api/credits/purchases").json()["purchases"]
    assert purchase["status"] == "paid"
    assert purchase["pack"] == 10


def test_a_cancelled_checkout_says_nothing_was_charged(site: Any, stripe: Any) -> None:
    web = site(**stripe_settings(stripe))
    page = web.open()
    sign_up(page, unique_email())
    page.goto("/?checkout=cancel")
    expect(page.locator("#buy-status")).to_have_text("Payment cancelled: nothing was charged.")
    credits_shown(page).to_have_text("0 credits")
