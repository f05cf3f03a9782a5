"""GET /api/generate/{jobId}/image with a picture store that gives links (as an object
store does): 307 to the link after the usual access check, and 503 for an upload while
the store is down."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from entrypoints.container import Container
from support.fakes import FakeClock, FlakyPictureStore
from support.images import jpeg_bytes

Client = AsyncTestClient[Litestar]
OpenClient = Callable[[Container], Awaitable[Client]]
ContainerFactory = Callable[..., Container]
PASSWORD = "correct horse battery"


async def signed_in(client: Client, email: str) -> None:
    response = await client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text


async def upload(client: Client) -> str:
    response = await client.post(
        "/api/generate",
        files={"image": ("me.jpg", jpeg_bytes(), "image/jpeg")},
        data={"category": "portraits"},
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["jobId"]
    return job_id


async def test_a_picture_in_a_store_is_a_307_to_its_link_for_its_owner_only(
    make_container: ContainerFactory, open_client: OpenClient, clock: FakeClock
) -> None:
    container = make_container()
    container.pictures.override(FlakyPictureStore(clock, links=True))
    owner, stranger = await open_client(container), await open_client(container)
    await signed_in(owner, "owner@example.com")
    await signed_in(stranger, "stranger@example.com")
    job_id = await upload(owner)
    await container.job_processor().process_next()

    answer = await owner.get(f"/api/generate/{job_id}/image", follow_redirects=False)

    assert answer.status_code == 307
    assert answer.headers["location"] == (
        f"https://store.example/outputs/{job_id}.png?X-Amz-Signature=test"
    )
    assert answer.headers["cache-control"] == "no-store"
    refused = await stranger.get(f"/api/generate/{job_id}/image", follow_redirects=False)
    assert refused.status_code == 404
    assert "location" not in refused.headers


async def test_an_upload_while_the_store_is_down_is_503_and_charges_nothing(
    make_container: ContainerFactory, open_client: OpenClient, clock: FakeClock
) -> None:
    container = make_container()
    store = FlakyPictureStore(clock)
    container.pictures.override(store)
    client = await open_client(container)
    before = (await client.get("/api/credits")).json()
    store.down = True

    response = await client.post(
        "/api/generate",
        files={"image": ("me.jpg", jpeg_bytes(), "image/jpeg")},
        data={"category": "portraits"},
    )

    assert response.status_code == 503
    assert response.json()["detail"] == "The picture store is unavailable; try again shortly."
    assert (await client.get("/api/credits")).json() == before
    assert container.storage().store.jobs == {}


@pytest.mark.parametrize(
    ("settings", "origin"),
    [
        ({"S3_ENDPOINT_URL": "http://127.0.0.1:9000/"}, "http://127.0.0.1:9000"),
        ({"S3_REGION": "eu-west-1"}, "https://s3.eu-west-1.amazonaws.com"),
    ],
    ids=["endpoint", "aws"],
)
async def test_the_web_client_may_show_pictures_from_the_store(
    make_container: ContainerFactory,
    open_client: OpenClient,
    settings: dict[str, str],
    origin: str,
) -> None:
    container = make_container(PICTURE_STORE="s3://pictures/web", **settings)
    client = await open_client(container)

    policy = (await client.get("/")).headers["content-security-policy"]

    assert f"img-src 'self' blob: data: {origin};" in policy


async def test_without_a_store_the_web_client_shows_pictures_from_this_server_only(
    client: Client,
) -> None:
    policy = (await client.get("/")).headers["content-security-policy"]

    assert "img-src 'self' blob: data:;" in policy
