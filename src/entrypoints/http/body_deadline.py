"""Bounds on request bodies still arriving, through the ASGI ``receive`` the app reads
them with. The HTTP server bounds the head (``HEADER_TIMEOUT_SECONDS``); this bounds the
body:

- in time: a request whose body has not all arrived within ``BODY_TIMEOUT_SECONDS`` of
  its head is answered 408 and its connection closed, so a client trickling its body
  cannot hold a connection (and a place under ``MAX_CONNECTIONS``) for ever;
- in number: at most ``most_readers`` requests of the process may be receiving their
  body at once. One more cuts the one that has been receiving longest off at once (408,
  connection closed), so clients trickling bodies hold at most that many of the
  process's connections and the others stay free for everyone else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send


class BodyTooSlow(HTTPException):
    """The body did not arrive in time: 408, and the connection is not kept."""

    status_code = 408
    detail = "The request body did not arrive in time."


class _Reading:
    """One request receiving its body: its deadline, and the wait under way, if any."""

    __slots__ = ("cut", "deadline", "wait")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.cut = False
        self.wait: asyncio.Timeout | None = None

    def cut_off(self) -> None:
        """End the reading now: the wait under way, or else the next one, gives up."""
        self.cut = True
        if self.wait is not None:
            self.wait.reschedule(asyncio.get_running_loop().time())


class BodyReaders:
    """The requests of one process that are receiving their body, oldest first."""

    def __init__(self, most: int) -> None:
        self._most = most
        self._reading: dict[_Reading, None] = {}  # an ordered set

    def start(self, deadline: float) -> _Reading:
        """A request starts receiving its body; past ``most``, the oldest is cut off."""
        while len(self._reading) >= self._most:
            oldest = next(iter(self._reading))
            self.finish(oldest)
            oldest.cut_off()
        reading = _Reading(deadline)
        self._reading[reading] = None
        return reading

    def finish(self, reading: _Reading) -> None:
        """The request has its whole body, or has ended."""
        self._reading.pop(reading, None)


def body_deadline(seconds: float, most_readers: int) -> Callable[[ASGIApp], ASGIApp]:
    """Middleware: reading the request body ends in ``BodyTooSlow`` past ``seconds``, or
    when ``most_readers`` later requests have started to receive theirs meanwhile."""
    readers = BodyReaders(most_readers)

    def middleware(app: ASGIApp) -> ASGIApp:
        async def within_deadline(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            deadline = asyncio.get_running_loop().time() + seconds
            reading: _Reading | None = None
            body_read = False

            async def receive_in_time() -> ReceiveMessage:
                nonlocal body_read, reading
                if body_read:  # e.g. a response waiting for the client to go away
                    return await receive()
                if reading is None:
                    reading = readers.start(deadline)
                try:
                    if reading.cut:
                        raise TimeoutError
                    async with asyncio.timeout_at(reading.deadline) as wait:
                        reading.wait = wait
                        message = await receive()
                except TimeoutError:
                    raise BodyTooSlow(headers={"Connection": "close"}) from None
                finally:
                    reading.wait = None
                body_read = message["type"] != "http.request" or not message.get("more_body")
                if body_read:
                    readers.finish(reading)
                return message

            try:
                await app(scope, receive_in_time, send)
            finally:
                if reading is not None:
                    readers.finish(reading)

        return within_deadline

    return middleware
