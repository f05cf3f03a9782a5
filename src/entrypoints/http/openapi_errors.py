"""Which errors each operation of the OpenAPI document can answer with, and their bodies.

Each operation documents the domain errors it raises on purpose (``ROUTE_ERRORS``,
mapped to statuses by the one error table) and those every route of its kind may
answer with (a malformed body, a cross-site request, the storage down), each with the
error body's schema and an example of what it says under that status.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from litestar.openapi.spec import (
    Example,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
)

from entrypoints.http.errors import STATUS_BY_ERROR
from picpaygo_core.errors import (
    ConfirmationFailed,
    ConfirmationMissing,
    DomainError,
    EmailAlreadyVerified,
    EmailTaken,
    GoogleLoginDisabled,
    IdempotencyKeyReused,
    ImageNotFound,
    ImageTooLarge,
    InsufficientCredits,
    InvalidAccountLink,
    InvalidCategory,
    InvalidCredentials,
    InvalidGoogleToken,
    InvalidInput,
    InvalidPack,
    InvalidPaymentEvent,
    JobNotFound,
    NotAuthenticated,
    PaymentProviderRefused,
    PaymentProviderUnavailable,
    PaymentsNotConfigured,
    PictureStoreUnavailable,
    PurchaseNotFound,
    RequestInProgress,
    StorageUnavailable,
    TooManyAttempts,
    TooManyPendingCheckouts,
    TooManyStreams,
    UnsupportedImage,
    WrongPassword,
)

ERROR_SCHEMA = "ErrorResponse"

# The domain errors each operation raises on purpose, beyond the ones every route of its
# kind may answer with (see ``_common_errors``). A new operation gets an entry here.
ROUTE_ERRORS: dict[str, tuple[type[DomainError], ...]] = {
    "register": (InvalidInput, EmailTaken, TooManyAttempts),
    "login": (InvalidCredentials, TooManyAttempts),
    "googleLogin": (InvalidGoogleToken, EmailTaken, TooManyAttempts, GoogleLoginDisabled),
    "logout": (),
    "me": (NotAuthenticated,),
    "googleConfig": (),
    "requestEmailVerification": (NotAuthenticated, EmailAlreadyVerified, TooManyAttempts),
    "verifyEmail": (InvalidAccountLink,),
    "forgotPassword": (InvalidInput, TooManyAttempts),
    "resetPassword": (InvalidAccountLink, InvalidInput),
    "changePassword": (NotAuthenticated, WrongPassword, InvalidInput, TooManyAttempts),
    "exportAccount": (NotAuthenticated, TooManyAttempts),
    "deleteAccount": (
        NotAuthenticated,
        ConfirmationMissing,
        ConfirmationFailed,
        InvalidGoogleToken,
        TooManyAttempts,
        GoogleLoginDisabled,
    ),
    "getCredits": (),
    "getPacks": (),
    "consumeCredits": (InvalidInput, InsufficientCredits, IdempotencyKeyReused, RequestInProgress),
    "checkout": (
        IdempotencyKeyReused,
        RequestInProgress,
        NotAuthenticated,
        InvalidPack,
        PaymentProviderRefused,
        PaymentProviderUnavailable,
        PaymentsNotConfigured,
        TooManyPendingCheckouts,
    ),
    "listPurchases": (NotAuthenticated,),
    "getPurchase": (NotAuthenticated, PurchaseNotFound),
    "stripeWebhook": (InvalidPaymentEvent, PaymentsNotConfigured),
    "createJob": (
        InvalidCategory,
        InsufficientCredits,
        ImageTooLarge,
        UnsupportedImage,
        IdempotencyKeyReused,
        RequestInProgress,
        PictureStoreUnavailable,
    ),
    "listJobs": (NotAuthenticated, JobNotFound),
    "getJob": (JobNotFound,),
    "followJob": (JobNotFound, TooManyStreams),
    "getJobImage": (JobNotFound, ImageNotFound),
    "health": (),
    "ready": (),
    "live": (),
    "metrics": (),
}
# The account endpoints that change state (all but the export).
ACCOUNT_CHANGES = frozenset(
    {
        "requestEmailVerification",
        "verifyEmail",
        "forgotPassword",
        "resetPassword",
        "changePassword",
        "deleteAccount",
    }
)
# Operations that change state: refused with 403 when sent cross-site (see cross_site).
UNSAFE_OPERATIONS = frozenset(
    {
        "register",
        "login",
        "googleLogin",
        "logout",
        "consumeCredits",
        "checkout",
        "createJob",
        *ACCOUNT_CHANGES,
    }
)
# Operations with a JSON body: 415 for any other media type.
JSON_BODY_OPERATIONS = frozenset(
    {
        "register",
        "login",
        "googleLogin",
        "consumeCredits",
        "checkout",
        *(ACCOUNT_CHANGES - {"requestEmailVerification"}),
    }
)
# Operations that never touch the database (so never answer 503 for it).
WITHOUT_STORAGE = frozenset({"live", "googleConfig", "metrics", "getPacks"})

GENERIC_DESCRIPTIONS = {
    400: "The request is malformed: not JSON, a wrong type, an unknown field or a bad "
    "parameter (``extra`` says which).",
    403: "The request came from another site's page (its ``Origin`` is neither this "
    "server's nor listed in ``CORS_ORIGINS``); nothing was done.",
    413: "The request body is larger than this endpoint accepts.",
    415: "The body was not sent as ``application/json``.",
    503: "A service this request needs (the database, Google, the payment provider) is "
    "unavailable; retry after ``Retry-After`` seconds.",
}

# What the generic errors say in their body (the descriptions above say when they come).
GENERIC_DETAILS = {
    400: "The request body is not valid JSON: expecting value at line 1 column 1.",
    403: "Cross-site requests from this origin are not allowed.",
    413: "The request body is larger than this endpoint accepts.",
    415: "This endpoint takes a JSON body (application/json).",
}


def error_responses(operation: Operation, operation_id: str) -> dict[int, OpenAPIResponse]:
    """Every error status ``operation`` can answer with, documented with the error body."""
    return {
        status: _error_response(status, sentences)
        for status, sentences in _error_statuses(operation, operation_id).items()
    }


def _error_statuses(operation: Operation, operation_id: str) -> dict[int, list[tuple[str, str]]]:
    """Each error status: what it means and what its body says, once each."""
    found: dict[int, list[tuple[str, str]]] = {}
    has_body = operation.request_body is not None
    for status, sentence in _error_sentences(operation_id, has_body, bool(operation.parameters)):
        if sentence not in found.setdefault(status, []):
            found[status].append(sentence)
    return dict(sorted(found.items()))


def _error_response(status: int, sentences: list[tuple[str, str]]) -> OpenAPIResponse:
    """The error body, with an example of each thing this status can say here."""
    examples = {
        f"{status}-{n}" if len(sentences) > 1 else str(status): Example(
            summary=detail, value={"status_code": status, "detail": detail}
        )
        for n, (_, detail) in enumerate(sentences, start=1)
    }
    return OpenAPIResponse(
        description=" ".join(description for description, _ in sentences),
        content={
            "application/json": OpenAPIMediaType(
                schema=Reference(ref=f"#/components/schemas/{ERROR_SCHEMA}"),
                examples=dict(examples),
            )
        },
    )


def _error_sentences(
    operation_id: str, has_body: bool, has_parameters: bool
) -> Iterator[tuple[int, tuple[str, str]]]:
    for error in _common_errors(operation_id, has_body, has_parameters):
        yield _described(error)
    for error in ROUTE_ERRORS.get(operation_id, ()):
        yield _status_of(error), (error.default_message, error.default_message)


def _common_errors(
    operation_id: str, has_body: bool, has_parameters: bool
) -> Iterable[int | type[DomainError]]:
    if has_body or has_parameters:
        yield 400
    if has_body:
        yield 413
    if operation_id in UNSAFE_OPERATIONS:
        yield 403
    if operation_id in JSON_BODY_OPERATIONS:
        yield 415
    if operation_id not in WITHOUT_STORAGE:
        yield StorageUnavailable


def _described(error: int | type[DomainError]) -> tuple[int, tuple[str, str]]:
    """The status of a common error, its generic description and what its body says."""
    if isinstance(error, int):
        return error, (GENERIC_DESCRIPTIONS[error], GENERIC_DETAILS[error])
    status = _status_of(error)
    return status, (GENERIC_DESCRIPTIONS.get(status, error.default_message), error.default_message)


def _status_of(error: type[DomainError]) -> int:
    for cls in error.__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


def add_error_schema(schemas: dict[str, Schema]) -> None:
    """The error body's schema, as a component."""
    schemas[ERROR_SCHEMA] = Schema(
        type=OpenAPIType.OBJECT,
        description="Every error's body.",
        required=["status_code", "detail"],
        properties={
            "status_code": Schema(
                type=OpenAPIType.INTEGER, description="The HTTP status code again."
            ),
            "detail": Schema(
                type=OpenAPIType.STRING,
                description="What went wrong, as a sentence a person can read (each error "
                "response has its own examples).",
            ),
            "extra": Schema(
                description="For a malformed body: which field is wrong, and why.",
            ),
        },
    )
