"""In-memory idempotency records."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import msgspec

from adapters.memory.store import IdempotencyEntry, MemoryRepository
from picpaygo_core.models import IdempotencyRecord, KeyClaim, StoredResponse


class MemoryIdempotencyRepository(MemoryRepository):
    """Idempotency records by (scope, key)."""

    async def claim(self, scope: str, claim: KeyClaim) -> IdempotencyRecord | None:
        entry = self._store.idempotency.get((scope, claim.key))
        if entry is not None:
            pending_and_stale = (
                entry.record.response is None and entry.created_at <= claim.stale_before
            )
            if entry.expires_at > claim.now and not pending_and_stale:
                return entry.record
        pending = IdempotencyRecord(fingerprint=claim.fingerprint, response=None)
        self._journal.put(
            self._store.idempotency,
            (scope, claim.key),
            IdempotencyEntry(record=pending, created_at=claim.now, expires_at=claim.expires_at),
        )
        return None

    async def complete(self, scope: str, key: str, response: StoredResponse) -> None:
        entry = self._store.idempotency.get((scope, key))
        if entry is not None:
            record = msgspec.structs.replace(entry.record, response=response)
            self._journal.put(
                self._store.idempotency, (scope, key), dataclasses.replace(entry, record=record)
            )

    async def release(self, scope: str, key: str) -> None:
        entry = self._store.idempotency.get((scope, key))
        if entry is not None and entry.record.response is None:
            self._journal.pop(self._store.idempotency, (scope, key))

    async def purge_expired(self, now: datetime) -> int:
        expired = [k for k, e in self._store.idempotency.items() if e.expires_at <= now]
        for k in expired:
            self._journal.pop(self._store.idempotency, k)
        return len(expired)

    async def delete_scope(self, scope: str) -> int:
        theirs = [k for k in self._store.idempotency if k[0] == scope]
        for k in theirs:
            self._journal.pop(self._store.idempotency, k)
        return len(theirs)
