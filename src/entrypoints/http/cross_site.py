"""Cross-site request protection for cookie-authenticated, state-changing requests.

A browser sends ``Origin`` with every cross-origin POST (fetch or HTML form) and, in
current browsers, ``Sec-Fetch-Site``. An unsafe request whose origin is neither this
server's nor listed in ``CORS_ORIGINS`` is refused with 403 before anything runs, so
another website cannot spend its visitors' credits, queue jobs, or sign them in to an
attacker's account. Requests with neither header (curl, mobile apps, servers) pass.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

from litestar import Request
from litestar.exceptions import PermissionDeniedException

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Authenticated by their own signature, sent by a provider's servers.
EXEMPT_PATHS = frozenset({"/api/stripe/webhook"})


def check_cross_site(request: Request[Any, Any, Any], allowed_origins: Collection[str]) -> None:
    """Raise 403 for an unsafe request from an origin that is not ours nor allowed."""
    if request.method not in UNSAFE_METHODS or request.scope["path"] in EXEMPT_PATHS:
        return
    origin = request.headers.get("origin")
    if origin is not None:
        if _normal(origin) in allowed_origins or _is_own_origin(origin, request):
            return
        raise PermissionDeniedException(
            detail="Cross-site requests from this origin are not allowed."
        )
    if request.headers.get("sec-fetch-site", "").strip().lower() == "cross-site":
        raise PermissionDeniedException(detail="Cross-site requests are not allowed.")


def normal_origins(origins: Collection[str]) -> frozenset[str]:
    """Origins as compared here: lower case, without a trailing slash."""
    return frozenset(_normal(origin) for origin in origins)


def _normal(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def _is_own_origin(origin: str, request: Request[Any, Any, Any]) -> bool:
    """The origin names the host the request was sent to (``Host``), any scheme.

    Behind a TLS-terminating proxy the server sees plain HTTP while the page is HTTPS,
    so the scheme is not compared; a page on the same host is this service's own.
    """
    try:
        parts = urlsplit(origin.strip())
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    host = request.headers.get("host", "").strip().lower()
    return bool(host) and parts.netloc.lower() == host
