"""ASGI factory for servers: ``granian --interface asgi --factory entrypoints.asgi:app``."""

from __future__ import annotations

import os

from litestar.types import ASGIApp

from entrypoints.cli import configure_logging
from entrypoints.container import build_container
from entrypoints.http import create_app
from entrypoints.settings import load_settings


def app() -> ASGIApp:
    """Build the app from the environment (called once per server process)."""
    settings = load_settings(os.environ)
    # Each server process (``--workers N`` starts them) sets up its own logging.
    configure_logging(settings)
    return create_app(build_container(settings))
