"""Headers that every answer of the app carries, decided in this one place.

- ``X-Content-Type-Options: nosniff`` on every answer, so a browser never guesses another
  type than the one sent (an error body echoing a client's input stays JSON).
- ``Cache-Control: no-store`` on every ``/api/`` answer except the public ones (health,
  Google config, the docs): an answer that may depend on the
  session, the caller's JSON and pictures, errors included, is kept by no shared cache
  and no browser history.

The access middleware, which wraps the whole application, adds them (``headers_for``), so
answers made by routing (404, 405), by the exception handlers and by other middleware
(403 cross-site, 408, 413) carry them too. A handler's own ``Cache-Control`` on a private
path is replaced, not kept.
"""

from __future__ import annotations

from collections.abc import Iterable

from entrypoints.http.docs_page import DOCS_PATH

API_PREFIX = "/api/"
# The same answer for everyone: they may be cached.
PUBLIC_API_PATHS = frozenset(
    {
        "/api/health",
        "/api/health/live",
        "/api/health/ready",
        "/api/auth/google/config",
        "/api/credits/packs",
    }
)

Header = tuple[bytes, bytes]
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")
_ALWAYS = (_NOSNIFF,)
_PRIVATE = (_NOSNIFF, _NO_STORE)
_ALWAYS_NAMES = frozenset({_NOSNIFF[0]})
_PRIVATE_NAMES = frozenset({_NOSNIFF[0], _NO_STORE[0]})


def may_depend_on_session(path: str) -> bool:
    """True for every ``/api/`` path but the public ones: its answers get ``no-store``."""
    if not path.startswith(API_PREFIX) or path in PUBLIC_API_PATHS:
        return False
    return path != DOCS_PATH and not path.startswith(f"{DOCS_PATH}/")


def headers_for(path: str) -> tuple[tuple[Header, ...], frozenset[bytes]]:
    """The headers an answer to ``path`` gets, and the names they replace (a handler's own
    ``Cache-Control`` on a private path is replaced, not kept)."""
    if may_depend_on_session(path):
        return _PRIVATE, _PRIVATE_NAMES
    return _ALWAYS, _ALWAYS_NAMES


def with_headers(
    headers: Iterable[Header], added: tuple[Header, ...], replaced: frozenset[bytes]
) -> list[Header]:
    """``headers`` without those named in ``replaced``, then ``added``."""
    return [*(h for h in headers if h[0].lower() not in replaced), *added]
