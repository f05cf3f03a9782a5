"""The OpenAPI document, served under ``/api/docs``.

Litestar builds the document from the handlers (docstrings, typed parameters, the
documented schemas); ``complete`` then adds what Litestar cannot know: every error
status each route can answer with (``openapi_errors``), the session cookie as a security
scheme where a session is used, and the media types of the picture, the export and the
event stream. The docs page is in ``docs_page``.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import (
    Components,
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
from entrypoints.http.openapi_errors import add_error_schema, error_responses
from picpaygo_core.models import Category, JobStatus, PurchaseStatus

SESSION_SCHEME = "sessionCookie"
IMAGE_MEDIA_TYPES = ("image/png", "image/jpeg", "image/webp")

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
    add_error_schema(schemas)
    components.schemas = schemas
    for operation in _operations(document):
        operation_id = operation.operation_id or ""
        responses = operation.responses if operation.responses is not None else {}
        for status, response in error_responses(operation, operation_id).items():
            if operation_id in READINESS and status == 503:
                continue
            responses[str(status)] = response
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
