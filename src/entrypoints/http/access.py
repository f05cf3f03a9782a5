"""Around every request: its id, the headers every answer carries, its access log line
and its HTTP metrics.

The middleware wraps the whole application (routing included), so unknown paths and
refused methods are logged and counted too; the web client's files are logged at DEBUG,
so a page load does not fill the access log. The request id is the client's
``X-Request-ID`` when it is sane, else a new one; it is set on the response and in a
context variable that every log line of the request carries. The other headers are
those of ``response_headers``.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Iterable
from typing import Protocol

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.http.response_headers import headers_for, with_headers
from entrypoints.logs import request_id_var

logger = logging.getLogger("picpaygo.access")

REQUEST_ID_HEADER = "x-request-id"
_ID_HEADER = REQUEST_ID_HEADER.encode()
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+=/-]{1,128}")
# Requests to an unknown path share one label, so a scanner cannot grow the series.
UNMATCHED_ROUTE = "<unmatched>"
# Handler ``opt`` flag of routes that serve any path (static files): their 404s are
# unknown paths too, not requests to a known route.
ANY_PATH_OPT = "serves_any_path"


class HttpObserver(Protocol):
    """Told about every finished request (the metrics implement it)."""

    def request_finished(self, method: str, route: str, status: int, seconds: float) -> None:
        """One request ended with ``status`` after ``seconds``."""
        ...


def request_id_from(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The client's request id if it sent a sane one, else a new random one."""
    for name, value in headers:
        if name.lower() == _ID_HEADER:
            candidate = value.decode("latin-1")
            if _SANE_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    # An id, not a secret: the process's own generator (reseeded in each forked server
    # process) is enough, and it costs no system call per request.
    return f"{random.getrandbits(128):032x}"


def route_template(scope: Scope, status: int) -> str:
    """The route that served the request (``/api/generate/{jobId}``), never the raw path."""
    template = scope.get("path_template")
    if not isinstance(template, str) or not template:
        return UNMATCHED_ROUTE
    handler = scope.get("route_handler")
    if status == 404 and getattr(handler, "opt", {}).get(ANY_PATH_OPT):
        return UNMATCHED_ROUTE
    return template


def serves_a_file(scope: Scope, route: str) -> bool:
    """True when a route of any path (the web client's files) served an existing file."""
    handler = scope.get("route_handler")
    return route != UNMATCHED_ROUTE and bool(getattr(handler, "opt", {}).get(ANY_PATH_OPT))


class AccessMiddleware:
    """ASGI middleware: request id and answer headers, one access line per request, the
    HTTP metrics."""

    def __init__(self, app: ASGIApp, observers: list[HttpObserver]) -> None:
        self._app = app
        self._observers = observers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self._app(scope, receive, send)
            return
        request_id = request_id_from(scope.get("headers", []))
        added, replaced = headers_for(scope["path"])
        added = (*added, (_ID_HEADER, request_id.encode("latin-1")))
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        disconnected = False

        async def receive_noting_disconnect() -> Message:
            nonlocal disconnected
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
            return message  # type: ignore[return-value]

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # The app never sets the request id itself, so it is added, not replaced.
                message["headers"] = with_headers(message.get("headers", ()), added, replaced)
            await send(message)

        try:
            await self._app(scope, receive_noting_disconnect, send_with_headers)  # type: ignore[arg-type]
        except OSError:
            if not disconnected:
                # Not the client leaving (the server tells that through ``receive``): a
                # real I/O error. The server answers 500 if nothing was sent yet.
                status = 500
                logger.exception("I/O error while answering %s", scope.get("path", ""))
        finally:
            self._finish(scope, status, time.perf_counter() - started, disconnected=disconnected)
            request_id_var.reset(token)

    def _finish(self, scope: Scope, status: int, seconds: float, *, disconnected: bool) -> None:
        method = str(scope.get("method", ""))
        route = route_template(scope, status)
        fields: dict[str, object] = {
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
        }
        level, shown = logging.INFO, route
        if serves_a_file(scope, route):
            # A page load fetches a dozen files: each is a DEBUG line, with its real path
            # (the route template, ``/{file_path}``, says nothing of which file it was).
            level, shown = logging.DEBUG, str(scope.get("path", route))
            fields["path"] = shown
        note = ""
        if disconnected:
            # One INFO line, not an error: a client hanging up is nothing to fix here.
            fields["client_disconnected"] = True
            note = " (client disconnected)"
            level = logging.INFO
        logger.log(
            level,
            "%s %s %d %.1fms%s",
            method,
            shown,
            status,
            seconds * 1000,
            note,
            extra={"fields": fields},
        )
        for observer in self._observers:
            observer.request_finished(method, route, status, seconds)
