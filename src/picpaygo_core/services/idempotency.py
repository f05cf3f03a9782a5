"""Idempotent requests: a retry with the same key gets the first answer, never a second charge.

The first request of a (caller, key) claims it in a transaction of its own, so a retry
that arrives meanwhile is told to wait (``RequestInProgress``). The answer is stored by
the use case *inside its own transaction* (see ``Recorder``): if that transaction
committed, the answer is there for every retry, even when the client never saw it (a
commit that timed out); if it did not, the claim is released and a retry runs afresh.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar
from uuid import UUID

from picpaygo_core.errors import IdempotencyKeyReused, RequestInProgress
from picpaygo_core.models import IdempotencyRecord, KeyClaim, StoredResponse
from picpaygo_core.ports import Clock, UnitOfWork, UnitOfWorkFactory

T = TypeVar("T")
Recorder = Callable[[UnitOfWork, T], Awaitable[None]]

KEPT_FOR = timedelta(hours=24)
# A claim still pending after this long belongs to a request that died: take it over.
STALE_AFTER = timedelta(minutes=2)


def fingerprint(*parts: str | bytes) -> str:
    """A digest of what makes two requests the same request."""
    digest = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else part.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def idempotency_scope(user_id: UUID | None, client_network: str) -> str:
    """Whose keys these are: a signed-in user's own, or an anonymous network's."""
    return f"user:{user_id}" if user_id is not None else f"network:{client_network}"


def key_claim(key: str, request: str, now: datetime) -> KeyClaim:
    """The claim of ``key`` for ``request`` (a ``fingerprint``) made at ``now``."""
    return KeyClaim(
        key=key,
        fingerprint=request,
        now=now,
        expires_at=now + KEPT_FOR,
        stale_before=now - STALE_AFTER,
    )


def claim_outcome(record: IdempotencyRecord | None, request: str) -> StoredResponse | None:
    """What a claim's result means for ``request``: None to go ahead, or the answer to
    replay; ``IdempotencyKeyReused`` or ``RequestInProgress`` otherwise."""
    if record is None:
        return None
    if record.fingerprint != request:
        raise IdempotencyKeyReused
    if record.response is None:
        raise RequestInProgress
    return record.response


class IdempotencyService:
    """Claims, answers and releases idempotency keys."""

    def __init__(self, *, uow_factory: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._clock = clock

    def recorder(self, scope: str, key: str, render: Callable[[T], StoredResponse]) -> Recorder[T]:
        """What a use case calls inside its transaction to keep its answer with its changes."""

        async def record(uow: UnitOfWork, result: T) -> None:
            await uow.idempotency.complete(scope, key, render(result))

        return record

    async def answer(self, scope: str, key: str, response: StoredResponse) -> None:
        """Keep an answer given outside any use case's transaction (a refusal)."""
        async with self._uow_factory() as uow:
            await uow.idempotency.complete(scope, key, response)
            await uow.commit()

    async def release(self, scope: str, key: str) -> None:
        """Give up a claim whose request ended without an answer worth keeping."""
        async with self._uow_factory() as uow:
            await uow.idempotency.release(scope, key)
            await uow.commit()

    async def purge_expired(self) -> int:
        """Delete expired records (a periodic chore); returns how many went."""
        async with self._uow_factory() as uow:
            purged = await uow.idempotency.purge_expired(self._clock.now())
            await uow.commit()
        return purged
