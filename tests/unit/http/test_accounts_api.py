"""The account endpoints over HTTP on in-memory storage: verify, forgot, reset, change,
export, delete; mailed links read from the development outbox."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Awaitable, Callable

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient

from entrypoints.container import Container
from support.fakes import FakeClock
from support.google_tokens import GoogleTokenFactory
from support.mail import deliver, html_of, mailed_token, text_of

Client = AsyncTestClient[Litestar]
OpenClient = Callable[[Container], Awaitable[Client]]

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery"
NEW_PASSWORD = "another horse entirely"
COOKIE = "picpaygo_session"


async def register(client: Client, email: str = EMAIL) -> httpx.Response:
    response = await client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return response


async def login(client: Client, password: str = PASSWORD, email: str = EMAIL) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": email, "password": password})


def assert_error(response: httpx.Response, status_code: int) -> None:
    assert response.status_code == status_code, response.text
    assert response.json()["status_code"] == status_code
    assert response.json()["detail"]


async def test_registration_mails_a_verification_link_that_works_once(
    container: Container, client: Client
) -> None:
    registered = await register(client)
    assert registered.json()["user"]["emailVerified"] is False
    [message] = await deliver(container)
    assert message["To"] == EMAIL
    assert message["From"] == "PicPayGo <noreply@localhost>"
    assert message["Message-ID"]
    assert message["Date"]
    assert "http://127.0.0.1:8081/?verify=" in text_of(message)
    assert "http://127.0.0.1:8081/?verify=" in html_of(message)
    token = await mailed_token(container, "verify")
    assert len(token) >= 43

    verified = await client.post("/api/auth/email/verify", json={"token": token})
    assert verified.status_code == 200, verified.text
    assert verified.json()["user"]["emailVerified"] is True
    me = await client.get("/api/auth/me")
    assert me.json()["user"]["emailVerified"] is True

    again = await client.post("/api/auth/email/verify", json={"token": token})
    assert_error(again, 400)
    garbage = await client.post("/api/auth/email/verify", json={"token": "garbage"})
    assert_error(garbage, 400)
    assert garbage.json()["detail"] == again.json()["detail"]
    # Already verified: no new link.
    assert_error(await client.post("/api/auth/email/verification"), 409)


async def test_verification_links_expire_after_48_hours(
    container: Container, client: Client, clock: FakeClock
) -> None:
    await register(client)
    token = await mailed_token(container, "verify")
    clock.advance(hours=48, seconds=1)
    assert_error(await client.post("/api/auth/email/verify", json={"token": token}), 400)


async def test_a_new_verification_link_is_throttled(container: Container, client: Client) -> None:
    assert_error(await client.post("/api/auth/email/verification"), 401)
    await register(client)
    first = await client.post("/api/auth/email/verification")
    assert first.status_code == 202, first.text
    assert first.json() == {"sent": True}
    second = await client.post("/api/auth/email/verification")
    assert_error(second, 429)
    assert int(second.headers["retry-after"]) >= 1


async def test_a_reset_token_cannot_verify_and_a_verification_token_cannot_reset(
    container: Container, client: Client
) -> None:
    await register(client)
    verify_token = await mailed_token(container, "verify")
    assert (
        await client.post("/api/auth/password/forgot", json={"email": EMAIL})
    ).status_code == 202
    reset_token = await mailed_token(container, "reset")
    assert_error(await client.post("/api/auth/email/verify", json={"token": reset_token}), 400)
    wrong = await client.post(
        "/api/auth/password/reset", json={"token": verify_token, "password": NEW_PASSWORD}
    )
    assert_error(wrong, 400)


async def test_forgot_answers_alike_for_known_and_unknown_emails_and_mails_only_the_known(
    container: Container, client: Client
) -> None:
    await register(client)
    before = len(await deliver(container))
    known = await client.post("/api/auth/password/forgot", json={"email": EMAIL})
    unknown = await client.post("/api/auth/password/forgot", json={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content == b'{"sent":true}'
    messages = await deliver(container)
    assert [m["To"] for m in messages[before:]] == [EMAIL]
    malformed = await client.post("/api/auth/password/forgot", json={"email": "not an email"})
    assert_error(malformed, 422)


async def test_forgot_is_throttled_per_email(container: Container, client: Client) -> None:
    for _ in range(3):
        response = await client.post("/api/auth/password/forgot", json={"email": EMAIL})
        assert response.status_code == 202
    assert_error(await client.post("/api/auth/password/forgot", json={"email": EMAIL}), 429)


async def test_reset_signs_in_revokes_every_session_and_voids_older_links(
    container: Container, open_client: OpenClient
) -> None:
    first = await open_client(container)
    other = await open_client(container)
    await register(first)
    assert (await login(other)).status_code == 200
    await first.post("/api/auth/password/forgot", json={"email": EMAIL})
    older = await mailed_token(container, "reset")
    await first.post("/api/auth/password/forgot", json={"email": EMAIL})
    newer = await mailed_token(container, "reset")
    assert older != newer

    voided = await first.post(
        "/api/auth/password/reset", json={"token": older, "password": NEW_PASSWORD}
    )
    assert_error(voided, 400)
    too_short = await first.post("/api/auth/password/reset", json={"token": newer, "password": "x"})
    assert_error(too_short, 422)

    reset = await first.post(
        "/api/auth/password/reset", json={"token": newer, "password": NEW_PASSWORD}
    )
    assert reset.status_code == 200, reset.text
    assert reset.json()["user"]["emailVerified"] is True
    assert COOKIE in reset.cookies
    assert (await first.get("/api/auth/me")).status_code == 200
    assert_error(await other.get("/api/auth/me"), 401)
    again = await first.post(
        "/api/auth/password/reset", json={"token": newer, "password": NEW_PASSWORD}
    )
    assert_error(again, 400)
    assert (await login(other, NEW_PASSWORD)).status_code == 200
    assert_error(await login(other, PASSWORD), 401)


async def test_reset_links_expire(container: Container, client: Client, clock: FakeClock) -> None:
    await register(client)
    await client.post("/api/auth/password/forgot", json={"email": EMAIL})
    token = await mailed_token(container, "reset")
    clock.advance(minutes=30, seconds=1)
    late = await client.post(
        "/api/auth/password/reset", json={"token": token, "password": NEW_PASSWORD}
    )
    assert_error(late, 400)


async def test_change_password_needs_the_current_one_and_replaces_the_sessions(
    make_container: Callable[..., Container], open_client: OpenClient
) -> None:
    container = make_container(AUTH_ATTEMPTS_PER_MINUTE="3")
    mine = await open_client(container)
    other = await open_client(container)
    await register(mine)
    assert (await login(other)).status_code == 200
    old_cookie = mine.cookies[COOKIE]

    body = {"currentPassword": "wrong password", "newPassword": NEW_PASSWORD}
    assert_error(await mine.post("/api/auth/password", json=body), 401)
    assert_error(await mine.post("/api/auth/password", json={**body, "newPassword": "x"}), 422)

    changed = await mine.post(
        "/api/auth/password", json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    )
    assert changed.status_code == 200, changed.text
    assert mine.cookies[COOKIE] != old_cookie
    assert (await mine.get("/api/auth/me")).status_code == 200
    assert_error(await other.get("/api/auth/me"), 401)
    mine.cookies.set(COOKIE, old_cookie)
    assert_error(await mine.get("/api/auth/me"), 401)
    assert_error(await login(other, PASSWORD), 401)


async def test_wrong_current_passwords_are_throttled_like_sign_ins(
    make_container: Callable[..., Container], open_client: OpenClient
) -> None:
    container = make_container(AUTH_ATTEMPTS_PER_MINUTE="2")
    client = await open_client(container)
    await register(client)
    body = {"currentPassword": "wrong password", "newPassword": NEW_PASSWORD}
    assert_error(await client.post("/api/auth/password", json=body), 401)
    assert_error(await client.post("/api/auth/password", json=body), 401)
    assert_error(await client.post("/api/auth/password", json=body), 429)


async def test_export_is_a_zip_of_the_account_and_its_pictures(
    container: Container, client: Client
) -> None:
    assert_error(await client.get("/api/account/export"), 401)
    await register(client)
    await client.post("/api/credits/checkout", json={"pack": 5})
    exported = await client.get("/api/account/export")
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        account = json.loads(archive.read("account.json"))
    assert account["profile"]["email"] == EMAIL
    assert account["profile"]["balance"] == 5
    assert [entry["amount"] for entry in account["ledger"]] == [5]
    assert [p["pack"] for p in account["purchases"]] == [5]
    assert account["jobs"] == []
    assert_error(await client.get("/api/account/export"), 429)


async def test_delete_needs_a_confirmation_and_erases_the_account(
    container: Container, open_client: OpenClient
) -> None:
    client = await open_client(container)
    old_id = (await register(client)).json()["user"]["id"]
    await client.post("/api/credits/checkout", json={"pack": 10})
    assert_error(await client.request("DELETE", "/api/account", json={}), 400)
    without_body = await client.request("DELETE", "/api/account")
    assert_error(without_body, 400)
    assert "password" in without_body.json()["detail"]
    assert_error(await client.request("DELETE", "/api/account", json={"password": "nope"}), 401)
    old_cookie = client.cookies[COOKIE]

    deleted = await client.request("DELETE", "/api/account", json={"password": PASSWORD})
    assert deleted.status_code == 204, deleted.text
    assert "Max-Age=0" in deleted.headers["set-cookie"]
    client.cookies.set(COOKIE, old_cookie)
    assert_error(await client.get("/api/auth/me"), 401)
    assert_error(await login(client), 401)
    messages = await deliver(container)
    assert "forfeited" in text_of(messages[-1])

    fresh = await open_client(container)
    again = await register(fresh)
    assert again.json()["user"]["id"] != old_id
    credits = await fresh.get("/api/credits")
    assert credits.json()["balance"] == 0


async def test_google_sign_in_links_a_verified_password_account_and_keeps_its_sessions(
    google_container: Container, open_client: OpenClient, google_tokens: GoogleTokenFactory
) -> None:
    client = await open_client(google_container)
    await register(client)
    token = await mailed_token(google_container, "verify")
    assert (await client.post("/api/auth/email/verify", json={"token": token})).status_code == 200
    google = await open_client(google_container)
    signed_in = await google.post(
        "/api/auth/google", json={"credential": google_tokens.token(email=EMAIL)}
    )
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["user"]["isGoogleAccount"] is True
    assert (await client.get("/api/auth/me")).status_code == 200
    assert (await login(client)).status_code == 200


async def test_google_sign_in_on_an_unverified_password_account_ends_its_sessions(
    google_container: Container, open_client: OpenClient, google_tokens: GoogleTokenFactory
) -> None:
    client = await open_client(google_container)
    await register(client)
    google = await open_client(google_container)
    signed_in = await google.post(
        "/api/auth/google", json={"credential": google_tokens.token(email=EMAIL)}
    )
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["user"]["emailVerified"] is True
    assert_error(await client.get("/api/auth/me"), 401)
    assert_error(await login(client), 401)


async def test_a_google_account_confirms_its_deletion_with_a_fresh_google_token(
    google_container: Container, open_client: OpenClient, google_tokens: GoogleTokenFactory
) -> None:
    client = await open_client(google_container)
    signed_in = await client.post("/api/auth/google", json={"credential": google_tokens.token()})
    assert signed_in.status_code == 200, signed_in.text
    stranger = google_tokens.token(sub="999", email="eve@example.com")
    assert_error(await client.request("DELETE", "/api/account", json={"credential": stranger}), 401)
    assert_error(await client.request("DELETE", "/api/account", json={"password": PASSWORD}), 401)
    deleted = await client.request(
        "DELETE", "/api/account", json={"credential": google_tokens.token()}
    )
    assert deleted.status_code == 204, deleted.text
    again = await client.post("/api/auth/google", json={"credential": google_tokens.token()})
    assert again.status_code == 200
    assert again.json()["user"]["id"] != signed_in.json()["user"]["id"]
