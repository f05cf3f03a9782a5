"""Cross-site protection, with the headers a browser really sends, and the session cookie."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from entrypoints.container import Container

Client = AsyncTestClient[Litestar]
OpenClient = Callable[[Container], Awaitable[Client]]

PASSWORD = "correct horse battery"
OWN = "http://testserver.local"  # the test client's Host
ALLOWED = "https://app.example"
EVIL = "https://evil.example"

# What Chromium sends with a cross-site form POST or a no-cors fetch with a text body.
CROSS_SITE_FORM = {
    "origin": EVIL,
    "sec-fetch-site": "cross-site",
    "sec-fetch-mode": "navigate",
    "content-type": "text/plain",
}
CROSS_SITE_FETCH = {
    "origin": EVIL,
    "sec-fetch-site": "cross-site",
    "sec-fetch-mode": "no-cors",
    "content-type": "application/json",
}


async def signed_in(open_client: OpenClient, container: Container) -> Client:
    client = await open_client(container)
    response = await client.post(
        "/api/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    return client


@pytest.fixture
def allowing_container(make_container: Callable[..., Container]) -> Container:
    return make_container(CORS_ORIGINS=ALLOWED)


@pytest.mark.parametrize("headers", [CROSS_SITE_FORM, CROSS_SITE_FETCH], ids=["form", "fetch"])
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/credits/consume", b'{"amount": 1}'),
        ("/api/credits/checkout", b'{"pack": 20}'),
        ("/api/auth/logout", b""),
        ("/api/auth/login", b'{"email": "mallory@example.com", "password": "mallory pass"}'),
    ],
)
async def test_a_cross_site_request_is_403_and_changes_nothing(
    allowing_container: Container,
    open_client: OpenClient,
    headers: dict[str, str],
    path: str,
    body: bytes,
) -> None:
    client = await signed_in(open_client, allowing_container)
    before = (await client.get("/api/credits")).json()

    response = await client.post(path, content=body, headers=headers)

    assert response.status_code == 403, response.text
    assert response.json()["status_code"] == 403
    assert (await client.get("/api/credits")).json() == before
    assert (await client.get("/api/auth/me")).status_code == 200


async def test_a_cross_site_upload_is_403(
    allowing_container: Container, open_client: OpenClient
) -> None:
    client = await signed_in(open_client, allowing_container)

    response = await client.post(
        "/api/generate",
        files={"image": ("me.jpg", b"\xff\xd8\xff", "image/jpeg")},
        data={"category": "portraits"},
        headers={"origin": EVIL, "sec-fetch-site": "cross-site"},
    )

    assert response.status_code == 403
    assert (await client.get("/api/credits")).json()["freeCredits"] == 3


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "null"},
        {"origin": EVIL},
        {"sec-fetch-site": "cross-site"},
        {"origin": "http://testserver.local.evil.example"},
    ],
)
async def test_other_signs_of_a_foreign_page_are_403(
    allowing_container: Container, open_client: OpenClient, headers: dict[str, str]
) -> None:
    client = await signed_in(open_client, allowing_container)

    response = await client.post("/api/credits/consume", json={"amount": 1}, headers=headers)

    assert response.status_code == 403, response.text


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, mobile apps, servers
        {"origin": OWN, "sec-fetch-site": "same-origin"},
        {"origin": ALLOWED, "sec-fetch-site": "cross-site"},
        {"origin": ALLOWED + "/"},
        {"sec-fetch-site": "same-origin"},
        {"sec-fetch-site": "none"},
    ],
)
async def test_own_listed_and_headerless_requests_pass(
    allowing_container: Container, open_client: OpenClient, headers: dict[str, str]
) -> None:
    client = await signed_in(open_client, allowing_container)

    response = await client.post("/api/credits/consume", json={"amount": 1}, headers=headers)

    assert response.status_code == 200, response.text


async def test_safe_methods_are_not_checked(client: Client) -> None:
    response = await client.get("/api/credits", headers={"origin": EVIL})

    assert response.status_code == 200


async def test_the_stripe_webhook_path_is_exempt(client: Client) -> None:
    response = await client.post(
        "/api/stripe/webhook",
        content=b"{}",
        headers={"origin": EVIL, "sec-fetch-site": "cross-site"},
    )

    assert response.status_code != 403


# --- the session cookie -------------------------------------------------------------------


async def test_secure_cookies_carry_the_host_prefix(
    make_container: Callable[..., Container], open_client: OpenClient
) -> None:
    client = await open_client(make_container(SESSION_COOKIE_SECURE="true"))

    response = await client.post(
        "/api/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
    )

    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith("__Host-picpaygo_session=")
    lowered = set_cookie.lower()
    assert "secure" in lowered
    assert "path=/" in lowered
    assert "domain" not in lowered
    token = set_cookie.split(";")[0].split("=", 1)[1]
    me = await client.get("/api/auth/me", headers={"cookie": f"__Host-picpaygo_session={token}"})
    assert me.status_code == 200
    unprefixed = await client.get("/api/auth/me", headers={"cookie": f"picpaygo_session={token}"})
    assert unprefixed.status_code == 401


async def test_plain_cookies_have_no_prefix(client: Client) -> None:
    response = await client.post(
        "/api/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
    )

    assert response.headers["set-cookie"].startswith("picpaygo_session=")


async def test_two_different_session_cookies_sign_nobody_in(client: Client) -> None:
    victim = await client.post(
        "/api/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
    )
    planted = await client.post(
        "/api/auth/register", json={"email": "mallory@example.com", "password": PASSWORD}
    )
    ada = victim.cookies["picpaygo_session"]
    mallory = planted.cookies["picpaygo_session"]
    client.cookies.clear()

    both = await client.get(
        "/api/auth/me", headers={"cookie": f"picpaygo_session={mallory}; picpaygo_session={ada}"}
    )
    repeated = await client.get(
        "/api/auth/me", headers={"cookie": f"picpaygo_session={ada}; picpaygo_session={ada}"}
    )

    assert both.status_code == 401
    assert repeated.status_code == 200
    assert repeated.json()["user"]["email"] == "ada@example.com"
