"""The composition root: which adapter serves each port, chosen from the settings.

Nothing here runs at import time; ``build_container`` makes a container for one set of
settings. Tests swap an adapter with ``container.<provider>.override(...)``.
"""

from __future__ import annotations

import logging
from datetime import timedelta

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
from adapters.passwords import Argon2PasswordHasher
from adapters.payments import DisabledPaymentGateway, InstantPaymentGateway
from adapters.system import SystemClock
from entrypoints.settings import Settings
from picpaygo_core.policy import Policy
from picpaygo_core.services import (
    AdminService,
    AuthService,
    CreditService,
    GenerationService,
    HealthService,
    JobProcessor,
    RetentionService,
    WorkerPool,
)

logger = logging.getLogger("picpaygo")


def policy_from(settings: Settings) -> Policy:
    """The core's rules, as configured."""
    return Policy(
        free_credits=settings.default_free_credits,
        session_ttl=timedelta(hours=settings.session_ttl_hours),
        max_upload_bytes=settings.max_upload_bytes,
        job_timeout_seconds=settings.job_timeout_seconds,
        job_max_attempts=settings.job_max_attempts,
        job_lease_seconds=settings.job_lease_seconds,
        output_retention=timedelta(hours=settings.output_retention_hours),
        auth_attempts_per_minute=settings.auth_attempts_per_minute,
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

    memory_store = providers.Singleton(MemoryStore)
    uow_factory = providers.Selector(
        providers.Callable(storage_kind, settings),
        memory=providers.Singleton(MemoryUnitOfWorkFactory, memory_store),
    )
    storage_probe = providers.Selector(
        providers.Callable(storage_kind, settings),
        memory=providers.Singleton(MemoryHealthProbe),
    )
    wakeup = providers.Selector(
        providers.Callable(storage_kind, settings),
        memory=providers.Singleton(MemoryJobWakeup),
    )

    throttle = providers.Selector(
        providers.Callable(storage_kind, settings),
        memory=providers.Singleton(MemoryAttemptThrottle, clock),
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
    generator = providers.Selector(
        providers.Callable(generator_kind, settings),
        offline=providers.Singleton(OfflineImageGenerator),
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
        CreditService, uow_factory=uow_factory, payments=payments, clock=clock, policy=policy
    )
    generation_service = providers.Singleton(
        GenerationService,
        uow_factory=uow_factory,
        inspector=inspector,
        wakeup=wakeup,
        clock=clock,
        policy=policy,
    )
    admin_service = providers.Singleton(AdminService, uow_factory=uow_factory, clock=clock)
    health_service = providers.Singleton(HealthService, probes=providers.List(storage_probe))
    job_processor = providers.Singleton(
        JobProcessor, uow_factory=uow_factory, generator=generator, clock=clock, policy=policy
    )
    retention_service = providers.Singleton(
        RetentionService, uow_factory=uow_factory, clock=clock, policy=policy
    )


def build_container(settings: Settings) -> Container:
    """A container wired for ``settings``."""
    return Container(settings=settings)


def build_worker_pool(container: Container, size: int) -> WorkerPool:
    """Job workers plus the periodic chores (session purge, output retention)."""
    auth: AuthService = container.auth_service()
    retention: RetentionService = container.retention_service()
    return WorkerPool(
        processor=container.job_processor(),
        wakeup=container.wakeup(),
        size=size,
        chores=(auth.purge_expired_sessions, retention.purge_old_outputs),
    )


def announce_profile(settings: Settings) -> None:
    """Log once, at start-up, every development fallback in force."""
    logger.info("profile: %s", settings.env)
    if storage_kind(settings) == "memory":
        logger.warning("DATABASE_URL is not set: using in-memory storage (lost on restart)")
    if generator_kind(settings) == "offline":
        logger.warning(
            "OPENROUTER_API_KEY is not set: using the offline image generator "
            "(local Pillow filters, no AI model)"
        )
    if not settings.session_cookie_secure:
        logger.warning("SESSION_COOKIE_SECURE is off: session cookies work over plain HTTP")
    if settings.payments_mode == "instant":
        logger.warning("PAYMENTS_MODE=instant: credit packs are added without payment")
    if not settings.google_client_id:
        logger.info("GOOGLE_CLIENT_ID is not set: Google login is disabled")
