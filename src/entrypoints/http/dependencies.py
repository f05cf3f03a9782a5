"""Litestar dependencies: the services, and who the caller is.

Handlers receive these by parameter name; the container itself stays here, at the
composition root, and is never seen by a handler. The services come as one dependency,
``services``, and the caller's dependencies are built on it: Litestar resolves the
dependencies of one level concurrently, each in a task of its own (which costs more than
the rest of a small request), and a level of one is simply awaited.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.di import NamedDependency, Provide

from adapters.metrics.prometheus import PrometheusMetrics
from entrypoints.container import Container
from entrypoints.http.client_ip import client_ip
from entrypoints.http.schemas import PacksResponse
from entrypoints.http.session_cookie import SessionCookie
from entrypoints.settings import Network, Settings
from picpaygo_core.models import Caller, CreditsView
from picpaygo_core.networks import client_network
from picpaygo_core.policy import price_list
from picpaygo_core.services import (
    AdmissionService,
    AuthService,
    CreditService,
    GenerationService,
    HealthService,
    PurchaseService,
)
from picpaygo_core.services.erasure import AccountService
from picpaygo_core.services.idempotency import IdempotencyService
from picpaygo_core.services.monitoring import QueueMonitor
from picpaygo_core.services.payment_events import PaymentEventService
from picpaygo_core.services.progress import JobProgressService
from picpaygo_core.services.recovery import RecoveryService


class Services:
    """Everything a handler calls, from the container.

    A plain class on purpose: Litestar checks a dependency of such a type with
    ``isinstance``, where a dataclass or struct would be converted field by field.
    """

    __slots__ = (
        "accounts",
        "admissions",
        "auth",
        "credits",
        "generation",
        "health",
        "idempotency",
        "metrics",
        "packs",
        "payment_events",
        "progress",
        "purchases",
        "queue_monitor",
        "recovery",
        "session_cookie",
        "trusted_proxies",
    )

    def __init__(self, container: Container, settings: Settings) -> None:
        self.admissions: AdmissionService = container.admission_service()
        self.auth: AuthService = container.auth_service()
        self.recovery: RecoveryService = container.recovery_service()
        self.accounts: AccountService = container.account_service()
        self.credits: CreditService = container.credit_service()
        self.purchases: PurchaseService = container.purchase_service()
        self.idempotency: IdempotencyService = container.idempotency_service()
        self.payment_events: PaymentEventService = container.payment_event_service()
        self.generation: GenerationService = container.generation_service()
        self.progress: JobProgressService = container.progress_service()
        self.health: HealthService = container.health_service()
        self.metrics: PrometheusMetrics = container.metrics()
        self.queue_monitor: QueueMonitor = container.queue_monitor()
        self.session_cookie = SessionCookie(
            name=settings.sessions.cookie,
            secure=settings.sessions.cookie_secure,
            max_age_seconds=int(settings.policy.session_ttl.total_seconds()),
        )
        self.trusted_proxies: tuple[Network, ...] = tuple(settings.server.trusted_proxies)
        self.packs = PacksResponse.of(price_list(settings.policy))

    def client_ip(self, request: Request[Any, Any, Any]) -> str:
        """The client's IP address: the socket peer's, or what trusted proxies say it is."""
        peer = request.client.host if request.client else None
        return client_ip(
            peer,
            ", ".join(request.headers.getall("x-forwarded-for", [])) or None,
            self.trusted_proxies,
        )

    def session_token(self, request: Request[Any, Any, Any]) -> str | None:
        """The session token the request's cookie carries, if any."""
        return self.session_cookie.read(request.headers.get("cookie"))

    def presented_caller(self, request: Request[Any, Any, Any]) -> PresentedCaller:
        """Who the request says it comes from, not looked up yet (no storage work, so a
        method rather than a dependency, which would cost a resolution step)."""
        return PresentedCaller(
            token=self.session_token(request),
            client_network=client_network(self.client_ip(request)),
        )


class PresentedCaller(msgspec.Struct, frozen=True, kw_only=True):
    """Who a request says it comes from, not looked up yet: its session token (None
    without a cookie) and its client network. For handlers that resolve the session in
    the same step as their first storage work."""

    token: str | None
    client_network: str


async def provide_client_ip(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> str:
    """The client's IP address (see ``Services.client_ip``)."""
    return services.client_ip(request)


async def provide_caller(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> Caller:
    """Who is calling: the signed-in user, if any, and the client's network."""
    presented = services.presented_caller(request)
    return Caller(
        user=await services.auth.current_user(presented.token),
        client_network=presented.client_network,
    )


async def provide_caller_credits(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> CreditsView:
    """The caller's credits, its session resolved in the same read."""
    presented = services.presented_caller(request)
    return (await services.admissions.admit(presented.token, presented.client_network)).view


def build_dependencies(container: Container, settings: Settings) -> dict[str, Provide]:
    """Every dependency a handler can ask for, by name."""
    services = Services(container, settings)
    return {
        "services": Provide(lambda: services, use_cache=True, sync_to_thread=False),
        "client_ip": Provide(provide_client_ip),
        "caller": Provide(provide_caller),
        "caller_credits": Provide(provide_caller_credits),
    }
