"""``/api/auth`` for accounts people keep: verify the email, reset or change a password."""

from __future__ import annotations

from litestar import Controller, Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from entrypoints.http.account_schemas import (
    ChangePasswordRequest,
    ForgotPasswordRequest,
    ResetPasswordRequest,
    SentResponse,
    VerifyEmailRequest,
)
from entrypoints.http.controllers.auth import signed_in_response
from entrypoints.http.dependencies import Services
from entrypoints.http.schemas import AuthResponse
from picpaygo_core.errors import NotAuthenticated
from picpaygo_core.models import Caller


class RecoveryController(Controller):
    path = "/api/auth"
    tags = ["auth"]  # noqa: RUF012 - Litestar reads this class attribute

    @post("/email/verification", status_code=202, operation_id="requestEmailVerification")
    async def request_verification(
        self, caller: NamedDependency[Caller], services: NamedDependency[Services]
    ) -> SentResponse:
        """Mail a new verification link to the signed-in account's email (at most one a
        minute and five a day)."""
        if caller.user is None:
            raise NotAuthenticated
        await services.recovery.request_verification(caller.user)
        return SentResponse(sent=True)

    @post("/email/verify", status_code=200, operation_id="verifyEmail")
    async def verify(
        self, data: JSONBody[VerifyEmailRequest], services: NamedDependency[Services]
    ) -> AuthResponse:
        """Confirm the email with the token of a mailed verification link (works once)."""
        return AuthResponse.of(await services.recovery.verify_email(data.token))

    @post("/password/forgot", status_code=202, operation_id="forgotPassword")
    async def forgot(
        self,
        data: JSONBody[ForgotPasswordRequest],
        services: NamedDependency[Services],
        client_ip: NamedDependency[str],
    ) -> SentResponse:
        """Mail a password-reset link if an account has this email.

        The answer is the same, after the same work, whether or not one has.
        """
        await services.recovery.forgot_password(email=data.email, client_ip=client_ip)
        return SentResponse(sent=True)

    @post("/password/reset", status_code=200, operation_id="resetPassword")
    async def reset(
        self,
        data: JSONBody[ResetPasswordRequest],
        services: NamedDependency[Services],
        client_ip: NamedDependency[str],
    ) -> Response[AuthResponse]:
        """Set a new password with the token of a mailed reset link, and sign in.

        Every other session of the account and every other reset link is revoked; the
        email counts as verified.
        """
        signed_in = await services.recovery.reset_password(
            token=data.token, password=data.password, client_ip=client_ip
        )
        return signed_in_response(signed_in, 200, services.session_cookie)

    @post("/password", status_code=200, operation_id="changePassword")
    async def change(
        self,
        data: JSONBody[ChangePasswordRequest],
        caller: NamedDependency[Caller],
        services: NamedDependency[Services],
        client_ip: NamedDependency[str],
    ) -> Response[AuthResponse]:
        """Change the signed-in account's password: every other session ends, and this
        one is replaced (a new cookie)."""
        if caller.user is None:
            raise NotAuthenticated
        signed_in = await services.recovery.change_password(
            user=caller.user,
            current_password=data.current_password,
            new_password=data.new_password,
            client_ip=client_ip,
        )
        return signed_in_response(signed_in, 200, services.session_cookie)
