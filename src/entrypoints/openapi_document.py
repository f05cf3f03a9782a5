"""The OpenAPI document of the HTTP API, as JSON-ready data (``picpaygo openapi``)."""

from __future__ import annotations

from typing import Any

from entrypoints.container import build_container
from entrypoints.http import create_app
from entrypoints.settings import Settings


def openapi_document(settings: Settings) -> dict[str, Any]:
    """The document the app built for ``settings`` serves at ``/api/docs/openapi.json``."""
    app = create_app(build_container(settings), run_workers=False)
    return app.openapi_schema.to_schema()
