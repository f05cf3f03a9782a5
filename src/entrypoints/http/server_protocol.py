"""The HTTP/1.1 connection handling of ``picpaygo serve``: uvicorn's protocol (httptools
when installed, else h11) with a deadline for each request's headers.

uvicorn closes connections that idle *between* requests (``timeout_keep_alive``), but a
client that opens a connection and sends its headers a byte at a time (slowloris) keeps
it forever. Here every connection must deliver a complete request head within
``HEADER_TIMEOUT_SECONDS`` of opening, and again after each response; otherwise it is
closed. The total number of connections and requests at once is bounded by uvicorn's
``limit_concurrency`` (``MAX_CONNECTIONS``): past it, new requests get 503.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from entrypoints.http.coalesced_writes import CoalescingTransport

logger = logging.getLogger("picpaygo.server")

DEFAULT_HEADER_TIMEOUT_SECONDS = 30.0


class HeaderDeadline:
    """Mixin for a uvicorn HTTP protocol: close a connection whose request head is late.

    Relies on what uvicorn's protocols share: ``cycle`` (set once a request head is
    parsed), ``loop``, ``transport`` and ``on_response_complete``.
    """

    # Set once per process from the settings (``configure``) before connections arrive.
    header_timeout_seconds = DEFAULT_HEADER_TIMEOUT_SECONDS

    _header_timer: asyncio.TimerHandle | None = None
    # When the connection began waiting for a request head (None while one is served).
    _waiting_since: float | None = None
    _answered_cycle: object = None
    cycle: Any
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        # uvicorn's flow control keeps the real transport; responses go through this one.
        self.transport = CoalescingTransport(transport, self.loop)  # type: ignore[assignment]
        self._wait_for_headers()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        if self.cycle is not None and self.cycle is not self._answered_cycle:
            self._answered_cycle = self.cycle  # a complete request head arrived
            self._waiting_since = None

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._wait_for_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._waiting_since = None
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)  # type: ignore[misc]

    def _wait_for_headers(self) -> None:
        # One timer per connection, not one per request: when it fires early (the
        # connection has served requests since), it is set again for what is left.
        self._waiting_since = self.loop.time()
        if self._header_timer is None:
            self._check_deadline()

    def _check_deadline(self) -> None:
        self._header_timer = None
        if self._waiting_since is None:
            return  # a request is being served; the next wait sets the timer again
        deadline = self._waiting_since + self.header_timeout_seconds
        if self.loop.time() >= deadline:
            self._too_slow()
        else:
            self._header_timer = self.loop.call_at(deadline, self._check_deadline)

    def _too_slow(self) -> None:
        if not self.transport.is_closing():
            logger.info(
                "closed a connection that sent no complete request within %gs",
                self.header_timeout_seconds,
            )
            self.transport.close()


class H11HeaderTimeoutProtocol(HeaderDeadline, H11Protocol):
    """uvicorn's pure-Python HTTP/1.1 protocol with the header deadline."""


if importlib.util.find_spec("httptools") is not None:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class HttpToolsHeaderTimeoutProtocol(HeaderDeadline, HttpToolsProtocol):
        """uvicorn's httptools-based protocol (the fast one) with the header deadline."""

    PROTOCOL = f"{__name__}:HttpToolsHeaderTimeoutProtocol"
else:
    PROTOCOL = f"{__name__}:H11HeaderTimeoutProtocol"


def configure(header_timeout_seconds: float) -> None:
    """Set this process's header deadline (the ASGI factory calls it with the settings)."""
    HeaderDeadline.header_timeout_seconds = header_timeout_seconds
