"""The web client: the static single-page app served at ``/`` (HTML, CSS, ES modules).

It talks only to the public API, from the same origin, so it needs no CORS and no
exception to the cross-site rules. Everything it loads comes from this server, except
Google's sign-in script, which the page requests only when Google login is enabled.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from litestar import Response, Router
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

from entrypoints.http.access import ANY_PATH_OPT

STATIC_DIRECTORY = Path(__file__).parent / "static"
GOOGLE_SIGN_IN = "https://accounts.google.com/gsi/"


def content_security_policy(image_origins: Sequence[str] = ()) -> str:
    """The page's own files, plus what Google Identity Services documents it needs, plus
    ``image_origins``: where pictures are fetched from when the API redirects there (an
    object store's presigned URLs; a policy applies to where a redirect leads)."""
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' {GOOGLE_SIGN_IN}client",
            f"style-src 'self' {GOOGLE_SIGN_IN}style",
            f"frame-src {GOOGLE_SIGN_IN}",
            f"connect-src 'self' {GOOGLE_SIGN_IN}",
            " ".join(("img-src 'self' blob: data:", *image_origins)),
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def security_headers(image_origins: Sequence[str] = ()) -> dict[str, str]:
    """The headers every file of the page is served with (``nosniff``, which every
    answer carries, is set by the access middleware: see ``response_headers``)."""
    return {
        "Content-Security-Policy": content_security_policy(image_origins),
        "Referrer-Policy": "same-origin",
        # Google's sign-in pop-up must be able to talk back to the page that opened it.
        "Cross-Origin-Opener-Policy": "same-origin-allow-popups",
    }


def web_client_router(image_origins: Sequence[str] = ()) -> Router:
    """Serve the page's files at ``/`` (``index.html`` for ``/``), revalidated on each load;
    pictures may also come from ``image_origins`` (see ``content_security_policy``).

    Routes registered on the app (``/api/...``, ``/metrics``) take precedence over these
    files; unknown paths are a 404 in the API's error shape, logged and counted as
    unmatched.
    """
    headers = security_headers(image_origins)

    async def _add_security_headers(response: Response[Any]) -> Response[Any]:
        response.headers.update(headers)
        return response

    return create_static_files_router(
        path="/",
        directories=[STATIC_DIRECTORY],
        html_mode=True,
        name="web_client",
        cache_control=CacheControlHeader(no_cache=True),
        after_request=_add_security_headers,
        include_in_schema=False,
        opt={ANY_PATH_OPT: True},  # a missing file is an unknown path in logs and metrics
    )
