"""The one place where domain errors become HTTP status codes.

Every error body has Litestar's default shape: ``{"status_code": int, "detail": str}``.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from litestar import Request, Response
from litestar.exceptions import ClientException, HTTPException
from litestar.types import ExceptionHandlersMap

from entrypoints.http.route_options import is_idempotent
from picpaygo_core.errors import (
    ConfirmationFailed,
    ConfirmationMissing,
    DomainError,
    DuplicateLedgerEntry,
    EmailAlreadyVerified,
    EmailTaken,
    GoogleLoginDisabled,
    GoogleUnavailable,
    ImageNotFound,
    ImageTooLarge,
    InsufficientCredits,
    InvalidAccountLink,
    InvalidCredentials,
    InvalidGoogleToken,
    InvalidInput,
    InvalidPaymentEvent,
    JobNotFound,
    NotAuthenticated,
    PaymentProviderRefused,
    PaymentProviderUnavailable,
    PaymentsNotConfigured,
    PictureMissing,
    PictureStoreUnavailable,
    PurchaseNotFound,
    RequestInProgress,
    StorageUnavailable,
    Throttled,
    TooManyAttempts,
    TooManyStreams,
    UnsupportedImage,
    UserNotFound,
)
from picpaygo_core.ports.telemetry import Telemetry

logger = logging.getLogger(__name__)

# Where the app keeps the telemetry the error handlers report to.
TELEMETRY_STATE = "telemetry"

# Litestar's words when the client hangs up while the request body is being read.
CLIENT_DISCONNECTED = "client disconnected prematurely"


class BadRequest(ClientException):
    """A 400 raised by this app, its detail a sentence for the client, shown as it is
    (Litestar's own 400s are decoder messages, made into sentences here)."""


STATUS_BY_ERROR: dict[type[DomainError], int] = {
    InvalidInput: 422,
    EmailTaken: 409,
    InvalidCredentials: 401,
    NotAuthenticated: 401,
    InvalidGoogleToken: 401,
    GoogleLoginDisabled: 503,
    GoogleUnavailable: 503,
    InsufficientCredits: 402,
    PaymentsNotConfigured: 503,
    PaymentProviderRefused: 502,
    PaymentProviderUnavailable: 503,
    InvalidPaymentEvent: 400,
    PurchaseNotFound: 404,
    JobNotFound: 404,
    ImageNotFound: 404,
    UserNotFound: 404,
    ImageTooLarge: 413,
    UnsupportedImage: 415,
    DuplicateLedgerEntry: 409,
    StorageUnavailable: 503,
    PictureStoreUnavailable: 503,
    PictureMissing: 404,
    Throttled: 429,
    TooManyStreams: 429,
    RequestInProgress: 409,
    InvalidAccountLink: 400,
    EmailAlreadyVerified: 409,
    ConfirmationMissing: 400,
    ConfirmationFailed: 401,
}


def status_of(error: DomainError) -> int:
    """The status code for ``error``: its own class's, or its nearest ancestor's."""
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


def error_body(status_code: int, detail: str) -> dict[str, object]:
    """The JSON body of every error response."""
    return {"status_code": status_code, "detail": detail}


def domain_error_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[object]:
    _observe_sign_in(request, exc)
    status_code = status_of(exc)
    headers = None
    if isinstance(exc, Throttled):
        headers = {"Retry-After": str(max(math.ceil(exc.retry_after), 1))}
    elif isinstance(exc, RequestInProgress):
        headers = {"Retry-After": "1"}
    elif status_code == 503 and retry_is_safe(request):
        headers = {"Retry-After": "5"}
    return Response(error_body(status_code, exc.message), status_code=status_code, headers=headers)


def retry_is_safe(request: Request[Any, Any, Any]) -> bool:
    """Whether a 503 may invite a retry (``Retry-After``): not for a request that charges
    or creates (its route is declared idempotent) without an ``Idempotency-Key``: after a
    503 its change may have been committed anyway, and a plain retry could charge twice."""
    return not is_idempotent(request) or "idempotency-key" in request.headers


def _observe_sign_in(request: Request[Any, Any, Any], exc: DomainError) -> None:
    """Tell the telemetry about refused and throttled sign-ins."""
    telemetry: Telemetry | None = request.app.state.get(TELEMETRY_STATE)
    if telemetry is None:
        return
    if isinstance(exc, TooManyAttempts):
        telemetry.sign_in_throttled()
    elif isinstance(exc, InvalidCredentials | ConfirmationFailed):
        telemetry.sign_in_failed("password")
    elif isinstance(exc, InvalidGoogleToken):
        telemetry.sign_in_failed("google")


def bad_encoding_handler(_: Request[Any, Any, Any], exc: UnicodeDecodeError) -> Response[object]:
    """Client text that is not valid UTF-8 (Litestar's form parser lets this through)."""
    return Response(
        error_body(400, "The request contains text that is not valid UTF-8."), status_code=400
    )


def unreadable_body_handler(
    request: Request[Any, Any, Any], exc: RecursionError | LookupError
) -> Response[object]:
    """Bodies Litestar's decoders choke on: absurdly deep JSON, an unknown form charset."""
    if isinstance(exc, RecursionError):
        return Response(error_body(400, "The request body is nested too deeply."), status_code=400)
    if str(exc).startswith("unknown encoding"):
        return Response(
            error_body(400, "The request names a character set this server does not know."),
            status_code=400,
        )
    return unexpected_error_handler(request, exc)


def unexpected_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[object]:
    """Last resort: log the bug with its traceback, answer without one."""
    if isinstance(exc, HTTPException):
        status_code = exc.status_code
        if exc.detail == CLIENT_DISCONNECTED:
            # The access line says so at INFO; there is no one left to answer.
            return Response(error_body(400, "The client disconnected."), status_code=400)
        if status_code >= 500:
            logger.error("%s on %s %s", exc, request.method, request.url.path, exc_info=exc)
        body = error_body(status_code, _readable_detail(exc))
        if isinstance(exc.extra, dict | list) and exc.extra:
            body["extra"] = exc.extra
        return Response(body, status_code=status_code, headers=exc.headers)
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return Response(error_body(500, "Something went wrong on our side."), status_code=500)


def _readable_detail(exc: HTTPException) -> str:
    """Litestar's own details, made into sentences where they are terse decoder messages."""
    if exc.status_code == 413:
        return "The request body is larger than this endpoint accepts."
    if isinstance(exc, BadRequest):
        return exc.detail
    if exc.status_code == 400 and not exc.extra and not exc.detail.startswith("Validation failed"):
        return f"The request body could not be read: {exc.detail.rstrip('.')}."
    return exc.detail


def exception_handlers() -> ExceptionHandlersMap:
    """The handlers to install on the app."""
    return {
        DomainError: domain_error_handler,
        UnicodeDecodeError: bad_encoding_handler,
        RecursionError: unreadable_body_handler,
        LookupError: unreadable_body_handler,
        Exception: unexpected_error_handler,
    }
