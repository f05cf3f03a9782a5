"""The OpenRouter client (``build_http_client``, a stock httpx client) against raw
loopback servers: connection reuse, a server that closes or drops connections, a read
timeout, and a call cancelled mid-answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from adapters.images import PillowImageInspector
from adapters.openrouter import OpenRouterImageGenerator, build_http_client
from picpaygo_core.models import Category, TransientFailure
from picpaygo_core.policy import Policy

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request: its head, then as many body bytes as its Content-Length says."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


class Server:
    """A loopback server running ``handler`` for each connection; counts connections."""

    def __init__(self, handler: Handler) -> None:
        self.connections = 0
        self._handler = handler
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Server:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self._handler(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        self._server = await asyncio.start_server(serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/api/v1/chat/completions"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with build_http_client(connect_timeout=2, read_timeout=5) as http:
        yield http


async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        await read_request(reader)
        writer.write(ANSWER)
        await writer.drain()


async def test_sequential_calls_share_one_connection(client: httpx.AsyncClient) -> None:
    async with Server(keep_alive) as server:
        answers = [await client.post(server.url, content=b"x" * 100_000) for _ in range(3)]

    assert [answer.json() for answer in answers] == [{}, {}, {}]
    assert server.connections == 1


async def test_a_connection_the_server_closed_while_idle_is_replaced(
    client: httpx.AsyncClient,
) -> None:
    closed = asyncio.Event()

    async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(ANSWER)  # keep-alive by HTTP/1.1, yet closed right after
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        closed.set()

    async with Server(answer_once) as server:
        first = await client.post(server.url, content=b"{}")
        await closed.wait()
        second = await client.post(server.url, content=b"{}")

    assert (first.status_code, second.status_code) == (200, 200)
    assert server.connections == 2


async def test_a_connection_dropped_mid_answer_is_a_transient_failure(
    client: httpx.AsyncClient,
) -> None:
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(ANSWER[:40])
        await writer.drain()

    async with Server(drop) as server:
        with pytest.raises(httpx.TransportError):
            await client.post(server.url, content=b"{}")
        generator = OpenRouterImageGenerator(
            client=client,
            api_key="key",
            model="fake/model",
            base_url=server.url.removesuffix("/chat/completions"),
            inspector=PillowImageInspector(max_pixels=Policy().max_image_pixels),
        )
        outcome = await generator.generate(
            prompt="p", category=Category.DOCUMENTARY, image=b"photo", content_type="image/jpeg"
        )

    assert isinstance(outcome, TransientFailure)
    assert "could not reach OpenRouter" in outcome.reason


async def test_an_answer_slower_than_the_read_timeout_is_a_read_timeout() -> None:
    release = asyncio.Event()

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await release.wait()

    async with (
        Server(stall) as server,
        build_http_client(connect_timeout=1, read_timeout=0.2) as impatient,
    ):
        try:
            with pytest.raises(httpx.ReadTimeout):
                await impatient.post(server.url, content=b"{}")
        finally:
            release.set()


async def test_a_call_cancelled_mid_answer_leaves_the_next_call_a_clean_connection(
    client: httpx.AsyncClient,
) -> None:
    first_arrived, release = asyncio.Event(), asyncio.Event()

    async def hold_the_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        if not first_arrived.is_set():
            first_arrived.set()
            await release.wait()
            return
        writer.write(ANSWER)
        await writer.drain()

    async with Server(hold_the_first) as server:
        call = asyncio.create_task(client.post(server.url, content=b"{}"))
        await first_arrived.wait()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        release.set()
        answer = await client.post(server.url, content=b"{}")

    assert answer.json() == {}
    assert server.connections == 2
