"""ASGI factory for servers: ``uvicorn --factory entrypoints.asgi:app``."""

from __future__ import annotations

import os

from litestar.types import ASGIApp

from entrypoints.cli import configure_logging
from entrypoints.container import build_container
from entrypoints.http import create_app, server_protocol
from entrypoints.http.old_http import refusing_http_0_9
from entrypoints.settings import load_settings


def app() -> ASGIApp:
    """Build the app from the environment (called once per server process)."""
    settings = load_settings(os.environ)
    # Each server process (``--workers N`` spawns them) sets up its own logging.
    configure_logging(settings)
    server_protocol.configure(settings.server.header_timeout_seconds)
    return refusing_http_0_9(create_app(build_container(settings)))
