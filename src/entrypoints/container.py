"""The composition root: which adapter serves each port, chosen from the settings.

Nothing here runs at import time; ``build_container`` makes a container for one set of
settings. Tests swap an adapter with ``container.<provider>.override(...)``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from dependency_injector import containers, providers

from adapters.google import DisabledGoogleVerifier, GoogleIdTokenVerifier
from adapters.images import OfflineImageGenerator, PillowImageInspector
from adapters.memory import (
    MemoryAttemptThrottle,
    MemoryJobWakeup,
    MemoryStore,
    MemoryUnitOfWorkFactory,
)
from adapters.memory.unit_of_work import MemoryHealthProbe
from adapters.metrics import PrometheusMetrics
from adapters.openrouter import OpenRouterImageGenerator, build_http_client
from adapters.passwords import Argon2PasswordHasher
from adapters.payments import DisabledPaymentGateway, InstantPaymentGateway
from adapters.postgres import (
    PostgresAttemptThrottle,
    PostgresDatabase,
    PostgresHealthProbe,
    PostgresJobWakeup,
    PostgresUnitOfWorkFactory,
    migrate,
    pending_migrations,
)
from adapters.system import SystemClock
from entrypoints.settings import Settings
from picpaygo_core.errors import StorageUnavailable
from picpaygo_core.policy import Policy
from picpaygo_core.services import (
    AdminService,
    AuthService,
    CreditService,
    GenerationService,
    HealthService,
    JobProcessor,
    PurchaseService,
    RetentionService,
    WorkerPool,
)
from picpaygo_core.services.monitoring import QueueMonitor
from picpaygo_core.services.processing import GENERATOR_INCIDENT
from picpaygo_core.services.workers import Chore

logger = logging.getLogger("picpaygo")


def policy_from(settings: Settings) -> Policy:
    """The core's rules, as configured."""
    return Policy(
        free_credits=settings.default_free_credits,
        session_ttl=timedelta(hours=settings.session_ttl_hours),
        max_upload_bytes=settings.max_upload_bytes,
        job_timeout_seconds=settings.job_timeout_seconds,
        job_deadline_seconds=settings.job_deadline_seconds,
        job_max_attempts=settings.job_max_attempts,
        job_lease_seconds=settings.job_lease_seconds,
        retry_base_seconds=settings.job_retry_base_seconds,
        retry_max_seconds=settings.job_retry_max_seconds,
        generator_concurrency=settings.generator_max_concurrency,
        output_retention=timedelta(hours=settings.output_retention_hours),
        auth_attempts_per_minute=settings.auth_attempts_per_minute,
        pack_prices=dict(settings.credit_pack_prices),
        currency=settings.payments_currency,
    )


def storage_kind(settings: Settings) -> str:
    """``postgres`` when a database is configured, else ``memory``."""
    return "postgres" if settings.database_url else "memory"


def generator_kind(settings: Settings) -> str:
    """``openrouter`` when an API key is configured, else ``offline``."""
    return "openrouter" if settings.openrouter_api_key else "offline"


def google_kind(settings: Settings) -> str:
    return "enabled" if settings.google_client_id else "disabled"


class Container(containers.DeclarativeContainer):
    """Providers in dependency order: settings, adapters, then use cases."""

    settings = providers.Dependency(instance_of=Settings)
    policy = providers.Singleton(policy_from, settings)
    clock = providers.Singleton(SystemClock)

    # Prometheus series of this process (also when METRICS_ENABLED is off: nothing reads them).
    metrics = providers.Singleton(PrometheusMetrics)

    memory_store = providers.Singleton(MemoryStore)
    database = providers.Singleton(
        PostgresDatabase,
        url=settings.provided.database_url,
        pool_size=settings.provided.database_pool_size,
        timeout=settings.provided.database_timeout_seconds,
    )
    uow_factory = providers.Selector(
        providers.Callable(storage_kind, settings),
        memory=providers.Singleton(MemoryUnitOfWorkFactory, memory_store),
        postgres=providers.Singleton(PostgresUnitOfWorkFactory, database),
    )
    storage_probe = providers.Selector(
        providers.Callable(storage_kind, settings),
        memory=providers.Singleton(MemoryHealthProbe),
        postgres=providers.Singleton(PostgresHealthProbe, database),
    )
    wakeup = providers.Selector(
        providers.Callable(storage_kind, settings),
        memory=providers.Singleton(MemoryJobWakeup),
        postgres=providers.Singleton(PostgresJobWakeup, database),
    )

    throttle = providers.Selector(
        providers.Callable(storage_kind, settings),
        memory=providers.Singleton(MemoryAttemptThrottle, clock),
        postgres=providers.Singleton(PostgresAttemptThrottle, database, clock),
    )

    hasher = providers.Singleton(Argon2PasswordHasher)
    google_verifier = providers.Selector(
        providers.Callable(google_kind, settings),
        enabled=providers.Singleton(
            GoogleIdTokenVerifier, client_id=settings.provided.google_client_id
        ),
        disabled=providers.Singleton(DisabledGoogleVerifier),
    )
    inspector = providers.Singleton(
        PillowImageInspector, max_pixels=settings.provided.max_image_pixels
    )
    openrouter_client = providers.Singleton(
        build_http_client,
        connect_timeout=settings.provided.openrouter_connect_timeout_seconds,
        read_timeout=settings.provided.openrouter_read_timeout_seconds,
    )
    generator = providers.Selector(
        providers.Callable(generator_kind, settings),
        offline=providers.Singleton(OfflineImageGenerator),
        openrouter=providers.Singleton(
            OpenRouterImageGenerator,
            client=openrouter_client,
            api_key=settings.provided.openrouter_api_key,
            model=settings.provided.openrouter_model,
            base_url=settings.provided.openrouter_url,
            inspector=inspector,
            site_url=settings.provided.openrouter_site_url,
            app_title=settings.provided.openrouter_app_title,
        ),
    )
    payments = providers.Selector(
        settings.provided.payments_mode,
        instant=providers.Singleton(InstantPaymentGateway),
        disabled=providers.Singleton(DisabledPaymentGateway),
    )

    auth_service = providers.Singleton(
        AuthService,
        uow_factory=uow_factory,
        hasher=hasher,
        google=google_verifier,
        throttle=throttle,
        clock=clock,
        policy=policy,
    )
    credit_service = providers.Singleton(
        CreditService,
        uow_factory=uow_factory,
        payments=payments,
        clock=clock,
        policy=policy,
        telemetry=metrics,
    )
    generation_service = providers.Singleton(
        GenerationService,
        uow_factory=uow_factory,
        inspector=inspector,
        wakeup=wakeup,
        clock=clock,
        policy=policy,
        telemetry=metrics,
    )
    purchase_service = providers.Singleton(PurchaseService, uow_factory=uow_factory)
    admin_service = providers.Singleton(
        AdminService, uow_factory=uow_factory, clock=clock, telemetry=metrics
    )
    queue_monitor = providers.Singleton(QueueMonitor, uow_factory=uow_factory, clock=clock)
    health_service = providers.Singleton(
        HealthService,
        probes=providers.List(storage_probe),
        uow_factory=uow_factory,
        incident_sources=providers.List(GENERATOR_INCIDENT),
    )
    job_processor = providers.Singleton(
        JobProcessor,
        uow_factory=uow_factory,
        generator=generator,
        clock=clock,
        policy=policy,
        telemetry=metrics,
    )
    retention_service = providers.Singleton(
        RetentionService, uow_factory=uow_factory, clock=clock, policy=policy
    )


def build_container(settings: Settings) -> Container:
    """A container wired for ``settings``."""
    return Container(settings=settings)


def build_worker_pool(container: Container, size: int) -> WorkerPool:
    """Job workers plus the periodic chores (session purge, output retention)."""
    settings: Settings = container.settings()
    auth: AuthService = container.auth_service()
    retention: RetentionService = container.retention_service()
    chores: list[Chore] = [auth.purge_expired_sessions, retention.purge_old_outputs]
    throttle = container.throttle()
    if isinstance(throttle, PostgresAttemptThrottle):
        chores.append(throttle.forget_expired)
    return WorkerPool(
        processor=container.job_processor(),
        wakeup=container.wakeup(),
        size=size,
        poll_seconds=settings.job_poll_seconds,
        chores=chores,
    )


class SchemaOutOfDate(Exception):
    """The database lacks migrations this build needs; the message says what to run."""


@asynccontextmanager
async def running_resources(
    container: Container,
    *,
    listen: bool,
    check_schema: bool = True,
    long_running: bool = True,
) -> AsyncIterator[None]:
    """Open what the services need for the life of a process, and close it afterwards.

    With PostgreSQL: the connection pool, migrations when ``DATABASE_MIGRATE_ON_START``
    is on (else a check that none is pending), and, when ``listen`` is true, the
    LISTEN connection that wakes this process's job workers. ``check_schema=False``
    skips the schema step (for ``picpaygo db migrate`` itself). A ``long_running``
    process (server, worker) starts even when the database is unreachable and serves
    503s until it answers; a one-shot command fails at once with ``StorageUnavailable``.
    """
    settings: Settings = container.settings()
    database: PostgresDatabase | None = None
    wakeup = None
    http_client: httpx.AsyncClient | None = None
    try:
        if generator_kind(settings) == "openrouter":
            http_client = container.openrouter_client()
            await http_client.__aenter__()
        if storage_kind(settings) == "postgres":
            database = container.database()
            await database.open()
            if check_schema:
                await _prepare_schema(
                    database,
                    migrate_now=settings.database_migrate_on_start,
                    tolerate_outage=long_running,
                )
            wakeup = container.wakeup()
            if listen and isinstance(wakeup, PostgresJobWakeup):
                wakeup.start()
        yield
    finally:
        if isinstance(wakeup, PostgresJobWakeup):
            await wakeup.stop()
        if database is not None:
            await database.close()
        if http_client is not None:
            await http_client.aclose()
        container.google_verifier().close()


async def _prepare_schema(
    database: PostgresDatabase, *, migrate_now: bool, tolerate_outage: bool
) -> None:
    try:
        if migrate_now:
            for migration in await migrate(database):
                logger.info("applied migration %04d_%s", migration.version, migration.name)
            return
        pending = await pending_migrations(database)
    except StorageUnavailable:
        if not tolerate_outage:
            raise
        # Start anyway: requests get 503 until the database answers, then all is well.
        logger.error("the database is unreachable at start-up; serving 503s until it answers")
        return
    if pending:
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in pending)
        raise SchemaOutOfDate(
            f"the database schema is out of date (pending: {names}); "
            "run `picpaygo db migrate` or set DATABASE_MIGRATE_ON_START=true"
        )


def announce_profile(settings: Settings) -> None:
    """Log once, at start-up, every development fallback in force."""
    logger.info("profile: %s", settings.env)
    if storage_kind(settings) == "memory":
        logger.warning("DATABASE_URL is not set: using in-memory storage (lost on restart)")
    else:
        logger.info("storage: PostgreSQL (pool of %d)", settings.database_pool_size)
    if generator_kind(settings) == "offline":
        logger.warning(
            "OPENROUTER_API_KEY is not set: using the offline image generator "
            "(local Pillow filters, no AI model)"
        )
    else:
        logger.info(
            "image generator: OpenRouter model %s at %s (at most %d calls at once)",
            settings.openrouter_model,
            settings.openrouter_url,
            settings.generator_max_concurrency,
        )
    if not settings.session_cookie_secure:
        logger.warning("SESSION_COOKIE_SECURE is off: session cookies work over plain HTTP")
    if settings.payments_mode == "instant":
        logger.warning("PAYMENTS_MODE=instant: credit packs are added without payment")
    if not settings.google_client_id:
        logger.info("GOOGLE_CLIENT_ID is not set: Google login is disabled")
