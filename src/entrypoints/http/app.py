"""The Litestar application factory."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.config.compression import CompressionConfig
from litestar.config.cors import CORSConfig
from litestar.datastructures import State

from entrypoints.container import Container, build_worker_pool, running_resources
from entrypoints.http.access import AccessMiddleware
from entrypoints.http.body_deadline import body_deadline
from entrypoints.http.controllers import (
    AccountController,
    AuthController,
    CreditsController,
    GenerationController,
    HealthController,
    MetricsController,
    RecoveryController,
    StripeWebhookController,
)
from entrypoints.http.dependencies import build_dependencies
from entrypoints.http.docs_page import docs_assets_router
from entrypoints.http.errors import TELEMETRY_STATE, exception_handlers
from entrypoints.http.head import HeadAsGet
from entrypoints.http.openapi import complete, openapi_config
from entrypoints.http.request_rules import request_rules
from entrypoints.http.route_options import UNCOMPRESSED_OPT
from entrypoints.http.stopping import streams_end_on_sigterm
from entrypoints.http.web_client import web_client_router
from entrypoints.pictures import download_origin
from entrypoints.settings import Settings

logger = logging.getLogger("picpaygo.server")

# Room for the multipart envelope (boundaries, part headers, the category field).
MULTIPART_OVERHEAD_BYTES = 64 * 1024
# Answers smaller than this are sent as they are: compressing them saves too little.
COMPRESS_FROM_BYTES = 1024


def create_app(container: Container, *, run_workers: bool | None = None) -> Litestar:
    """The HTTP API over ``container``'s services.

    In-process job workers start and stop with the app when ``JOB_WORKERS`` > 0
    (``run_workers`` overrides that, e.g. for tests that drive the queue by hand).
    """
    settings: Settings = container.settings()
    start_workers = settings.jobs.workers > 0 if run_workers is None else run_workers

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        async with running_resources(container, listen=start_workers):
            pool = build_worker_pool(container, settings.jobs.workers) if start_workers else None
            if pool:
                pool.start()
            logger.info("API process %d ready", os.getpid())
            try:
                with streams_end_on_sigterm(container.progress_service()):
                    yield
            finally:
                if pool:
                    await pool.stop()
        logger.info("API process %d stopped", os.getpid())

    server = settings.server
    # Requests still receiving their body hold at most half of a process's connections.
    body_readers = max(1, server.max_connections // 2)
    uploads = Router(
        path="/",
        route_handlers=[GenerationController],
        request_max_body_size=settings.policy.max_upload_bytes + MULTIPART_OVERHEAD_BYTES,
    )
    metrics = container.metrics()
    operations = [MetricsController] if server.metrics_enabled else []
    app = Litestar(
        route_handlers=[
            AuthController,
            RecoveryController,
            AccountController,
            CreditsController,
            HealthController,
            StripeWebhookController,
            uploads,
            docs_assets_router(),
            *operations,
            web_client_router(image_origins=_picture_origins(settings)),
        ],
        dependencies=build_dependencies(container, settings),
        exception_handlers=exception_handlers(),
        before_request=request_rules(server.cors_origins),
        middleware=[body_deadline(server.body_timeout_seconds, most_readers=body_readers)],
        request_max_body_size=server.max_json_body_bytes,
        cors_config=(
            CORSConfig(allow_origins=list(server.cors_origins), allow_credentials=True)
            if server.cors_origins
            else None
        ),
        openapi_config=openapi_config(settings.sessions.cookie),
        # gzip for the page's files and JSON over 1 KB; not for what is already
        # compressed (pictures) or must reach the client event by event (live progress).
        compression_config=CompressionConfig(
            backend="gzip",
            minimum_size=COMPRESS_FROM_BYTES,
            gzip_compress_level=6,
            exclude_opt_key=UNCOMPRESSED_OPT,
        ),
        lifespan=[lifespan],
        state=State({TELEMETRY_STATE: metrics}),
        logging_config=None,  # logging is the process's business (see ``picpaygo serve``)
    )
    complete(app.openapi_schema)
    # Around routing too, so unknown paths get their request id, access line and headers.
    app.asgi_handler = AccessMiddleware(HeadAsGet(app.asgi_handler), observers=[metrics])
    return app


def _picture_origins(settings: Settings) -> list[str]:
    """Where the web client's pictures come from besides this server (an object store)."""
    origin = download_origin(settings)
    return [origin] if origin else []
