"""Litestar dependencies: services from the container, and who the caller is.

Handlers receive these by parameter name; the container itself stays here, at the
composition root, and is never seen by a handler.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency, Provide

from entrypoints.container import Container
from entrypoints.http.client_address import client_address
from entrypoints.http.session_cookie import SessionCookie
from entrypoints.settings import Settings
from picpaygo_core.models import Caller
from picpaygo_core.networks import client_network
from picpaygo_core.services import AuthService


def build_dependencies(container: Container, settings: Settings) -> dict[str, Provide]:
    """Every dependency a handler can ask for, by name."""
    session_cookie = SessionCookie(
        name=settings.sessions.cookie,
        secure=settings.sessions.cookie_secure,
        max_age_seconds=int(settings.policy.session_ttl.total_seconds()),
    )
    auth: AuthService = container.auth_service()

    async def provide_client_address(request: Request[Any, Any, Any]) -> str:
        peer = request.client.host if request.client else None
        return client_address(
            peer,
            ", ".join(request.headers.getall("x-forwarded-for", [])) or None,
            settings.server.trusted_proxies,
        )

    async def provide_caller(
        request: Request[Any, Any, Any], client_address: NamedDependency[str]
    ) -> Caller:
        user = await auth.current_user(session_cookie.read(request.cookies))
        return Caller(user=user, network=client_network(client_address))

    async def provide_session_token(request: Request[Any, Any, Any]) -> str | None:
        return session_cookie.read(request.cookies)

    async def provide_network(client_address: NamedDependency[str]) -> str:
        return client_network(client_address)

    def constant(value: object) -> Provide:
        return Provide(lambda: value, use_cache=True, sync_to_thread=False)

    return {
        "session_cookie": constant(session_cookie),
        "auth_service": constant(auth),
        "credit_service": constant(container.credit_service()),
        "purchase_service": constant(container.purchase_service()),
        "generation_service": constant(container.generation_service()),
        "health_service": constant(container.health_service()),
        "metrics": constant(container.metrics()),
        "queue_monitor": constant(container.queue_monitor()),
        "client_address": Provide(provide_client_address),
        "caller": Provide(provide_caller),
        "session_token": Provide(provide_session_token),
        "network": Provide(provide_network),
    }
