"""``/api/auth``: register, log in (password or Google), log out, who am I."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from entrypoints.http.dependencies import Services
from entrypoints.http.route_options import UNCOMPRESSED
from entrypoints.http.schemas import (
    AuthResponse,
    GoogleConfigResponse,
    GoogleLoginRequest,
    LoginRequest,
    RegisterRequest,
)
from entrypoints.http.session_cookie import SessionCookie
from picpaygo_core.errors import NotAuthenticated
from picpaygo_core.models import Caller, SignedIn


class AuthController(Controller):
    path = "/api/auth"
    tags = ["auth"]  # noqa: RUF012 - Litestar reads this class attribute

    @post("/register", status_code=201, operation_id="register")
    async def register(
        self,
        data: JSONBody[RegisterRequest],
        services: NamedDependency[Services],
        client_ip: NamedDependency[str],
    ) -> Response[AuthResponse]:
        """Create an email + password account and sign it in."""
        signed_in = await services.auth.register(
            email=data.email,
            password=data.password,
            name=data.name,
            surname=data.surname,
            client_ip=client_ip,
        )
        return signed_in_response(signed_in, 201, services.session_cookie)

    @post("/login", status_code=200, operation_id="login")
    async def login(
        self,
        data: JSONBody[LoginRequest],
        services: NamedDependency[Services],
        client_ip: NamedDependency[str],
    ) -> Response[AuthResponse]:
        """Sign in with email and password."""
        signed_in = await services.auth.login(
            email=data.email, password=data.password, client_ip=client_ip
        )
        return signed_in_response(signed_in, 200, services.session_cookie)

    @post("/google", status_code=200, operation_id="googleLogin")
    async def google(
        self,
        data: JSONBody[GoogleLoginRequest],
        services: NamedDependency[Services],
        client_ip: NamedDependency[str],
    ) -> Response[AuthResponse]:
        """Sign in (or sign up on first use) with a Google ID token."""
        signed_in = await services.auth.google_login(
            credential=data.credential, client_ip=client_ip
        )
        return signed_in_response(signed_in, 200, services.session_cookie)

    @post("/logout", status_code=204, operation_id="logout")
    async def logout(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> Response[None]:
        """End the session, if there is one, and clear the cookie."""
        await services.auth.logout(services.session_cookie.read(request.headers.get("cookie")))
        response: Response[None] = Response(content=None, status_code=204)
        services.session_cookie.clear(response)
        return response

    @get("/me", operation_id="me", opt=UNCOMPRESSED)
    async def me(self, caller: NamedDependency[Caller]) -> AuthResponse:
        """The signed-in user."""
        if caller.user is None:
            raise NotAuthenticated
        return AuthResponse.of(caller.user)

    @get("/google/config", operation_id="googleConfig")
    async def google_config(
        self,
        services: NamedDependency[Services],
    ) -> GoogleConfigResponse:
        """Whether Google login is on, and the client id the front end needs for it."""
        client_id = services.auth.google_client_id
        return GoogleConfigResponse(enabled=client_id is not None, client_id=client_id)


def signed_in_response(
    signed_in: SignedIn, status_code: int, session_cookie: SessionCookie
) -> Response[AuthResponse]:
    """``AuthResponse`` of the signed-in user, with the session cookie set."""
    response = Response(AuthResponse.of(signed_in.user), status_code=status_code)
    session_cookie.set(response, signed_in.token)
    return response
