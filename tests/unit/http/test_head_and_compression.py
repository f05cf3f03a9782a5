"""HEAD wherever GET is served, and gzip for the page's files and JSON over 1 KB."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from entrypoints.container import Container
from entrypoints.http import create_app
from support.images import jpeg_bytes

Client = AsyncTestClient[Litestar]
GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/index.html",
        "/js/main.js",
        "/app.css",
        "/api/health/live",
        "/api/credits",
        "/api/credits/packs",
        "/api/docs/openapi.json",
    ],
)
async def test_head_answers_like_get_without_a_body(client: Client, path: str) -> None:
    got = await client.get(path, headers=IDENTITY)
    head = await client.head(path, headers=IDENTITY)

    assert got.status_code == 200
    assert head.status_code == 200, head.text
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers.get("content-length") == got.headers.get("content-length")


async def test_head_of_a_route_without_get_is_405_like_get(client: Client) -> None:
    assert (await client.get("/api/auth/login")).status_code == 405
    assert (await client.head("/api/auth/login")).status_code == 405


async def test_head_of_an_unknown_path_is_404(client: Client) -> None:
    assert (await client.head("/no-such-page")).status_code == 404


async def test_head_of_a_live_stream_ends_at_once(
    make_container: Callable[..., Container],
) -> None:
    app = create_app(make_container())
    transport = httpx.ASGITransport(app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://picpaygo.test") as client:
        job = await client.post(
            "/api/generate",
            files={"image": ("me.jpg", jpeg_bytes(), "image/jpeg")},
            data={"category": "portraits"},
        )
        job_id = job.json()["jobId"]

        head = await asyncio.wait_for(client.head(f"/api/generate/{job_id}/events"), 5.0)

    assert head.status_code == 200
    assert head.headers["content-type"].startswith("text/event-stream")
    assert head.content == b""


@pytest.mark.parametrize("path", ["/", "/js/generate.js", "/app.css", "/api/docs/openapi.json"])
async def test_the_pages_files_and_big_json_are_gzipped(client: Client, path: str) -> None:
    plain = await client.get(path, headers=IDENTITY)
    packed = await client.get(path, headers=GZIP)

    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in packed.headers["vary"].lower()
    assert packed.content == plain.content  # decoded by the client
    assert packed.num_bytes_downloaded < plain.num_bytes_downloaded


async def test_small_json_is_sent_as_it_is(client: Client) -> None:
    response = await client.get("/api/health/live", headers=GZIP)

    assert "content-encoding" not in response.headers


async def test_live_progress_and_pictures_are_never_compressed(
    client: Client, container: Container
) -> None:
    job = await client.post(
        "/api/generate",
        files={"image": ("me.jpg", jpeg_bytes(), "image/jpeg")},
        data={"category": "portraits"},
    )
    job_id = job.json()["jobId"]
    await container.job_processor().process_next()

    events = await client.get(f"/api/generate/{job_id}/events", headers=GZIP)
    picture = await client.get(f"/api/generate/{job_id}/image", headers=GZIP)

    assert events.status_code == picture.status_code == 200
    assert "content-encoding" not in events.headers
    assert "content-encoding" not in picture.headers


async def test_a_head_request_is_logged_as_head_under_its_route(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    await client.head("/api/credits/packs")

    [line] = [r for r in caplog.records if r.name == "picpaygo.access"]
    fields = line.fields  # type: ignore[attr-defined]
    assert (fields["method"], fields["route"], fields["status"]) == (
        "HEAD",
        "/api/credits/packs",
        200,
    )
