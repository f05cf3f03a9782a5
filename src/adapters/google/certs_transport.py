"""A google-auth HTTP transport over httpx that caches Google's signing certificates.

google-auth fetches ``https://www.googleapis.com/oauth2/v1/certs`` on every
``verify_oauth2_token`` call; its own transport needs ``requests``, which this
project does not depend on. :class:`CachingHttpxRequest` does the same job with a
synchronous ``httpx.Client`` and keeps each successful GET for as long as the
response's ``Cache-Control: max-age`` allows, so a login does not cost a round trip.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from google.auth import exceptions, transport

DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_MAX_AGE_SECONDS = 3600.0
"""How long a response without ``max-age`` is kept."""
MAX_MAX_AGE_SECONDS = 86400.0
"""Upper bound on any cache lifetime, whatever the server says."""


class HttpResponse(transport.Response):
    """A finished HTTP response in the shape google-auth reads (status, headers, data)."""

    def __init__(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
        """Hold the parts of a response; ``headers`` keys are lower-case."""
        self._status = status
        self._headers = dict(headers)
        self._data = data

    @property
    def status(self) -> int:
        """The HTTP status code."""
        return self._status

    @property
    def headers(self) -> Mapping[str, str]:
        """The response headers, keys lower-cased."""
        return self._headers

    @property
    def data(self) -> bytes:
        """The response body."""
        return self._data


class CachingHttpxRequest(transport.Request):
    """``google.auth.transport.Request`` over ``httpx.Client`` with a per-URL GET cache.

    Only ``200`` answers to ``GET`` requests are cached, for ``max-age`` seconds
    (minus ``Age``), or :data:`DEFAULT_MAX_AGE_SECONDS` when absent; ``no-store``
    and ``no-cache`` answers are not kept. The cache is shared safely between the
    threads google-auth runs in; two threads missing at once may both fetch.
    Network failures are raised as ``google.auth.exceptions.TransportError``.
    """

    def __init__(
        self,
        client: httpx.Client | None = None,
        *,
        now: Callable[[], float] = time.monotonic,
        default_max_age: float = DEFAULT_MAX_AGE_SECONDS,
    ) -> None:
        """Use ``client`` (e.g. over ``httpx.MockTransport`` in tests) or build one.

        A client built here has a 5-second timeout and is closed by :meth:`close`;
        an injected client belongs to the caller. ``now`` is the clock the cache
        lifetimes are measured with.
        """
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=DEFAULT_TIMEOUT_SECONDS)
        self._now = now
        self._default_max_age = default_max_age
        self._cache: dict[str, tuple[float, HttpResponse]] = {}
        self._lock = threading.Lock()

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> HttpResponse:
        """Make an HTTP request, answering a fresh cached GET from memory."""
        cacheable = method.upper() == "GET" and body is None
        if cacheable and (cached := self._cached(url)) is not None:
            return cached
        response = self._send(url, method, body, headers, timeout)
        if cacheable and response.status == httpx.codes.OK:
            lifetime = self._lifetime(response.headers)
            if lifetime > 0:
                with self._lock:
                    self._cache[url] = (self._now() + lifetime, response)
        return response

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_client:
            self._client.close()

    def _cached(self, url: str) -> HttpResponse | None:
        with self._lock:
            entry = self._cache.get(url)
            if entry is None:
                return None
            expires_at, response = entry
            if self._now() < expires_at:
                return response
            del self._cache[url]
            return None

    def _send(
        self,
        url: str,
        method: str,
        body: bytes | None,
        headers: Mapping[str, str] | None,
        timeout: float | None,
    ) -> HttpResponse:
        try:
            response = self._client.request(
                method,
                url,
                content=body,
                headers=dict(headers or {}),
                timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            message = f"Could not reach {url}: {exc}"
            raise exceptions.TransportError(message) from exc  # type: ignore[no-untyped-call]
        return HttpResponse(response.status_code, response.headers, response.content)

    def _lifetime(self, headers: Mapping[str, str]) -> float:
        """Seconds a response may be served from the cache (0 = do not cache)."""
        directives = [d.strip().lower() for d in headers.get("cache-control", "").split(",")]
        if "no-store" in directives or "no-cache" in directives:
            return 0.0
        max_age = self._default_max_age
        for directive in directives:
            name, _, value = directive.partition("=")
            if name.strip() == "max-age":
                max_age = _seconds(value) or 0.0
        age = _seconds(headers.get("age", "")) or 0.0
        return min(max_age - age, MAX_MAX_AGE_SECONDS)


def _seconds(text: str) -> float | None:
    """A non-negative whole number of seconds, or None when ``text`` is not one."""
    text = text.strip().strip('"')
    return float(text) if text.isascii() and text.isdigit() else None
