"""Requests receiving their body: at most so many at once per process, the one that has
been receiving longest is cut off (408) when one more starts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from litestar.types import Message, Receive, Scope, Send

from entrypoints.http.body_deadline import BodyTooSlow, body_deadline

Outcomes = dict[str, str]


def reading_app(outcomes: Outcomes) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An app that reads its request's whole body and notes how that ended."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            while (await receive()).get("more_body"):
                pass
        except BodyTooSlow:
            outcomes[scope["path"]] = "cut off"
            raise
        outcomes[scope["path"]] = "read"

    return app


class Client:
    """One request whose body arrives when the test says so."""

    def __init__(self, path: str) -> None:
        self.scope: Scope = {"type": "http", "path": path}  # type: ignore[typeddict-item]
        self.waiting = asyncio.Event()
        self.rest = asyncio.Event()

    async def receive(self) -> Message:
        if not self.waiting.is_set():
            self.waiting.set()
            return {"type": "http.request", "body": b"{", "more_body": True}
        await self.rest.wait()
        return {"type": "http.request", "body": b"}", "more_body": False}


async def start(app: Callable[..., Awaitable[None]], client: Client) -> asyncio.Task[None]:
    async def send(_: Message) -> None:
        return None

    task = asyncio.create_task(app(client.scope, client.receive, send))
    await client.waiting.wait()
    return task


async def finish(tasks: list[asyncio.Task[None]]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_one_reader_past_the_most_cuts_the_oldest_off() -> None:
    outcomes: Outcomes = {}
    app = body_deadline(30, most_readers=2)(reading_app(outcomes))
    clients = [Client(f"/{n}") for n in range(3)]

    tasks = [await start(app, client) for client in clients]
    with pytest.raises(BodyTooSlow):
        await tasks[0]
    for client in clients[1:]:
        client.rest.set()
    await finish(tasks)

    assert outcomes == {"/0": "cut off", "/1": "read", "/2": "read"}


async def test_a_request_with_its_whole_body_no_longer_counts() -> None:
    outcomes: Outcomes = {}
    app = body_deadline(30, most_readers=2)(reading_app(outcomes))
    done, waiting = Client("/done"), [Client(f"/{n}") for n in range(2)]
    done.rest.set()

    first = await start(app, done)
    await first
    tasks = [await start(app, client) for client in waiting]
    for client in waiting:
        client.rest.set()
    await finish(tasks)

    assert outcomes == {"/done": "read", "/0": "read", "/1": "read"}


async def test_a_body_past_its_deadline_is_cut_off() -> None:
    outcomes: Outcomes = {}
    app = body_deadline(0.01, most_readers=10)(reading_app(outcomes))

    task = await start(app, Client("/slow"))
    with pytest.raises(BodyTooSlow):
        await task

    assert outcomes == {"/slow": "cut off"}
