"""No text gets a 500 on PostgreSQL: every string field of every endpoint, NUL and lone
surrogates included, against the real database (PostgreSQL refuses NUL in text, and UTF-8
has no encoding for a lone surrogate)."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import TestClient

from adapters.google import GoogleIdTokenVerifier
from entrypoints.container import Container
from entrypoints.http import create_app
from support.google_tokens import CLIENT_ID, GoogleTokenFactory
from support.images import jpeg_bytes

PASSWORD = "correct horse battery"

# Text as clients send it, weighted towards what breaks storage: NUL, lone surrogates,
# controls, format characters, and whole-unicode noise.
NASTY = st.sampled_from(["\x00", "\ud800", "\udfff", "\x1b", "\u00ad", "\u202e", "\ufeff"])
TEXT = st.one_of(
    st.text(max_size=30),
    st.builds(lambda a, b, c: a + b + c, st.text(max_size=10), NASTY, st.text(max_size=10)),
    st.builds(lambda local, domain: f"{local}@{domain}.com", st.text(max_size=10), NASTY),
)


def json_request(body: dict[str, Any]) -> dict[str, Any]:
    """JSON with ``\\u`` escapes, the only way a lone surrogate travels in JSON."""
    return {
        "content": json.dumps(body, ensure_ascii=True).encode(),
        "headers": {"content-type": "application/json"},
    }


def quoted(text: str) -> str:
    """Percent-encoded UTF-8 bytes (a lone surrogate as its would-be bytes)."""
    return urllib.parse.quote(text.encode("utf-8", "surrogatepass"), safe="")


def url_text(text: str) -> str:
    return text.encode("utf-8", "surrogatepass").decode("latin-1")


# field name -> how to send that text to its endpoint
FIELDS: dict[str, Callable[[TestClient[Litestar], str], httpx.Response]] = {
    "register.email": lambda c, t: c.post(
        "/api/auth/register", **json_request({"email": t, "password": PASSWORD})
    ),
    "register.password": lambda c, t: c.post(
        "/api/auth/register",
        **json_request({"email": f"{uuid.uuid4().hex}@example.com", "password": t}),
    ),
    "register.name": lambda c, t: c.post(
        "/api/auth/register",
        **json_request(
            {"email": f"{uuid.uuid4().hex}@example.com", "password": PASSWORD, "name": t}
        ),
    ),
    "register.surname": lambda c, t: c.post(
        "/api/auth/register",
        **json_request(
            {"email": f"{uuid.uuid4().hex}@example.com", "password": PASSWORD, "surname": t}
        ),
    ),
    "login.email": lambda c, t: c.post(
        "/api/auth/login", **json_request({"email": t, "password": PASSWORD})
    ),
    "login.password": lambda c, t: c.post(
        "/api/auth/login", **json_request({"email": "ada@example.com", "password": t})
    ),
    "google.credential": lambda c, t: c.post("/api/auth/google", **json_request({"credential": t})),
    "generate.category": lambda c, t: c.post(
        "/api/generate",
        files={
            "image": ("me.jpg", jpeg_bytes(), "image/jpeg"),
            "category": (None, t.encode("utf-8", "surrogatepass")),
        },
    ),
    "generate.filename": lambda c, t: c.post(
        "/api/generate",
        files={"image": (url_text(t) or "x", jpeg_bytes(), "image/jpeg")},
        data={"category": "portraits"},
    ),
    "job.id": lambda c, t: c.get(f"/api/generate/{quoted(t)}"),
    "jobs.before": lambda c, t: c.get(f"/api/generate?before={quoted(t)}"),
    "session.cookie": lambda c, t: c.get(
        "/api/auth/me",
        headers={"cookie": b"picpaygo_session=" + t.encode("utf-8", "surrogatepass")},
    ),
}


@pytest.fixture
def client(
    postgres_url: str,
    make_container: Callable[..., Container],
) -> Iterator[TestClient[Litestar]]:
    container = make_container(
        DATABASE_URL=postgres_url, GOOGLE_CLIENT_ID=CLIENT_ID, AUTH_ATTEMPTS_PER_MINUTE="0"
    )
    container.google_verifier.override(
        GoogleIdTokenVerifier(CLIENT_ID, GoogleTokenFactory().request)
    )
    with TestClient(create_app(container)) as test_client:
        register = test_client.post(
            "/api/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
        )
        assert register.status_code == 201, register.text
        yield test_client


@pytest.mark.parametrize("field", list(FIELDS))
def test_no_text_in_any_field_gets_a_500(client: TestClient[Litestar], field: str) -> None:
    send = FIELDS[field]

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(text=TEXT)
    def check(text: str) -> None:
        response = send(client, text)
        assert response.status_code < 500, (text, response.text)
        if response.status_code >= 400:
            assert response.json()["status_code"] == response.status_code

    check()
