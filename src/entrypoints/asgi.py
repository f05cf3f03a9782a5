"""ASGI factory for servers: ``granian --interface asgi --factory entrypoints.asgi:app``."""

from __future__ import annotations

import gc
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
    app = create_app(build_container(settings))
    # Once per process, after the app is built: the collector's full passes no longer
    # walk the objects start-up made (they live as long as the process), which paused
    # every request in flight under load (see BENCHMARKS.md, p99).
    gc.freeze()
    return app
