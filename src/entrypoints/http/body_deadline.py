"""A deadline for request bodies: a request whose body has not all arrived within
``BODY_TIMEOUT_SECONDS`` of its head is answered 408 and its connection closed, so a
client trickling its body cannot hold a connection (and a place under
``MAX_CONNECTIONS``) for ever. The HTTP server bounds the head (``HEADER_TIMEOUT_SECONDS``);
this bounds the body, through the ASGI ``receive`` the app reads it with.
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


def body_deadline(seconds: float) -> Callable[[ASGIApp], ASGIApp]:
    """Middleware: reading the request body ends in ``BodyTooSlow`` past ``seconds``."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def within_deadline(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            deadline = asyncio.get_running_loop().time() + seconds
            body_read = False

            async def receive_in_time() -> ReceiveMessage:
                nonlocal body_read
                if body_read:  # e.g. a response waiting for the client to go away
                    return await receive()
                try:
                    async with asyncio.timeout_at(deadline):
                        message = await receive()
                except TimeoutError:
                    raise BodyTooSlow(headers={"Connection": "close"}) from None
                body_read = message["type"] != "http.request" or not message.get("more_body")
                return message

            await app(scope, receive_in_time, send)

        return within_deadline

    return middleware
