"""/api/auth over HTTP: accounts, the session cookie, and Google sign-in with real tokens."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from entrypoints.container import Container
from support.fakes import FakeClock
from support.google_tokens import CLIENT_ID, GoogleTokenFactory, make_signing_key

Client = AsyncTestClient[Litestar]
OpenClient = Callable[[Container], Awaitable[Client]]

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery"
COOKIE = "picpaygo_session"
USER_FIELDS = {"id", "email", "name", "surname", "isGoogleAccount", "emailVerified", "createdAt"}


async def register(client: Client, email: str = EMAIL, **extra: str) -> httpx.Response:
    return await client.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD, **extra}
    )


def session_cookie(response: httpx.Response) -> tuple[str, str, dict[str, str]]:
    """The one Set-Cookie of ``response``: name, value and attributes (names lower-cased)."""
    headers = response.headers.get_list("set-cookie")
    assert len(headers) == 1, headers
    first, *attributes = (part.strip() for part in headers[0].split(";"))
    name, _, value = first.partition("=")
    parsed = {}
    for attribute in attributes:
        key, _, attribute_value = attribute.partition("=")
        parsed[key.lower()] = attribute_value
    return name, value, parsed


def assert_error(response: httpx.Response, status_code: int) -> None:
    assert response.status_code == status_code, response.text
    body = response.json()
    assert body["status_code"] == status_code
    assert isinstance(body["detail"], str)
    assert body["detail"]


async def test_register_answers_201_with_exactly_the_user_shape(client: Client) -> None:
    response = await register(client, name="Ada", surname="Lovelace")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"user"}
    assert set(body["user"]) == USER_FIELDS
    assert body["user"]["email"] == EMAIL
    assert body["user"]["name"] == "Ada"
    assert body["user"]["surname"] == "Lovelace"
    assert body["user"]["isGoogleAccount"] is False


async def test_names_are_optional_and_null_when_not_given(client: Client) -> None:
    user = (await register(client)).json()["user"]

    assert user["name"] is None
    assert user["surname"] is None


async def test_register_sets_an_http_only_lax_session_cookie_for_the_session_lifetime(
    client: Client,
) -> None:
    name, value, attributes = session_cookie(await register(client))

    assert name == COOKIE
    assert len(value) >= 43  # 256 random bits, base64url
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "lax"
    assert attributes["path"] == "/"
    assert attributes["max-age"] == str(168 * 3600)


async def test_the_session_cookie_is_not_secure_by_default(client: Client) -> None:
    _, _, attributes = session_cookie(await register(client))

    assert "secure" not in attributes


async def test_the_session_cookie_is_secure_when_configured(
    make_container: Callable[..., Container], open_client: OpenClient
) -> None:
    client = await open_client(make_container(SESSION_COOKIE_SECURE="true"))

    _, _, attributes = session_cookie(await register(client))

    assert "secure" in attributes


async def test_the_session_cookie_name_and_lifetime_follow_the_settings(
    make_container: Callable[..., Container], open_client: OpenClient
) -> None:
    client = await open_client(make_container(SESSION_COOKIE="sid", SESSION_TTL_HOURS="2"))

    name, _, attributes = session_cookie(await register(client))

    assert name == "sid"
    assert attributes["max-age"] == "7200"
    assert (await client.get("/api/auth/me")).status_code == 200


async def test_me_answers_the_signed_in_user(client: Client) -> None:
    registered = (await register(client)).json()

    response = await client.get("/api/auth/me")

    assert response.status_code == 200
    assert response.json() == registered


async def test_me_without_a_session_is_401(client: Client) -> None:
    assert_error(await client.get("/api/auth/me"), 401)


async def test_logout_answers_204_and_clears_the_cookie(client: Client) -> None:
    await register(client)

    response = await client.post("/api/auth/logout")

    assert response.status_code == 204
    name, value, attributes = session_cookie(response)
    assert name == COOKIE
    assert value in ("", '""')
    assert attributes["max-age"] == "0"
    assert attributes["path"] == "/"
    assert_error(await client.get("/api/auth/me"), 401)


async def test_logout_ends_the_session_on_the_server_too(client: Client) -> None:
    _, token, _ = session_cookie(await register(client))
    await client.post("/api/auth/logout")

    client.cookies.set(COOKIE, token)

    assert_error(await client.get("/api/auth/me"), 401)


async def test_logout_without_a_session_is_204(client: Client) -> None:
    response = await client.post("/api/auth/logout")

    assert response.status_code == 204


async def test_logout_with_an_unknown_token_is_204(client: Client) -> None:
    client.cookies.set(COOKIE, "not-a-session")

    assert (await client.post("/api/auth/logout")).status_code == 204


async def test_an_email_taken_in_another_letter_case_is_409(client: Client) -> None:
    await register(client)

    assert_error(await register(client, email="ADA@Example.COM"), 409)


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": PASSWORD},
        {"email": "ada@localhost", "password": PASSWORD},
        {"email": "", "password": PASSWORD},
        {"email": EMAIL, "password": "1234567"},
        {"email": EMAIL, "password": "x" * 129},
        {"email": EMAIL, "password": PASSWORD, "name": "n" * 101},
    ],
    ids=["no-at", "no-dot", "empty", "short-password", "long-password", "long-name"],
)
async def test_an_invalid_registration_is_422_and_creates_no_account(
    client: Client, body: dict[str, str]
) -> None:
    assert_error(await client.post("/api/auth/register", json=body), 422)
    assert_error(await client.get("/api/auth/me"), 401)


async def test_passwords_of_exactly_8_and_128_characters_are_accepted(client: Client) -> None:
    short = await client.post("/api/auth/register", json={"email": EMAIL, "password": "x" * 8})
    long = await client.post(
        "/api/auth/register", json={"email": "bob@example.com", "password": "x" * 128}
    )

    assert (short.status_code, long.status_code) == (201, 201)


@pytest.mark.parametrize(
    "body",
    [
        {"email": "ada\x00@example.com"},
        {"email": "ada@exam\x1fple.com"},
        {"email": EMAIL, "name": "Ada\x00"},
        {"email": EMAIL, "surname": "Love\x7flace"},
    ],
    ids=["nul-in-email", "unit-separator-in-email", "nul-in-name", "delete-in-surname"],
)
async def test_a_control_character_in_an_email_or_name_is_422(
    client: Client, body: dict[str, str]
) -> None:
    # PostgreSQL text cannot even store NUL: such values must never reach storage.
    response = await client.post("/api/auth/register", json={"password": PASSWORD, **body})

    assert_error(response, 422)


async def test_login_answers_200_with_the_user_and_a_session_cookie(client: Client) -> None:
    registered = (await register(client)).json()
    client.cookies.clear()

    response = await client.post("/api/auth/login", json={"email": EMAIL, "password": PASSWORD})

    assert response.status_code == 200
    assert response.json() == registered
    assert session_cookie(response)[0] == COOKIE
    assert (await client.get("/api/auth/me")).json() == registered


async def test_login_ignores_the_letter_case_of_the_email(client: Client) -> None:
    await register(client)

    response = await client.post(
        "/api/auth/login", json={"email": "ADA@EXAMPLE.COM", "password": PASSWORD}
    )

    assert response.status_code == 200


async def test_a_wrong_password_and_an_unknown_email_get_the_same_401(client: Client) -> None:
    await register(client)
    client.cookies.clear()

    wrong_password = await client.post(
        "/api/auth/login", json={"email": EMAIL, "password": "wrong password"}
    )
    unknown_email = await client.post(
        "/api/auth/login", json={"email": "nobody@example.com", "password": PASSWORD}
    )

    assert_error(wrong_password, 401)
    assert unknown_email.status_code == 401
    assert unknown_email.content == wrong_password.content
    assert "set-cookie" not in wrong_password.headers
    assert "set-cookie" not in unknown_email.headers


async def test_a_session_is_refused_once_expired(client: Client, clock: FakeClock) -> None:
    await register(client)

    clock.advance(hours=168, seconds=1)

    assert_error(await client.get("/api/auth/me"), 401)


async def test_a_session_still_works_just_before_it_expires(
    client: Client, clock: FakeClock
) -> None:
    await register(client)

    clock.advance(hours=167, minutes=59)

    assert (await client.get("/api/auth/me")).status_code == 200


async def test_a_second_login_starts_a_second_session(client: Client) -> None:
    _, first, _ = session_cookie(await register(client))
    login = await client.post("/api/auth/login", json={"email": EMAIL, "password": PASSWORD})
    _, second, _ = session_cookie(login)

    assert first != second
    client.cookies.clear()
    client.cookies.set(COOKIE, first)
    assert (await client.get("/api/auth/me")).status_code == 200


# Google sign-in, with tokens signed by a local key and checked by google-auth.


async def google_login(client: Client, credential: str) -> httpx.Response:
    return await client.post("/api/auth/google", json={"credential": credential})


async def test_a_valid_google_token_signs_in_a_new_google_account(
    google_container: Container, open_client: OpenClient, google_tokens: GoogleTokenFactory
) -> None:
    client = await open_client(google_container)

    response = await google_login(client, google_tokens.token())

    assert response.status_code == 200
    user = response.json()["user"]
    assert set(user) == USER_FIELDS
    assert user["isGoogleAccount"] is True
    assert (user["email"], user["name"], user["surname"]) == (EMAIL, "Ada", "Lovelace")
    assert session_cookie(response)[0] == COOKIE
    assert (await client.get("/api/auth/me")).json()["user"]["id"] == user["id"]


async def test_a_second_google_login_finds_the_same_account(
    google_container: Container, open_client: OpenClient, google_tokens: GoogleTokenFactory
) -> None:
    client = await open_client(google_container)
    first = (await google_login(client, google_tokens.token())).json()["user"]
    client.cookies.clear()

    second = (await google_login(client, google_tokens.token())).json()["user"]

    assert second["id"] == first["id"]


async def test_google_login_links_a_password_account_with_the_same_email(
    google_container: Container, open_client: OpenClient, google_tokens: GoogleTokenFactory
) -> None:
    client = await open_client(google_container)
    registered = (await register(client)).json()["user"]

    user = (await google_login(client, google_tokens.token())).json()["user"]

    assert user["id"] == registered["id"]
    assert user["isGoogleAccount"] is True


def _expired(tokens: GoogleTokenFactory) -> str:
    now = int(time.time())
    return tokens.token(iat=now - 7200, exp=now - 3600)


@pytest.mark.parametrize(
    "make_token",
    [
        lambda tokens: tokens.token(aud="someone-else.apps.googleusercontent.com"),
        _expired,
        lambda tokens: tokens.token(iss="https://accounts.evil.example"),
        lambda tokens: tokens.token(signed_by=make_signing_key("impostor")),
        lambda tokens: tokens.token(email_verified=False),
        lambda tokens: tokens.token(remove=["email"]),
        lambda tokens: "not.a.token",
        lambda tokens: "",
    ],
    ids=[
        "wrong-audience",
        "expired",
        "wrong-issuer",
        "bad-signature",
        "unverified-email",
        "no-email",
        "garbage",
        "empty",
    ],
)
async def test_an_unacceptable_google_token_is_401_and_signs_no_one_in(
    google_container: Container,
    open_client: OpenClient,
    google_tokens: GoogleTokenFactory,
    make_token: Callable[[GoogleTokenFactory], str],
) -> None:
    client = await open_client(google_container)

    response = await google_login(client, make_token(google_tokens))

    assert_error(response, 401)
    assert "set-cookie" not in response.headers
    assert_error(await client.get("/api/auth/me"), 401)


async def test_google_login_without_a_client_id_is_503(
    client: Client, google_tokens: GoogleTokenFactory
) -> None:
    assert_error(await google_login(client, google_tokens.token()), 503)


async def test_google_config_says_off_without_a_client_id(client: Client) -> None:
    response = await client.get("/api/auth/google/config")

    assert response.status_code == 200
    assert response.json() == {"enabled": False, "clientId": None}


async def test_google_config_gives_the_client_id_when_on(
    make_container: Callable[..., Container], open_client: OpenClient
) -> None:
    client = await open_client(make_container(GOOGLE_CLIENT_ID=CLIENT_ID))

    response = await client.get("/api/auth/google/config")

    assert response.json() == {"enabled": True, "clientId": CLIENT_ID}
