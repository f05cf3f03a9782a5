"""The one shared HTTP client of a process for talking to OpenRouter."""

from __future__ import annotations

import httpx


def build_http_client(*, connect_timeout: float, read_timeout: float) -> httpx.AsyncClient:
    """An ``AsyncClient`` with the configured timeouts and pooled keep-alive connections.

    ``read_timeout`` bounds each wait for bytes (a model can take a minute to answer),
    and also the upload of the photo; the worker bounds the whole call separately.
    """
    timeout = httpx.Timeout(
        connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
    )
    return httpx.AsyncClient(timeout=timeout, follow_redirects=False)
