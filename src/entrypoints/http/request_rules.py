"""Rules every request meets before its handler runs: no cross-site writes (see
``cross_site``), and JSON bodies are JSON, typed strictly.

Litestar converts request bodies leniently (``"1"`` becomes ``1``, ``20.0`` becomes
``20``). Here the body of a JSON endpoint is decoded again with msgspec's strict rules,
so a wrong type is a 400 naming the field, and a body sent as anything but
``application/json`` is a 415 (a browser sends ``text/plain`` cross-site without asking).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.params import BodyKwarg

from entrypoints.http.cross_site import check_cross_site, normal_origins
from entrypoints.http.errors import BadRequest

BeforeRequest = Callable[[Request[Any, Any, Any]], Awaitable[None]]

_FIELD_PATH = re.compile(r" - at `\$\.?([^`]*)`$")
_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]*)`")


class UnsupportedMediaType(HTTPException):
    status_code = 415


def json_body_type(request: Request[Any, Any, Any]) -> Any | None:
    """The declared type of the route's JSON body, or None when it takes no JSON body."""
    field = request.route_handler.parsed_data_field
    if field is None:
        return None
    kwarg = field.kwarg_definition
    if isinstance(kwarg, BodyKwarg) and kwarg.media_type is not RequestEncodingType.JSON:
        return None
    return field.annotation


def is_json_media_type(content_type: str) -> bool:
    """True for ``application/json``, with or without parameters such as a charset."""
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


async def check_json_body(request: Request[Any, Any, Any]) -> None:
    """415 for a JSON endpoint's body of another media type, 400 for a wrongly typed one."""
    body_type = json_body_type(request)
    if body_type is None:
        return
    body = await request.body()
    if not body:
        return
    if not is_json_media_type(request.headers.get("content-type", "")):
        raise UnsupportedMediaType(detail="This endpoint takes a JSON body (application/json).")
    try:
        msgspec.json.decode(body, type=body_type, strict=True)
    except msgspec.ValidationError as exc:
        raise _named_field_error(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(
            detail=f"The request body is not valid JSON: {str(exc).rstrip('.')}."
        ) from None


def _named_field_error(message: str) -> BadRequest:
    match = _FIELD_PATH.search(message) or _UNKNOWN_FIELD.search(message)
    field = match.group(1) if match else ""
    reason = _FIELD_PATH.sub("", message)
    if not field:
        return BadRequest(detail=f"The request body is invalid: {reason}.")
    detail = f"Invalid value for `{field}`: {reason}."
    if _UNKNOWN_FIELD.search(message):
        detail = f"The field `{field}` is not accepted here."
    return BadRequest(
        detail=detail,
        extra=[{"key": field, "message": reason, "source": "body"}],
    )


def request_rules(cors_origins: Collection[str]) -> BeforeRequest:
    """The app's ``before_request`` hook: every rule, before any handler work."""
    allowed = normal_origins(cors_origins)

    async def before_request(request: Request[Any, Any, Any]) -> None:
        check_cross_site(request, allowed)
        await check_json_body(request)

    return before_request
