"""SQL round trips of ``POST /api/generate``, counted on the wire.

The app runs in-process on PostgreSQL reached through a ``TcpProxy``, which counts round
trips: each run of messages the service sends on a connection after it last received
an answer counts once (statements pipelined together are one). Requests run one after
another, so what the proxy counts between two readings is what those requests cost.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from adapters.postgres import database as postgres_database
from entrypoints.container import Container
from entrypoints.http import create_app
from support.images import jpeg_bytes
from support.tcp_proxy import TcpProxy

Client = AsyncTestClient[Litestar]
EMAIL = "ada@example.com"
PASSWORD = "correct horse battery"
UPLOADS = 5
WARM_UP = 12


@pytest.fixture
def proxy(postgres_url: str) -> AsyncIterator[TcpProxy]:
    with TcpProxy.to_database(postgres_url) as running:
        yield running


@pytest.fixture
async def client(
    proxy: TcpProxy,
    postgres_url: str,
    make_container: Callable[..., Container],
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Client]:
    """A signed-in client with a paid balance whose network's free credit is spent, after
    uploads that warmed the pool's connections up."""
    # The pool checks a connection idle for a while before handing it out: a round trip
    # that belongs to no request, and that a slow machine would otherwise add at random.
    monkeypatch.setattr(postgres_database, "CHECK_IDLE_SECONDS", 3600.0)
    # Two connections, so that the warm-up below reaches each of them.
    container = make_container(
        DATABASE_URL=proxy.url(postgres_url), DATABASE_POOL_SIZE="2", DEFAULT_FREE_CREDITS="1"
    )
    async with AsyncTestClient(create_app(container)) as test_client:
        registered = await test_client.post(
            "/api/auth/register", json={"email": EMAIL, "password": PASSWORD}
        )
        assert registered.status_code == 201, registered.text
        await container.admin_service().grant(EMAIL, 100, reason="test", actor="test")
        # The free credit goes first, then paid ones. psycopg prepares a statement the
        # fifth time a connection runs it, once, in a round trip of its own outside a
        # pipeline: past that, every request costs what it will always cost.
        for n in range(WARM_UP):
            assert (await upload(test_client)).status_code == 202
            assert (await upload(test_client, f"warm-up-{n}")).status_code == 202
        yield test_client


def upload(client: Client, key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(
        "/api/generate",
        files={"image": ("me.jpg", jpeg_bytes(), "image/jpeg")},
        data={"category": "portraits"},
        headers=headers,
    )


async def round_trips(proxy: TcpProxy, *requests: Any) -> tuple[float, list[httpx.Response]]:
    """Round trips per request for ``requests`` sent one after another."""
    before = proxy.flights
    responses = [await request for request in requests]
    return (proxy.flights - before) / len(requests), responses


async def test_an_upload_takes_four_round_trips(client: Client, proxy: TcpProxy) -> None:
    per_upload, responses = await round_trips(proxy, *(upload(client) for _ in range(UPLOADS)))

    assert [r.status_code for r in responses] == [202] * UPLOADS
    # The session with the caller's credits; the photo's bytes, written to the picture
    # store (the database's) before the job's transaction; BEGIN with the charge; the
    # photo's record, the job, the workers' wake-up and COMMIT.
    assert per_upload == 4


async def test_an_upload_with_an_idempotency_key_takes_five_round_trips(
    client: Client, proxy: TcpProxy
) -> None:
    keys = [str(uuid.uuid4()) for _ in range(UPLOADS)]
    per_upload, responses = await round_trips(proxy, *(upload(client, key) for key in keys))
    per_replay, replays = await round_trips(proxy, *(upload(client, key) for key in keys))

    assert [r.status_code for r in responses + replays] == [202] * UPLOADS * 2
    assert [r.content for r in replays] == [r.content for r in responses]
    # BEGIN with the claim and the session's read, its COMMIT (a retry must see the claim
    # at once); then the upload's own three, the answer travelling with their COMMIT.
    assert per_upload == 5
    assert per_replay == 2
