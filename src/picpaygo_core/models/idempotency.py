"""Idempotency keys: a request's first answer, replayed to its retries."""

from __future__ import annotations

from datetime import datetime

import msgspec


class StoredResponse(msgspec.Struct, frozen=True, kw_only=True):
    """The first answer to a request sent with an idempotency key, replayed to retries."""

    status_code: int
    body: bytes


class IdempotencyRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What is known of a (caller, key): the request's fingerprint, and its answer once
    the first request has finished (None while it is still being worked on)."""

    fingerprint: str
    response: StoredResponse | None


class KeyClaim(msgspec.Struct, frozen=True, kw_only=True):
    """An idempotency key to claim for a request (see ``IdempotencyRepository.claim``)."""

    key: str
    fingerprint: str
    now: datetime
    expires_at: datetime
    stale_before: datetime
