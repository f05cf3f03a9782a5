"""What a route declares about itself in its ``opt``, read by the app's shared parts."""

from __future__ import annotations

from typing import Any

from litestar import Request

# A route that charges or creates: it takes an ``Idempotency-Key`` (answered through
# ``idempotency.respond``), and after a 503 without a key a retry is not invited.
IDEMPOTENT: dict[str, Any] = {"idempotent": True}


def is_idempotent(request: Request[Any, Any, Any]) -> bool:
    """Whether the request's route was declared with ``IDEMPOTENT``."""
    handler = request.scope.get("route_handler")
    return handler is not None and bool(handler.opt.get("idempotent"))
