"""``HEAD`` wherever ``GET`` is served, in one place for every route.

A ``HEAD`` request is handled as the ``GET`` of the same path (so the status and the
headers are the ``GET``'s own, ``Content-Length`` included); the answer ends with its
headers and any body is dropped. A streamed answer (the live progress of a job) is told
the client is gone once its headers are sent, so it ends at once instead of streaming
into nothing.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

_GONE: ReceiveMessage = {"type": "http.disconnect"}


class HeadAsGet:
    """ASGI wrapper: ``HEAD`` answered as ``GET`` without the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        answered = False

        async def receive_for_head() -> ReceiveMessage:
            if answered:
                return _GONE
            return await receive()

        async def send_for_head(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                # The headers are the whole answer: end it here, drop any body after.
                answered = True
                await send(message)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            elif message["type"] != "http.response.body":
                await send(message)

        # The same scope, so what routing writes in it (the route) is logged and counted,
        # under the request's own method.
        scope["method"] = "GET"
        try:
            await self.app(scope, receive_for_head, send_for_head)
        finally:
            scope["method"] = "HEAD"
