"""``Idempotency-Key`` on the endpoints that charge or create: the first answer is kept
for 24 hours and replayed byte for byte to a retry of the same request."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from litestar import Request, Response

from entrypoints.http.dependencies import Services
from entrypoints.http.errors import BadRequest, error_body, status_of
from picpaygo_core.errors import DomainError, StorageUnavailable, Throttled
from picpaygo_core.models import Admission, Caller, StoredResponse
from picpaygo_core.services.idempotency import (
    IdempotencyService,
    Recorder,
    fingerprint,
    idempotency_scope,
)

T = TypeVar("T")

HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
_VALID_KEY = re.compile(r"[\x20-\x7e]{1,255}")
_JSON = "application/json"


def scope_of(caller: Caller) -> str:
    """Whose keys these are: a signed-in user's own, or an anonymous network's."""
    return idempotency_scope(caller.user.id if caller.user else None, caller.client_network)


def key_of(request: Request[Any, Any, Any]) -> str | None:
    """The request's ``Idempotency-Key`` (None without one); a malformed one is a 400."""
    key = request.headers.get(HEADER)
    if key is not None and not _VALID_KEY.fullmatch(key):
        raise BadRequest(detail="Idempotency-Key must be 1 to 255 printable ASCII characters.")
    return key


async def respond(
    request: Request[Any, Any, Any],
    services: Services,
    *,
    request_parts: tuple[str | bytes, ...],
    status_code: int,
    render: Callable[[T], msgspec.Struct],
    run: Callable[[Admission, Recorder[T] | None], Awaitable[T]],
) -> Response[Any]:
    """Let the request in (``AdmissionService.admit``), run the use case (``run``) for the
    admitted caller and answer with ``render``'s JSON, idempotently when the request
    carries an ``Idempotency-Key``.

    ``request_parts`` are what makes two requests the same (besides method and path): the
    same key with other parts is a 422, a retry while the first still runs a 409, and a
    finished one gets the first answer (success or refusal) again.
    """
    stored = _storing(status_code, render)
    key = key_of(request)
    request_id = fingerprint(request.method, request.url.path, *request_parts) if key else ""
    presented = services.presented_caller(request)
    admission = await services.admissions.admit(
        presented.token, presented.client_network, key=key, request=request_id
    )
    if admission.replay is not None:
        return _response(admission.replay, {REPLAYED_HEADER: "true"})
    if key is None:
        return _response(stored(await run(admission, None)))
    return await _run_claimed(
        services.idempotency,
        scope_of(admission.caller),
        key,
        stored,
        lambda recorder: run(admission, recorder),
    )


def _storing(
    status_code: int, render: Callable[[T], msgspec.Struct]
) -> Callable[[T], StoredResponse]:
    def stored(result: T) -> StoredResponse:
        return StoredResponse(status_code=status_code, body=msgspec.json.encode(render(result)))

    return stored


async def _run_claimed(
    service: IdempotencyService,
    scope: str,
    key: str,
    stored: Callable[[T], StoredResponse],
    run: Callable[[Recorder[T] | None], Awaitable[T]],
) -> Response[Any]:
    """Run the use case under a claimed key: its answer is kept with its changes; a
    refusal is kept apart; anything else, a refusal for now (``Throttled``) included,
    gives the claim up, so that a retry with the key runs afresh."""
    try:
        result = await run(service.recorder(scope, key, stored))
    except DomainError as exc:
        refusal = status_of(exc)
        if refusal >= 500 or isinstance(exc, Throttled):
            await _release(service, scope, key)
            raise
        answer = StoredResponse(
            status_code=refusal, body=msgspec.json.encode(error_body(refusal, exc.message))
        )
        with contextlib.suppress(StorageUnavailable):
            await service.answer(scope, key, answer)
        return _response(answer)
    except BaseException:
        await _release(service, scope, key)
        raise
    return _response(stored(result))


async def _release(service: IdempotencyService, scope: str, key: str) -> None:
    # Only a claim still pending goes: an answer committed with the use case stays.
    with contextlib.suppress(Exception):
        await service.release(scope, key)


def _response(answer: StoredResponse, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        content=answer.body, status_code=answer.status_code, media_type=_JSON, headers=headers
    )
