"""The docs page at ``/api/docs``: Swagger UI from this server's own files (the
``swagger-ui-bundle-v2`` package), under a Content-Security-Policy that lets the page
load nothing from anywhere else.

The page's one inline script starts Swagger UI on the OpenAPI document at
``/api/docs/openapi.json``; it is the same text for every request, so the policy allows
it by its SHA-256 rather than allowing inline scripts at large. Swagger UI's validator
badge (an image from another host) is switched off.
"""

from __future__ import annotations

import base64
import hashlib
import html
from pathlib import Path
from typing import Any

import swagger_ui_bundle
from litestar import Request, Router
from litestar.datastructures import ResponseHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.static_files import create_static_files_router

DOCS_PATH = "/api/docs"
ASSETS_PATH = f"{DOCS_PATH}/assets"

_START_SCRIPT = (
    "window.ui = SwaggerUIBundle({"
    f'url: "{DOCS_PATH}/openapi.json", '
    'dom_id: "#swagger-ui", '
    "deepLinking: true, showExtensions: true, showCommonExtensions: true, "
    "validatorUrl: null, "
    "presets: [SwaggerUIBundle.presets.apis]"
    "});"
)
_START_SCRIPT_HASH = base64.b64encode(hashlib.sha256(_START_SCRIPT.encode()).digest()).decode()

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        f"script-src 'self' 'sha256-{_START_SCRIPT_HASH}'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)


class SwaggerPage(OpenAPIRenderPlugin):
    """Litestar's render plugin for the page: Swagger UI's files from ``ASSETS_PATH``."""

    def __init__(self) -> None:
        super().__init__(path="/")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        """The page's HTML; the document itself is fetched by the page."""
        title = html.escape(str(openapi_schema["info"]["title"]))
        return (
            "<!DOCTYPE html>"
            '<html lang="en"><head>'
            f"<title>{title}</title>"
            '<meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="{ASSETS_PATH}/favicon-32x32.png">'
            f'<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">'
            f'<script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>'
            "</head><body>"
            '<div id="swagger-ui"></div>'
            f"<script>{_START_SCRIPT}</script>"
            "</body></html>"
        ).encode()


def docs_router() -> Router:
    """The router Litestar serves the page and the document on, with the policy."""
    return Router(
        path=DOCS_PATH,
        route_handlers=[],
        include_in_schema=False,
        response_headers=[
            ResponseHeader(name="Content-Security-Policy", value=CONTENT_SECURITY_POLICY)
        ],
    )


def docs_assets_router() -> Router:
    """Swagger UI's JavaScript, CSS and icons, served by this server."""
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[Path(swagger_ui_bundle.swagger_ui_path)],
        include_in_schema=False,
        name="docs-assets",
    )
