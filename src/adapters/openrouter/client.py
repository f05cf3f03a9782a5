"""The one shared HTTP client of a process for talking to OpenRouter."""

from __future__ import annotations

import httpx

# httpx's own defaults, spelled out: up to 100 connections, 20 of them kept alive for 5 s.
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)


def build_http_client(*, connect_timeout: float, read_timeout: float) -> httpx.AsyncClient:
    """An ``AsyncClient`` with the configured timeouts and pooled keep-alive connections.

    ``read_timeout`` bounds each wait for bytes (a model can take a minute to answer),
    and also the upload of the photo; the worker bounds the whole call separately.
    Proxies set in the environment are honoured as httpx does.
    """
    timeout = httpx.Timeout(
        connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
    )
    return httpx.AsyncClient(timeout=timeout, limits=LIMITS, follow_redirects=False)
