"""What a route declares about itself in its ``opt``, read by the app's shared parts."""

from __future__ import annotations

from typing import Any

from litestar import Request

# A route that charges or creates: it takes an ``Idempotency-Key`` (answered through
# ``idempotency.respond``), and after a 503 without a key a retry is not invited.
IDEMPOTENT: dict[str, Any] = {"idempotent": True}

# A route whose answers are never compressed: already compressed (pictures), streamed
# event by event (compression would hold events back until a buffer fills), or the
# short answers of the busiest routes (a user, a balance: a few hundred bytes, under the
# app's 1 KB threshold, so compressing them would only cost each request the check).
UNCOMPRESSED_OPT = "uncompressed"
UNCOMPRESSED: dict[str, Any] = {UNCOMPRESSED_OPT: True}


def is_idempotent(request: Request[Any, Any, Any]) -> bool:
    """Whether the request's route was declared with ``IDEMPOTENT``."""
    handler = request.scope.get("route_handler")
    return handler is not None and bool(handler.opt.get("idempotent"))
