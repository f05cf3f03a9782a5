"""Litestar dependencies: services from the container, and who the caller is.

Handlers receive these by parameter name; the container itself stays here, at the
composition root, and is never seen by a handler.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.di import Provide

from entrypoints.container import Container
from entrypoints.http.client_address import client_address
from entrypoints.http.session_cookie import SessionCookie
from entrypoints.settings import Settings
from picpaygo_core.models import Caller, CreditsView
from picpaygo_core.networks import client_network
from picpaygo_core.services import AuthService, CreditService


class PresentedCaller(msgspec.Struct, frozen=True, kw_only=True):
    """Who a request says it comes from, not looked up yet: its session token (None
    without a cookie) and its client network. For handlers that resolve the session in
    the same step as their first storage work."""

    token: str | None
    network: str


def build_dependencies(container: Container, settings: Settings) -> dict[str, Provide]:
    """Every dependency a handler can ask for, by name."""
    session_cookie = SessionCookie(
        name=settings.sessions.cookie,
        secure=settings.sessions.cookie_secure,
        max_age_seconds=int(settings.policy.session_ttl.total_seconds()),
    )
    auth: AuthService = container.auth_service()
    credits: CreditService = container.credit_service()

    def address_of(request: Request[Any, Any, Any]) -> str:
        peer = request.client.host if request.client else None
        return client_address(
            peer,
            ", ".join(request.headers.getall("x-forwarded-for", [])) or None,
            settings.server.trusted_proxies,
        )

    async def provide_client_address(request: Request[Any, Any, Any]) -> str:
        return address_of(request)

    # The two below read the request themselves rather than ask for ``client_address``:
    # a dependency of their own would cost a resolution step on every request.
    async def provide_caller(request: Request[Any, Any, Any]) -> Caller:
        user = await auth.current_user(session_cookie.read(request.headers.get("cookie")))
        return Caller(user=user, network=client_network(address_of(request)))

    async def provide_presented_caller(request: Request[Any, Any, Any]) -> PresentedCaller:
        return PresentedCaller(
            token=session_cookie.read(request.headers.get("cookie")),
            network=client_network(address_of(request)),
        )

    async def provide_caller_credits(request: Request[Any, Any, Any]) -> CreditsView:
        """The caller's credits, its session resolved in the same read (one round trip)."""
        return await credits.view_for_session(
            session_cookie.read(request.headers.get("cookie")), client_network(address_of(request))
        )

    def constant(value: object) -> Provide:
        return Provide(lambda: value, use_cache=True, sync_to_thread=False)

    return {
        "session_cookie": constant(session_cookie),
        "auth_service": constant(auth),
        "credit_service": constant(credits),
        "purchase_service": constant(container.purchase_service()),
        "idempotency_service": constant(container.idempotency_service()),
        "payment_event_service": constant(container.payment_event_service()),
        "generation_service": constant(container.generation_service()),
        "health_service": constant(container.health_service()),
        "metrics": constant(container.metrics()),
        "queue_monitor": constant(container.queue_monitor()),
        "client_address": Provide(provide_client_address),
        "caller": Provide(provide_caller),
        "caller_credits": Provide(provide_caller_credits),
        "presented_caller": Provide(provide_presented_caller),
    }
