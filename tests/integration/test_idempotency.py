"""``Idempotency-Key`` over HTTP, on both storages: replayed byte for byte, 422 for another
request, 409 while the first runs, and a retry after an ambiguous 503 charges once."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from entrypoints.container import Container
from entrypoints.http import create_app
from picpaygo_core.errors import StorageUnavailable
from picpaygo_core.ports import UnitOfWork, UnitOfWorkFactory
from picpaygo_core.services.idempotency import fingerprint, key_claim
from support.fakes import FakeClock
from support.images import jpeg_bytes

Client = AsyncTestClient[Litestar]
PASSWORD = "correct horse battery"


@pytest.fixture
def container(
    storage: str, make_container: Callable[..., Container], request: pytest.FixtureRequest
) -> Container:
    if storage == "postgres":
        return make_container(DATABASE_URL=request.getfixturevalue("postgres_url"))
    return make_container()


@pytest.fixture
async def client(container: Container) -> AsyncIterator[Client]:
    async with AsyncTestClient(create_app(container)) as test_client:
        response = await test_client.post(
            "/api/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
        )
        assert response.status_code == 201, response.text
        yield test_client


async def credits(client: Client) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get("/api/credits")).json()
    return body


async def consume(client: Client, key: str | None, amount: int = 1) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return await client.post("/api/credits/consume", json={"amount": amount}, headers=headers)


async def test_a_retried_consume_gets_the_first_answer_byte_for_byte_and_spends_once(
    client: Client,
) -> None:
    first = await consume(client, "spend-1")
    second = await consume(client, "spend-1")

    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"
    assert (await credits(client))["freeCredits"] == 2


async def test_the_same_key_for_another_request_is_422(client: Client) -> None:
    assert (await consume(client, "spend-1", amount=1)).status_code == 200

    other = await consume(client, "spend-1", amount=2)

    assert other.status_code == 422, other.text
    assert (await credits(client))["freeCredits"] == 2


async def test_a_refusal_is_replayed_too(client: Client) -> None:
    refused = await consume(client, "too-much", amount=5)
    again = await consume(client, "too-much", amount=5)

    assert refused.status_code == again.status_code == 402
    assert again.content == refused.content
    assert (await credits(client))["freeCredits"] == 3


async def claim_pending(container: Container, scope: str, key: str, request: str) -> None:
    """Claim ``key`` for ``request`` as a first request still at work would have."""
    claim = key_claim(key, request, container.clock().now())
    async with container.uow_factory()() as uow:
        assert await uow.idempotency.claim(scope, claim) is None
        await uow.commit()


async def test_a_retry_while_the_first_is_running_is_409(
    client: Client, container: Container
) -> None:
    user_id = (await client.get("/api/auth/me")).json()["user"]["id"]
    same = fingerprint("POST", "/api/credits/consume", "1")
    await claim_pending(container, f"user:{user_id}", "busy", same)

    response = await consume(client, "busy")

    assert response.status_code == 409, response.text
    assert response.headers["retry-after"]
    assert (await credits(client))["freeCredits"] == 3


async def test_a_retried_upload_is_one_job_and_one_charge(client: Client) -> None:
    def upload() -> Any:
        return client.post(
            "/api/generate",
            files={"image": ("me.jpg", jpeg_bytes(), "image/jpeg")},
            data={"category": "portraits"},
            headers={"Idempotency-Key": "upload-1"},
        )

    first, second = await upload(), await upload()

    assert first.status_code == second.status_code == 202
    assert second.content == first.content
    assert (await credits(client))["freeCredits"] == 2
    listed = (await client.get("/api/generate")).json()["jobs"]
    assert [job["jobId"] for job in listed] == [first.json()["jobId"]]


def upload_with_key(
    client: Client, key: str, category: str = "portraits", image: bytes | None = None
) -> Any:
    return client.post(
        "/api/generate",
        files={"image": ("me.jpg", image or jpeg_bytes(), "image/jpeg")},
        data={"category": category},
        headers={"Idempotency-Key": key},
    )


async def test_the_same_upload_key_for_another_photo_or_category_is_422(client: Client) -> None:
    assert (await upload_with_key(client, "upload-1")).status_code == 202

    other_category = await upload_with_key(client, "upload-1", category="editorial")
    other_photo = await upload_with_key(client, "upload-1", image=jpeg_bytes(color=(9, 9, 9)))

    assert other_category.status_code == other_photo.status_code == 422
    assert (await credits(client))["freeCredits"] == 2


async def test_an_upload_retried_while_the_first_is_running_is_409(
    client: Client, container: Container
) -> None:
    user_id = (await client.get("/api/auth/me")).json()["user"]["id"]
    same = fingerprint("POST", "/api/generate", "portraits", hashlib.sha256(jpeg_bytes()).digest())
    await claim_pending(container, f"user:{user_id}", "busy", same)

    response = await upload_with_key(client, "busy")

    assert response.status_code == 409, response.text
    assert (await credits(client))["freeCredits"] == 3


async def test_a_refused_upload_is_replayed_and_an_anonymous_retry_too(client: Client) -> None:
    refused = await upload_with_key(client, "bad", category="watercolour")
    again = await upload_with_key(client, "bad", category="watercolour")
    await client.post("/api/auth/logout")
    first, second = await upload_with_key(client, "anon"), await upload_with_key(client, "anon")

    assert refused.status_code == again.status_code == 422
    assert again.content == refused.content
    assert again.headers["idempotent-replayed"] == "true"
    assert first.status_code == second.status_code == 202
    assert second.content == first.content
    assert (await credits(client))["freeCredits"] == 2


async def test_a_retried_checkout_buys_once(client: Client) -> None:
    def buy() -> Any:
        return client.post(
            "/api/credits/checkout", json={"pack": 10}, headers={"Idempotency-Key": "buy-1"}
        )

    first, second = await buy(), await buy()

    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert (await credits(client))["balance"] == 10


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there"])
async def test_a_malformed_key_is_400(client: Client, key: str) -> None:
    response = await client.post(
        "/api/credits/consume",
        json={"amount": 1},
        headers={"Idempotency-Key": key.encode("utf-8")},
    )

    assert response.status_code == 400, response.text
    assert response.json()["detail"] == (
        "Idempotency-Key must be 1 to 255 printable ASCII characters."
    )


async def test_a_key_is_kept_for_24_hours(client: Client, clock: FakeClock) -> None:
    assert (await consume(client, "daily")).status_code == 200
    clock.advance(hours=23)
    assert (await consume(client, "daily")).headers.get("idempotent-replayed") == "true"
    clock.advance(hours=2)

    fresh = await consume(client, "daily")

    assert "idempotent-replayed" not in fresh.headers
    assert (await credits(client))["freeCredits"] == 1


# --- a commit that answers 503 although it went through ------------------------------------


class CommitsThenTimesOut:
    """A unit of work whose commit goes through and then reports a timeout (once, when
    armed): what a client sees when the database stalls past its deadline on a commit."""

    def __init__(self, inner: UnitOfWork, flaky: FlakyCommits) -> None:
        self._inner = inner
        self._flaky = flaky

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def __aenter__(self) -> CommitsThenTimesOut:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._inner.__aexit__(exc_type, exc, tb)

    async def commit(self) -> None:
        await self._inner.commit()
        if self._flaky.armed:
            self._flaky.armed = False
            raise StorageUnavailable


class FlakyCommits:
    """Wraps a unit-of-work factory; when armed, its next commit times out after committing."""

    def __init__(self, inner: UnitOfWorkFactory) -> None:
        self._inner = inner
        self.armed = False

    def __call__(self) -> UnitOfWork:
        inner = self._inner()
        return CommitsThenTimesOut(inner, self)  # type: ignore[return-value]


async def test_after_a_503_on_commit_a_retry_with_the_key_is_charged_once(
    client: Client, container: Container
) -> None:
    flaky = FlakyCommits(container.uow_factory())
    container.credit_service()._uow_factory = flaky  # type: ignore[attr-defined]
    flaky.armed = True

    lost = await consume(client, "once")
    flaky.armed = False
    retry = await consume(client, "once")

    assert lost.status_code == 503
    assert lost.headers["retry-after"]  # safe: the request carried a key
    assert retry.status_code == 200, retry.text
    assert retry.headers["idempotent-replayed"] == "true"
    assert (await credits(client))["freeCredits"] == 2


async def test_a_503_on_commit_without_a_key_invites_no_retry(
    client: Client, container: Container
) -> None:
    flaky = FlakyCommits(container.uow_factory())
    container.credit_service()._uow_factory = flaky  # type: ignore[attr-defined]
    flaky.armed = True

    lost = await consume(client, None)

    assert lost.status_code == 503
    assert "retry-after" not in lost.headers
    assert (await credits(client))["freeCredits"] == 2  # it did go through
