"""The composition root: which adapter serves each port, chosen from the settings.

Nothing here runs at import time; ``build_container`` makes a container for one set of
settings. Tests swap an adapter with ``container.<provider>.override(...)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    AsyncExitStack,
    asynccontextmanager,
)
from typing import Protocol

import stripe
from dependency_injector import containers, providers

from adapters.google import DisabledGoogleVerifier, GoogleIdTokenVerifier
from adapters.images import OfflineImageGenerator, PillowImageInspector
from adapters.memory.storage import MemoryStorage
from adapters.metrics import PrometheusMetrics
from adapters.openrouter import OpenRouterImageGenerator, build_http_client
from adapters.passwords import Argon2PasswordHasher
from adapters.payments import DisabledPaymentGateway, InstantPaymentGateway
from adapters.postgres import PostgresDatabase
from adapters.postgres.embedded import EmbeddedPostgres
from adapters.postgres.storage import DatabaseServer, ExternalServer, PostgresStorage
from adapters.stripe import (
    StripePaymentGateway,
    build_stripe_client,
    build_stripe_http_client,
)
from adapters.system import SystemClock
from entrypoints.mailer import build_mailer
from entrypoints.pictures import (
    build_s3_store,
    degrading_probes,
    picture_store_kind,
)
from entrypoints.settings import MEMORY_URL, Settings
from picpaygo_core.fairness import PerKeyLimiter
from picpaygo_core.ports import (
    AttemptThrottle,
    Clock,
    HealthProbe,
    JobChanges,
    JobWakeup,
    PictureStore,
    SessionReads,
    UnitOfWorkFactory,
)
from picpaygo_core.services import (
    AdminService,
    AdmissionService,
    AuthService,
    CreditService,
    GenerationService,
    HealthService,
    JobProcessor,
    PaymentEventService,
    PurchaseService,
    RetentionService,
    WorkerPool,
)
from picpaygo_core.services.account_links import AccountLinks
from picpaygo_core.services.erasure import AccountService
from picpaygo_core.services.idempotency import IdempotencyService
from picpaygo_core.services.monitoring import QueueMonitor
from picpaygo_core.services.outbox import MailSender
from picpaygo_core.services.pictures import OrphanSweep
from picpaygo_core.services.processing import GENERATOR_INCIDENT
from picpaygo_core.services.progress import JobProgressService
from picpaygo_core.services.recovery import RecoveryService
from picpaygo_core.services.workers import Chore


class StorageFamily(Protocol):
    """One way of storing everything (in memory; PostgreSQL, external or embedded).

    It owns the adapters of every storage port and opens them in ``lifespan``, in
    order, closing them in reverse. ``shared`` says whether another process (the CLI,
    a worker) sees the same data.
    """

    @property
    def shared(self) -> bool: ...
    @property
    def description(self) -> str: ...
    @property
    def uow_factory(self) -> UnitOfWorkFactory: ...
    @property
    def session_reads(self) -> SessionReads: ...
    @property
    def health_probe(self) -> HealthProbe: ...
    @property
    def wakeup(self) -> JobWakeup: ...
    @property
    def job_changes(self) -> JobChanges: ...
    @property
    def throttle(self) -> AttemptThrottle: ...
    @property
    def picture_store(self) -> PictureStore: ...
    @property
    def chores(self) -> Sequence[Chore]: ...

    def lifespan(
        self, *, listen: bool, check_schema: bool = True, long_running: bool = True
    ) -> AbstractAsyncContextManager[None]: ...

    def kept(self) -> AbstractContextManager[None]: ...

    async def migrate(self) -> list[str]: ...


def storage_family(settings: Settings, clock: Clock) -> StorageFamily:
    """The storage ``DATABASE_URL`` asks for: the one place the family is chosen.

    Unset: the embedded PostgreSQL server in ``PICPAYGO_DATA_DIR``, migrated when it
    opens; ``memory://``: this process's memory; else the deployment's PostgreSQL.
    """
    database = settings.database
    if database.url == MEMORY_URL:
        return MemoryStorage(clock)
    server: DatabaseServer
    if database.url is None:
        embedded = EmbeddedPostgres(database.data_dir)
        server, url, migrate_on_start = embedded, embedded.url, True
    else:
        server, url, migrate_on_start = ExternalServer(), database.url, database.migrate_on_start
    return PostgresStorage(
        PostgresDatabase(url, pool_size=database.pool_size, timeout=database.timeout_seconds),
        clock,
        server=server,
        migrate_on_start=migrate_on_start,
    )


def generator_kind(settings: Settings) -> str:
    """``openrouter`` when an API key is configured, else ``offline``."""
    return "openrouter" if settings.openrouter.api_key else "offline"


def google_kind(settings: Settings) -> str:
    return "enabled" if settings.google.client_id else "disabled"


class Container(containers.DeclarativeContainer):
    """Providers in dependency order: settings, adapters, then use cases."""

    settings = providers.Dependency(instance_of=Settings)
    policy = settings.provided.policy
    clock = providers.Singleton(SystemClock)

    # Prometheus series of this process (also when METRICS_ENABLED is off: nothing reads them).
    metrics = providers.Singleton(PrometheusMetrics)

    storage = providers.Singleton(storage_family, settings, clock)
    uow_factory = storage.provided.uow_factory
    session_reads = storage.provided.session_reads
    storage_probe = storage.provided.health_probe
    wakeup = storage.provided.wakeup
    job_changes = storage.provided.job_changes
    throttle = storage.provided.throttle
    pictures = providers.Selector(
        providers.Callable(picture_store_kind, settings),
        database=storage.provided.picture_store,
        s3=providers.Singleton(build_s3_store, settings),
    )

    hasher = providers.Singleton(Argon2PasswordHasher)
    # One per process, shared by every use case that hashes (see Policy).
    hashing = providers.Singleton(PerKeyLimiter, policy.hashes_in_flight_per_network)
    google_verifier = providers.Selector(
        providers.Callable(google_kind, settings),
        enabled=providers.Singleton(
            GoogleIdTokenVerifier, client_id=settings.provided.google.client_id
        ),
        disabled=providers.Singleton(DisabledGoogleVerifier),
    )
    inspector = providers.Singleton(
        PillowImageInspector, max_pixels=settings.provided.policy.max_image_pixels
    )
    openrouter_client = providers.Singleton(
        build_http_client,
        connect_timeout=settings.provided.openrouter.connect_timeout_seconds,
        read_timeout=settings.provided.openrouter.read_timeout_seconds,
    )
    generator = providers.Selector(
        providers.Callable(generator_kind, settings),
        offline=providers.Singleton(OfflineImageGenerator),
        openrouter=providers.Singleton(
            OpenRouterImageGenerator,
            client=openrouter_client,
            api_key=settings.provided.openrouter.api_key,
            model=settings.provided.openrouter.model,
            base_url=settings.provided.openrouter.url,
            inspector=inspector,
            site_url=settings.provided.openrouter.site_url,
            app_title=settings.provided.openrouter.app_title,
        ),
    )
    stripe_http_client = providers.Singleton(
        build_stripe_http_client, timeout_seconds=settings.provided.payments.stripe_timeout_seconds
    )
    stripe_client = providers.Singleton(
        build_stripe_client,
        secret_key=settings.provided.payments.stripe_secret_key,
        api_base=settings.provided.payments.stripe_api_base,
        http_client=stripe_http_client,
    )
    payments = providers.Selector(
        settings.provided.payments.mode,
        instant=providers.Singleton(InstantPaymentGateway),
        disabled=providers.Singleton(DisabledPaymentGateway),
        stripe=providers.Singleton(
            StripePaymentGateway,
            client=stripe_client,
            webhook_secret=settings.provided.payments.stripe_webhook_secret,
            success_url=settings.provided.payments.checkout_success_url,
            cancel_url=settings.provided.payments.checkout_cancel_url,
        ),
    )

    mailer = providers.Singleton(build_mailer, settings)
    account_links = providers.Singleton(
        AccountLinks,
        public_url=settings.provided.mail.public_url,
        reset_ttl=settings.provided.policy.password_reset_ttl,
    )
    auth_service = providers.Singleton(
        AuthService,
        uow_factory=uow_factory,
        session_reads=session_reads,
        hasher=hasher,
        hashing=hashing,
        google=google_verifier,
        throttle=throttle,
        clock=clock,
        policy=policy,
        links=account_links,
    )
    recovery_service = providers.Singleton(
        RecoveryService,
        uow_factory=uow_factory,
        hasher=hasher,
        hashing=hashing,
        throttle=throttle,
        clock=clock,
        policy=policy,
        links=account_links,
    )
    account_service = providers.Singleton(
        AccountService,
        uow_factory=uow_factory,
        hasher=hasher,
        hashing=hashing,
        google=google_verifier,
        throttle=throttle,
        pictures=pictures,
        clock=clock,
        policy=policy,
    )
    mail_sender = providers.Singleton(
        MailSender,
        uow_factory=uow_factory,
        mailer=mailer,
        clock=clock,
        retry_base_seconds=settings.provided.policy.mail_retry_base_seconds,
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
        pictures=pictures,
        wakeup=wakeup,
        clock=clock,
        policy=policy,
        telemetry=metrics,
    )
    progress_service = providers.Singleton(
        JobProgressService, generation=generation_service, changes=job_changes
    )
    purchase_service = providers.Singleton(PurchaseService, uow_factory=uow_factory)
    admission_service = providers.Singleton(
        AdmissionService,
        uow_factory=uow_factory,
        session_reads=session_reads,
        clock=clock,
        policy=policy,
    )
    idempotency_service = providers.Singleton(
        IdempotencyService, uow_factory=uow_factory, clock=clock
    )
    payment_event_service = providers.Singleton(
        PaymentEventService,
        uow_factory=uow_factory,
        payments=payments,
        clock=clock,
        telemetry=metrics,
    )
    admin_service = providers.Singleton(
        AdminService, uow_factory=uow_factory, clock=clock, telemetry=metrics
    )
    queue_monitor = providers.Singleton(QueueMonitor, uow_factory=uow_factory, clock=clock)
    health_service = providers.Singleton(
        HealthService,
        probes=providers.List(storage_probe),
        degrading=providers.Callable(degrading_probes, settings, pictures),
        uow_factory=uow_factory,
        incident_sources=providers.List(GENERATOR_INCIDENT),
    )
    job_processor = providers.Singleton(
        JobProcessor,
        uow_factory=uow_factory,
        generator=generator,
        pictures=pictures,
        clock=clock,
        policy=policy,
        telemetry=metrics,
    )
    retention_service = providers.Singleton(
        RetentionService, uow_factory=uow_factory, pictures=pictures, clock=clock, policy=policy
    )
    orphan_sweep = providers.Singleton(
        OrphanSweep, uow_factory=uow_factory, pictures=pictures, clock=clock
    )


def build_container(settings: Settings) -> Container:
    """A container wired for ``settings``."""
    return Container(settings=settings)


def build_worker_pool(container: Container, size: int) -> WorkerPool:
    """Job workers, the mail sender, and the periodic chores (session purge, output
    retention, old mail, storage's own)."""
    settings: Settings = container.settings()
    auth: AuthService = container.auth_service()
    retention: RetentionService = container.retention_service()
    storage: StorageFamily = container.storage()
    idempotency: IdempotencyService = container.idempotency_service()
    mail_sender: MailSender = container.mail_sender()
    sweep: OrphanSweep = container.orphan_sweep()
    return WorkerPool(
        processor=container.job_processor(),
        wakeup=storage.wakeup,
        size=size,
        poll_seconds=settings.jobs.poll_seconds,
        chores=[
            auth.purge_expired_sessions,
            retention.purge_old_outputs,
            idempotency.purge_expired,
            mail_sender.purge_finished,
            sweep.sweep,
            *storage.chores,
        ],
        shutdown_grace_seconds=settings.server.shutdown_grace_seconds,
        mail_sender=mail_sender,
    )


@asynccontextmanager
async def running_resources(
    container: Container,
    *,
    listen: bool,
    check_schema: bool = True,
    long_running: bool = True,
) -> AsyncIterator[None]:
    """Open what the services need for the life of a process, and close it afterwards.

    The OpenRouter HTTP client, then the storage family's lifespan (see
    ``StorageFamily.lifespan`` for ``listen``, ``check_schema`` and ``long_running``);
    closed in reverse.
    """
    settings: Settings = container.settings()
    storage: StorageFamily = container.storage()
    async with AsyncExitStack() as stack:
        stack.callback(container.google_verifier().close)
        if generator_kind(settings) == "openrouter":
            await stack.enter_async_context(container.openrouter_client())
        if settings.payments.mode == "stripe":
            stripe_http: stripe.HTTPXClient = container.stripe_http_client()
            stack.push_async_callback(stripe_http.close_async)
        await stack.enter_async_context(
            storage.lifespan(listen=listen, check_schema=check_schema, long_running=long_running)
        )
        yield
