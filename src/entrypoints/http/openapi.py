"""The OpenAPI document, served under ``/api/docs``.

Litestar builds the document from the handlers (docstrings, typed parameters, the
documented schemas); ``complete`` then adds what Litestar cannot know: every error
status each route can answer with (from the domain errors it raises, mapped by the one
error table) with the error body's schema, the session cookie as a security scheme,
and the image endpoint's media types. The docs page is in ``docs_page``.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator

from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import (
    Components,
    Example,
    OpenAPI,
    OpenAPIFormat,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
    SecurityScheme,
)

from entrypoints.http import account_schemas
from entrypoints.http import schemas as api_schemas
from entrypoints.http.docs_page import DOCS_PATH, SwaggerPage, docs_router
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
from picpaygo_core.models import Category, JobStatus, PurchaseStatus

SESSION_SCHEME = "sessionCookie"
ERROR_SCHEMA = "ErrorResponse"
IMAGE_MEDIA_TYPES = ("image/png", "image/jpeg", "image/webp")

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
# Readiness answers its own body with 503, not the error shape.
READINESS = frozenset({"health", "ready"})
# Operations only a signed-in caller may use: the session cookie is required.
SIGNED_IN_ONLY = frozenset(
    {
        "me",
        "checkout",
        "listPurchases",
        "getPurchase",
        "listJobs",
        "requestEmailVerification",
        "changePassword",
        "exportAccount",
        "deleteAccount",
    }
)
# Operations that need no session at all: they declare no security (no lock in the docs).
# Every other operation serves anonymous callers too and reads the session if sent.
PUBLIC_OPERATIONS = frozenset(
    {
        "register",
        "login",
        "googleLogin",
        "logout",
        "googleConfig",
        "getPacks",
        "forgotPassword",
        "resetPassword",
        "verifyEmail",
        "stripeWebhook",
        "health",
        "ready",
        "live",
        "metrics",
    }
)

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


def openapi_config(session_cookie: str) -> OpenAPIConfig:
    """The document's metadata, the session cookie scheme and the offline Swagger UI."""
    return OpenAPIConfig(
        title="PicPayGo API",
        version="0.1.0",
        description=(
            "Restyle a person's photo with an AI image model, paid with credits. "
            "Anonymous clients get a few free credits per network; signed-in users buy "
            "packs. Sessions travel in an HttpOnly cookie. Every error has the body "
            '`{"status_code": int, "detail": "sentence"}`.'
        ),
        path=DOCS_PATH,
        use_handler_docstrings=True,
        components=Components(
            security_schemes={
                SESSION_SCHEME: SecurityScheme(
                    type="apiKey",
                    name=session_cookie,
                    security_scheme_in="cookie",
                    description="The session cookie set by register, login and Google login.",
                )
            }
        ),
        render_plugins=[SwaggerPage()],
        openapi_router=docs_router(),
    )


def complete(document: OpenAPI) -> None:
    """Add the error responses, security and media types to Litestar's ``document``."""
    components = document.components
    if isinstance(components, list):  # pragma: no cover - Litestar builds one Components
        return
    schemas = components.schemas if components.schemas is not None else {}
    _describe_components(schemas)
    _add_error_schema(schemas)
    components.schemas = schemas
    for operation in _operations(document):
        operation_id = operation.operation_id or ""
        responses = operation.responses if operation.responses is not None else {}
        for status, sentences in _error_statuses(operation, operation_id).items():
            if operation_id in READINESS and status == 503:
                continue
            responses[str(status)] = _error_response(status, sentences)
        no_content = responses.get("204")
        if isinstance(no_content, OpenAPIResponse):
            no_content.content = None  # a 204 has no body to describe
        if operation_id in READINESS:
            _add_readiness_503(responses)
        if operation_id == "exportAccount":
            responses["200"] = OpenAPIResponse(
                description="A zip: account.json and pictures/<jobId>.<ext>.",
                content={
                    "application/zip": OpenAPIMediaType(
                        schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
                    )
                },
            )
        if operation_id == "getJobImage":
            responses["200"] = OpenAPIResponse(
                description="The generated picture, in the format the model made.",
                content={
                    media: OpenAPIMediaType(
                        schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
                    )
                    for media in IMAGE_MEDIA_TYPES
                },
            )
            responses["307"] = OpenAPIResponse(
                description="With an object store (``PICTURE_STORE``): the picture is fetched "
                "from the store itself, at the presigned URL in ``Location``, valid for "
                "``PICTURE_URL_TTL_SECONDS``.",
                headers={
                    "Location": OpenAPIHeader(
                        schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.URI),
                        description="The presigned GET URL of the picture.",
                    )
                },
            )
        if operation_id == "followJob":
            responses["200"] = _event_stream_response()
        operation.responses = responses
        operation.security = _security(operation_id)


def _security(operation_id: str) -> list[dict[str, list[str]]] | None:
    """Required for signed-in operations, none for public ones, else optional."""
    if operation_id in SIGNED_IN_ONLY:
        return [{SESSION_SCHEME: []}]
    if operation_id in PUBLIC_OPERATIONS:
        return None
    return [{}, {SESSION_SCHEME: []}]


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


def _describe_components(schemas: dict[str, Schema]) -> None:
    """Give each component the docstring of the class it was made from."""
    classes = {
        **{
            name: cls
            for module in (api_schemas, account_schemas)
            for name, cls in vars(module).items()
            if isinstance(cls, type)
        },
        "Category": Category,
        "JobStatus": JobStatus,
        "PurchaseStatus": PurchaseStatus,
    }
    for name, schema in schemas.items():
        cls = classes.get(name)
        if schema.description is None and cls is not None and cls.__doc__:
            schema.description = inspect.cleandoc(cls.__doc__).split("\n\n")[0]


def _add_error_schema(schemas: dict[str, Schema]) -> None:
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


def _event_stream_response() -> OpenAPIResponse:
    return OpenAPIResponse(
        description=(
            "A stream of Server-Sent Events: `event: status`, an `id`, and `data:` the "
            "job's `JobStatusResponse` as JSON, first its state now, then one per change; "
            "a comment line (`: keep-alive`) every 15 s while nothing changes. The stream "
            "ends after `succeeded` or `failed`."
        ),
        content={
            "text/event-stream": OpenAPIMediaType(
                schema=Schema(
                    type=OpenAPIType.STRING,
                    examples=[
                        "event: status\nid: 1768469400000-queued\n"
                        'data: {"jobId": "0b3f5c4e-8d2a-4f6b-9c1e-2a7d9e4b1c3f", '
                        '"status": "queued", ...}\n\n'
                    ],
                )
            )
        },
    )


def _add_readiness_503(responses: dict[str, OpenAPIResponse | Reference]) -> None:
    ok = responses.get("200")
    content = ok.content if isinstance(ok, OpenAPIResponse) else None
    responses["503"] = OpenAPIResponse(
        description="The database is unreachable: the checks say what is wrong.",
        content=content,
    )


def _operations(document: OpenAPI) -> Iterator[Operation]:
    for path_item in (document.paths or {}).values():
        for method in ("get", "put", "post", "delete", "options", "head", "patch", "trace"):
            operation = getattr(path_item, method, None)
            if isinstance(operation, Operation):
                yield operation
