"""``GET /api/generate``: the signed-in caller's jobs, newest first, a page at a time."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from entrypoints.container import Container
from support.fakes import FakeClock
from support.images import jpeg_bytes

Client = AsyncTestClient[Litestar]
OpenClient = Callable[[Container], Awaitable[Client]]
PASSWORD = "correct horse battery"


async def sign_up(client: Client, email: str) -> None:
    response = await client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text


async def create_jobs(client: Client, clock: FakeClock, count: int) -> list[str]:
    """``count`` jobs, one second apart; their ids, oldest first."""
    ids = []
    for _ in range(count):
        response = await client.post(
            "/api/generate",
            files={"image": ("me.jpg", jpeg_bytes(), "image/jpeg")},
            data={"category": "portraits"},
        )
        assert response.status_code == 202, response.text
        ids.append(response.json()["jobId"])
        clock.advance(seconds=1)
    return ids


async def listed(client: Client, query: str = "") -> list[str]:
    response = await client.get(f"/api/generate{query}")
    assert response.status_code == 200, response.text
    return [job["jobId"] for job in response.json()["jobs"]]


@pytest.fixture
async def rich_client(container: Container, open_client: OpenClient) -> Client:
    """A signed-in client with 30 paid credits."""
    client = await open_client(container)
    await sign_up(client, "ada@example.com")
    for pack in (10, 20):
        assert (await client.post("/api/credits/checkout", json={"pack": pack})).status_code == 200
    return client


async def test_anonymous_callers_get_401(client: Client) -> None:
    response = await client.get("/api/generate")

    assert response.status_code == 401
    assert response.json()["status_code"] == 401


async def test_the_callers_jobs_come_newest_first_with_the_status_shape(
    rich_client: Client, clock: FakeClock
) -> None:
    ids = await create_jobs(rich_client, clock, 3)

    response = await rich_client.get("/api/generate")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"jobs"}
    assert [job["jobId"] for job in body["jobs"]] == ids[::-1]
    assert set(body["jobs"][0]) == {
        "jobId",
        "status",
        "category",
        "outputUrl",
        "error",
        "createdAt",
        "updatedAt",
    }
    assert body["jobs"][0]["status"] == "queued"


async def test_twenty_by_default_and_before_pages_through_the_rest(
    rich_client: Client, clock: FakeClock
) -> None:
    ids = await create_jobs(rich_client, clock, 25)
    newest_first = ids[::-1]

    first = await listed(rich_client)
    second = await listed(rich_client, f"?before={first[-1]}")
    small = await listed(rich_client, "?limit=5")
    after_small = await listed(rich_client, f"?limit=5&before={small[-1]}")

    assert first == newest_first[:20]
    assert second == newest_first[20:]
    assert small == newest_first[:5]
    assert after_small == newest_first[5:10]


async def test_a_client_sees_only_its_own_jobs(
    container: Container, open_client: OpenClient, rich_client: Client, clock: FakeClock
) -> None:
    await create_jobs(rich_client, clock, 2)
    other = await open_client(container)
    await sign_up(other, "bob@example.com")

    assert await listed(other) == []


async def test_another_users_job_is_no_cursor(
    container: Container, open_client: OpenClient, rich_client: Client, clock: FakeClock
) -> None:
    [job_id] = await create_jobs(rich_client, clock, 1)
    other = await open_client(container)
    await sign_up(other, "bob@example.com")

    assert (await other.get(f"/api/generate?before={job_id}")).status_code == 404
    assert (await other.get(f"/api/generate?before={uuid.uuid4()}")).status_code == 404


@pytest.mark.parametrize("query", ["?limit=0", "?limit=101", "?limit=x", "?limit=-1"])
async def test_a_limit_outside_1_to_100_is_a_400(rich_client: Client, query: str) -> None:
    response: httpx.Response = await rich_client.get(f"/api/generate{query}")

    assert response.status_code == 400, response.text
    assert response.json()["status_code"] == 400


async def test_a_limit_of_100_is_accepted(rich_client: Client) -> None:
    assert await listed(rich_client, "?limit=100") == []
