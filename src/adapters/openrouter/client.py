"""The one shared HTTP client of a process for talking to OpenRouter."""

from __future__ import annotations

import httpcore
import httpx

from adapters.openrouter.network import AsyncioBackend

# httpx's own defaults for one client's connections.
MAX_CONNECTIONS = 100
MAX_KEEPALIVE_CONNECTIONS = 20
KEEPALIVE_EXPIRY_SECONDS = 5.0


class AsyncioTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool that reaches the network through plain
    asyncio (``AsyncioBackend``) instead of anyio; everything else is httpx's own."""

    def __init__(self) -> None:
        super().__init__()
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=MAX_CONNECTIONS,
            max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS,
            keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
            network_backend=AsyncioBackend(),
        )


def build_http_client(*, connect_timeout: float, read_timeout: float) -> httpx.AsyncClient:
    """An ``AsyncClient`` with the configured timeouts and pooled keep-alive connections.

    ``read_timeout`` bounds each wait for bytes (a model can take a minute to answer),
    and also the upload of the photo; the worker bounds the whole call separately.
    Proxies set in the environment are honoured as httpx does (they get its own
    transports).
    """
    timeout = httpx.Timeout(
        connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
    )
    return httpx.AsyncClient(timeout=timeout, follow_redirects=False, transport=AsyncioTransport())
