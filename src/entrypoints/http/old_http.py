"""Refusing HTTP/0.9 requests (a request line without a version).

The fast HTTP parser of ``uvicorn[standard]`` (httptools) accepts them and would answer
200 to ``GET /path`` with no version; they come only from broken or probing clients.
"""

from __future__ import annotations

from litestar.types import ASGIApp, Receive, Scope, Send

_BODY = b'{"status_code":400,"detail":"A request line needs an HTTP version."}'


def refusing_http_0_9(app: ASGIApp) -> ASGIApp:
    """``app``, but an HTTP/0.9 request gets a 400 before it reaches it."""

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("http_version") == "0.9":
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": _BODY, "more_body": False})
            return
        await app(scope, receive, send)

    return guarded
