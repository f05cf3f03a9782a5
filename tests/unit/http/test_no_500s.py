"""No request, however malformed, gets a 500: every refusal is a 4xx with the error body."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient, TestClient

from adapters.google import GoogleIdTokenVerifier
from entrypoints.container import Container
from entrypoints.http import create_app
from support.google_tokens import CLIENT_ID, GoogleTokenFactory
from support.images import jpeg_bytes

Client = AsyncTestClient[Litestar]
JSON = "application/json"


@dataclass(frozen=True)
class Endpoint:
    """A POST endpoint, with a body it would accept."""

    path: str
    body: dict[str, Any] = field(default_factory=dict)
    reads_json: bool = True
    body_optional: bool = False

    def __str__(self) -> str:
        return self.path.removeprefix("/api/")


REGISTER = Endpoint("/api/auth/register", {"email": "ada@example.com", "password": "x" * 12})
LOGIN = Endpoint("/api/auth/login", {"email": "ada@example.com", "password": "x" * 12})
GOOGLE = Endpoint("/api/auth/google", {"credential": "a.b.c"})
LOGOUT = Endpoint("/api/auth/logout", reads_json=False, body_optional=True)
CONSUME = Endpoint("/api/credits/consume", {"amount": 1}, body_optional=True)
CHECKOUT = Endpoint("/api/credits/checkout", {"pack": 5})
GENERATE = Endpoint("/api/generate", reads_json=False)

JSON_ENDPOINTS = [REGISTER, LOGIN, GOOGLE, CONSUME, CHECKOUT]
POST_ENDPOINTS = [*JSON_ENDPOINTS, LOGOUT, GENERATE]


def assert_no_500(response: httpx.Response) -> None:
    """Below 500; and when refused, Litestar's error body naming the same status."""
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert body["status_code"] == response.status_code
        assert isinstance(body["detail"], str)
        assert body["detail"]
        assert "Traceback" not in response.text


def assert_refused(response: httpx.Response) -> None:
    """A 4xx with the error body."""
    assert_no_500(response)
    assert 400 <= response.status_code < 500, response.text


@pytest.fixture
def container(
    make_container: Callable[..., Container], google_tokens: GoogleTokenFactory
) -> Container:
    """Google login on, with local certificates, so /google really checks what it gets;
    no throttling of sign-in attempts, so every request reaches the validation."""
    container = make_container(GOOGLE_CLIENT_ID=CLIENT_ID, AUTH_ATTEMPTS_PER_MINUTE="0")
    container.google_verifier.override(GoogleIdTokenVerifier(CLIENT_ID, google_tokens.request))
    return container


def raw(content: bytes, content_type: str | None = JSON) -> dict[str, Any]:
    headers = {"Content-Type": content_type} if content_type else {}
    return {"content": content, "headers": headers}


def wrong_types(body: dict[str, Any]) -> dict[str, Any]:
    """Every field with a value of the wrong JSON type (Litestar coerces "5" to 5, not "five")."""
    return {key: 5 if isinstance(value, str) else "five" for key, value in body.items()}


def huge_numbers(body: dict[str, Any]) -> bytes:
    fields = ", ".join(f'"{key}": {10**40}' for key in body)
    return ("{" + fields + "}").encode()


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# name -> (request keyword arguments for an endpoint, "is this refused even when optional")
BODY_CASES: dict[str, tuple[Callable[[Endpoint], dict[str, Any]], bool]] = {
    "malformed-json": (lambda e: raw(b'{"email": "ada@example.com", '), True),
    "wrong-types": (lambda e: {"json": wrong_types(e.body) or {"x": 5}}, True),
    "list-body": (lambda e: {"json": [e.body]}, True),
    "string-body": (lambda e: {"json": "hello"}, True),
    "number-body": (lambda e: {"json": 42}, True),
    "null-body": (lambda e: raw(b"null"), False),
    "unknown-fields": (lambda e: {"json": {**e.body, "isAdmin": True}}, True),
    "empty-json-body": (lambda e: raw(b""), False),
    "no-body-at-all": (lambda e: raw(b"", None), False),
    "one-megabyte": (lambda e: {"json": {**e.body, "padding": "x" * 1_000_000}}, True),
    "form-encoded": (
        lambda e: raw(b"email=a&password=b&amount=1", "application/x-www-form-urlencoded"),
        True,
    ),
    "xml": (lambda e: raw(b"<register><email>a</email></register>", "application/xml"), True),
    "huge-numbers": (lambda e: raw(huge_numbers(e.body or {"x": 1})), True),
    "nan": (lambda e: raw(b'{"amount": NaN, "pack": Infinity}'), True),
    "escaped-lone-surrogate": (lambda e: raw(b'{"email": "\\udcff", "amount": "\\ud800"}'), True),
    "slightly-nested": (lambda e: raw(nested(100)), True),
    "invalid-utf8": (
        lambda e: raw(b'{"email": "\xff\xfe", "credential": "\xff", "amount": "\xff"}'),
        True,
    ),
    "deeply-nested": (lambda e: raw(nested(5000)), True),
}


def body_cases() -> list[Any]:
    return [
        pytest.param(endpoint, name, id=f"{endpoint}-{name}")
        for endpoint in POST_ENDPOINTS
        for name in BODY_CASES
    ]


@pytest.mark.parametrize(("endpoint", "case"), body_cases())
async def test_a_malformed_body_is_refused_without_a_500(
    client: Client, endpoint: Endpoint, case: str
) -> None:
    make_request, refused_even_when_optional = BODY_CASES[case]

    response = await client.post(endpoint.path, **make_request(endpoint))

    if endpoint is LOGOUT or (endpoint.body_optional and not refused_even_when_optional):
        assert_no_500(response)
    else:
        assert_refused(response)


@pytest.mark.parametrize("endpoint", [REGISTER, LOGIN], ids=str)
async def test_a_10000_character_email_is_refused(client: Client, endpoint: Endpoint) -> None:
    response = await client.post(endpoint.path, json={**endpoint.body, "email": "a" * 10_000})

    assert_refused(response)


async def test_a_huge_google_credential_is_refused(client: Client) -> None:
    response = await client.post("/api/auth/google", json={"credential": "a.b." + "c" * 60_000})

    assert_refused(response)


# Multipart uploads to /api/generate.


def multipart(*parts: tuple[bytes, bytes], boundary: str = "picpaygo-boundary") -> dict[str, Any]:
    """A hand-built multipart body: each part is (its header lines, its content)."""
    body = b""
    for headers, content in parts:
        body += f"--{boundary}\r\n".encode() + headers + b"\r\n\r\n" + content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return raw(body, f"multipart/form-data; boundary={boundary}")


CATEGORY_PART = (b'Content-Disposition: form-data; name="category"', b"portraits")
IMAGE_PART = (
    b'Content-Disposition: form-data; name="image"; filename="me.jpg"\r\nContent-Type: image/jpeg',
    jpeg_bytes(),
)

MULTIPART_CASES: dict[str, dict[str, Any]] = {
    "empty-multipart": raw(b"", "multipart/form-data; boundary=picpaygo-boundary"),
    "only-the-closing-boundary": multipart(),
    "without-the-file": {"files": {"category": (None, b"portraits")}},
    "without-the-category": {"files": {"image": ("me.jpg", jpeg_bytes(), "image/jpeg")}},
    "file-sent-as-plain-text": multipart(
        CATEGORY_PART, (b'Content-Disposition: form-data; name="image"', b"just some text")
    ),
    "garbage-boundary": raw(b"--zz\r\ngarbage\r\n", "multipart/form-data; boundary=!!@@##"),
    "no-boundary": raw(b"garbage", "multipart/form-data"),
    "boundary-never-in-body": raw(b"a" * 1000, "multipart/form-data; boundary=missing"),
    "unterminated": raw(
        b"--b\r\nContent-Disposition: form-data; name=", "multipart/form-data; boundary=b"
    ),
    "part-without-headers": multipart((b"", b"portraits"), IMAGE_PART),
    "two-images": multipart(CATEGORY_PART, IMAGE_PART, IMAGE_PART),
    "invalid-utf8-filename": multipart(
        CATEGORY_PART,
        (
            b'Content-Disposition: form-data; name="image"; filename="\xff\xfe.jpg"\r\n'
            b"Content-Type: image/jpeg",
            jpeg_bytes(),
        ),
    ),
    "form-encoded-instead": {"data": {"category": "portraits", "image": "not a file"}},
}


@pytest.mark.parametrize("case", list(MULTIPART_CASES))
async def test_a_malformed_upload_is_refused_without_a_500(client: Client, case: str) -> None:
    response = await client.post("/api/generate", **MULTIPART_CASES[case])

    if case == "two-images":
        assert_no_500(response)
    else:
        assert_refused(response)


async def test_invalid_utf8_in_the_category_field_is_refused_without_a_500(
    client: Client,
) -> None:
    invalid_category = (b'Content-Disposition: form-data; name="category"', b"\xff\xfe\xfd")

    response = await client.post("/api/generate", **multipart(invalid_category, IMAGE_PART))

    assert_refused(response)


async def test_the_upload_refusals_cost_no_credit(client: Client) -> None:
    for case in MULTIPART_CASES:
        if case != "two-images":
            await client.post("/api/generate", **MULTIPART_CASES[case])

    assert (await client.get("/api/credits")).json()["freeCredits"] == 3


# Cookies, headers, paths and methods.


@pytest.mark.parametrize(
    "cookie",
    [
        "picpaygo_session=" + "a" * 10_000,
        'picpaygo_session="' + "\\" * 100 + '"',
        "\x01;;=;=garbage; ===",
        "picpaygo_session=; picpaygo_session=x; picpaygo_session",
        "picpaygo_session=%FF%FE%00",
    ],
    ids=["very-long", "quoted-backslashes", "garbage", "repeated", "percent-encoded-bytes"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/auth/me"), ("GET", "/api/credits"), ("POST", "/api/auth/logout")],
)
async def test_a_strange_cookie_is_no_session_and_no_500(
    client: Client, cookie: str, method: str, path: str
) -> None:
    response = await client.request(method, path, headers={"Cookie": cookie})

    assert_no_500(response)
    if path == "/api/auth/me":
        assert response.status_code == 401


@pytest.mark.parametrize(
    "header",
    ["User-Agent", "X-Forwarded-For", "Accept", "Accept-Language", "Origin", "X-Anything"],
)
async def test_a_50_kb_header_value_is_no_500(client: Client, header: str) -> None:
    response = await client.get("/api/credits", headers={header: "a," * 25_000})

    assert_no_500(response)


@pytest.mark.parametrize(
    "path",
    [
        "/api/generate/%00",
        "/api/generate/..%2F..%2Fetc%2Fpasswd",
        "/api/%ff%fe",
        "/api/generate/" + "a" * 5000,
        "/api/generate/%E2%80%AE/image",
        "/api/generate/%20",
        "/api/auth/me/extra",
        "/api/credits/%0d%0aSet-Cookie:x=y",
        "/nowhere",
    ],
)
async def test_an_odd_path_is_a_4xx(client: Client, path: str) -> None:
    response = await client.get(path)

    assert_refused(response)
    assert "set-cookie" not in response.headers


async def test_an_unknown_documentation_page_is_404(client: Client) -> None:
    # Litestar's documentation router answers these with an HTML page, not the JSON body.
    response = await client.get("/api/docs/%00")

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/api/credits"),
        ("PUT", "/api/auth/login"),
        ("GET", "/api/auth/register"),
        ("GET", "/api/credits/consume"),
        ("PATCH", "/api/generate"),
        ("DELETE", "/api/generate/00000000-0000-0000-0000-000000000000"),
        ("POST", "/api/auth/me"),
        ("POST", "/api/health"),
        ("TRACE", "/api/health"),
    ],
)
async def test_an_unsupported_method_is_405(client: Client, method: str, path: str) -> None:
    response = await client.request(method, path)

    assert_refused(response)
    assert response.status_code == 405


# Random JSON, posted to each JSON endpoint.

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def bodies_for(endpoint: Endpoint) -> st.SearchStrategy[Any]:
    """Anything JSON, plus objects with the endpoint's own fields holding anything."""
    own_fields = st.fixed_dictionaries({}, optional=dict.fromkeys(endpoint.body, json_values))
    return json_values | own_fields


@pytest.mark.parametrize("endpoint", JSON_ENDPOINTS, ids=str)
def test_random_json_never_gets_a_500(container: Container, endpoint: Endpoint) -> None:
    with TestClient(create_app(container)) as client:

        @settings(
            max_examples=50,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(body=bodies_for(endpoint))
        def post(body: Any) -> None:
            response = client.post(
                endpoint.path,
                content=json.dumps(body).encode(),
                headers={"Content-Type": JSON},
            )
            assert_no_500(response)

        post()
