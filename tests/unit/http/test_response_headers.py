"""``Cache-Control: no-store`` on every answer that may depend on the session, and
``X-Content-Type-Options: nosniff`` on every answer: successes, the handlers' errors,
and the refusals of routing and of the middleware alike."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from entrypoints.container import Container
from support.images import jpeg_bytes

Client = AsyncTestClient[Litestar]
OpenClient = Callable[[Container], Awaitable[Client]]
Call = Callable[[Client], Awaitable[httpx.Response]]

ACCOUNT = {"email": "ada@example.com", "password": "correct horse battery"}


async def signed_in(client: Client) -> None:
    response = await client.post("/api/auth/register", json=ACCOUNT)
    assert response.status_code == 201, response.text


async def a_job(client: Client) -> str:
    response = await client.post(
        "/api/generate",
        files={"image": ("me.jpg", jpeg_bytes(), "image/jpeg")},
        data={"category": "portraits"},
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["jobId"]
    return job_id


def assert_private(response: httpx.Response) -> None:
    assert response.headers.get("cache-control") == "no-store", (response, response.headers)
    assert response.headers.get("x-content-type-options") == "nosniff", response.headers


def assert_public(response: httpx.Response) -> None:
    assert "no-store" not in response.headers.get("cache-control", ""), response.headers
    assert response.headers.get("x-content-type-options") == "nosniff", response.headers


# Answers of a signed-in caller, each with the status it is expected to have.
SIGNED_IN_CALLS: dict[str, tuple[int, Call]] = {
    "me": (200, lambda c: c.get("/api/auth/me")),
    "login": (200, lambda c: c.post("/api/auth/login", json=ACCOUNT)),
    "credits": (200, lambda c: c.get("/api/credits")),
    "consume": (200, lambda c: c.post("/api/credits/consume", json={"amount": 1})),
    "checkout": (200, lambda c: c.post("/api/credits/checkout", json={"pack": 5})),
    "purchases": (200, lambda c: c.get("/api/credits/purchases")),
    "a purchase not found": (404, lambda c: c.get(f"/api/credits/purchases/{uuid.uuid4()}")),
    "jobs": (200, lambda c: c.get("/api/generate")),
    "a job not found": (404, lambda c: c.get(f"/api/generate/{uuid.uuid4()}")),
    "a picture not found": (404, lambda c: c.get(f"/api/generate/{uuid.uuid4()}/image")),
    "logout": (204, lambda c: c.post("/api/auth/logout")),
}


@pytest.mark.parametrize("name", list(SIGNED_IN_CALLS))
async def test_a_signed_in_callers_answers_are_stored_by_no_cache(
    client: Client, name: str
) -> None:
    status, call = SIGNED_IN_CALLS[name]
    await signed_in(client)

    response = await call(client)

    assert response.status_code == status, response.text
    assert_private(response)


async def test_register_a_job_its_status_and_its_picture_are_stored_by_no_cache(
    client: Client, container: Container
) -> None:
    registered = await client.post("/api/auth/register", json=ACCOUNT)
    job_id = await a_job(client)
    await container.job_processor().process_next()

    answers = [
        registered,
        await client.get(f"/api/generate/{job_id}"),
        await client.get(f"/api/generate/{job_id}/image"),
    ]

    assert [r.status_code for r in answers] == [201, 200, 200]
    for response in answers:
        assert_private(response)


# Refusals made by the handlers, the request rules, routing and the body limits.
REFUSALS: dict[str, tuple[int, Call]] = {
    "anonymous me": (401, lambda c: c.get("/api/auth/me")),
    "wrong password": (
        401,
        lambda c: c.post("/api/auth/login", json={**ACCOUNT, "password": "x" * 9}),
    ),
    "google disabled": (503, lambda c: c.post("/api/auth/google", json={"credential": "x"})),
    "unknown path": (404, lambda c: c.get("/api/nothing-here")),
    "wrong method": (405, lambda c: c.delete("/api/credits")),
    "not JSON": (
        415,
        lambda c: c.post(
            "/api/credits/consume", content=b"amount=1", headers={"content-type": "text/plain"}
        ),
    ),
    "malformed JSON": (
        400,
        lambda c: c.post(
            "/api/credits/consume", content=b"{", headers={"content-type": "application/json"}
        ),
    ),
    "amount below one": (422, lambda c: c.post("/api/credits/consume", json={"amount": 0})),
    "no credits": (402, lambda c: c.post("/api/credits/consume", json={"amount": 99})),
    "cross-site": (
        403,
        lambda c: c.post(
            "/api/credits/consume", json={}, headers={"origin": "https://evil.example"}
        ),
    ),
    "body too large": (
        413,
        lambda c: c.post(
            "/api/auth/login", content=b" " * 200_000, headers={"content-type": "application/json"}
        ),
    ),
    "not an image": (
        415,
        lambda c: c.post(
            "/api/generate",
            files={"image": ("me.jpg", b"hello", "image/jpeg")},
            data={"category": "portraits"},
        ),
    ),
}


@pytest.mark.parametrize("name", list(REFUSALS))
async def test_a_refusal_is_stored_by_no_cache_and_not_sniffed(client: Client, name: str) -> None:
    status, call = REFUSALS[name]

    response = await call(client)

    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert_private(response)


class BrokenGenerationService:
    async def job(self, *_: object) -> None:
        raise RuntimeError("a bug")


async def test_a_500_is_stored_by_no_cache_and_not_sniffed(
    container: Container, open_client: OpenClient
) -> None:
    container.generation_service.override(BrokenGenerationService())
    client = await open_client(container)

    response = await client.get(f"/api/generate/{uuid.uuid4()}")

    assert response.status_code == 500
    assert_private(response)


@pytest.mark.parametrize(
    "path",
    [
        "/api/health",
        "/api/health/live",
        "/api/health/ready",
        "/api/auth/google/config",
        "/api/credits/packs",
    ],
)
async def test_public_answers_may_be_cached_and_are_not_sniffed(client: Client, path: str) -> None:
    response = await client.get(path)

    assert response.status_code == 200, response.text
    assert_public(response)


@pytest.mark.parametrize("path", ["/api/docs", "/api/docs/openapi.json", "/metrics", "/"])
async def test_the_docs_metrics_and_web_client_are_not_sniffed(client: Client, path: str) -> None:
    response = await client.get(path)

    assert response.status_code == 200, response.text
    assert_public(response)
