"""PostgreSQL idempotency records, one row per (caller scope, key)."""

from __future__ import annotations

from datetime import datetime

import msgspec

from adapters.postgres.database import Row
from adapters.postgres.rows import PostgresRepository
from picpaygo_core.models import IdempotencyRecord, KeyClaim, StoredResponse

# Claiming an idempotency key takes over a record only once it expired, or while it is
# pending and stale (its request died); otherwise the claim changes nothing.
KEY_CLAIM_CONFLICT = """
ON CONFLICT (caller, key) DO UPDATE SET
    fingerprint = EXCLUDED.fingerprint, status_code = NULL, body = NULL,
    created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
WHERE i.expires_at <= %(now)s
   OR (i.status_code IS NULL AND i.created_at <= %(stale_before)s)
RETURNING 1
"""
KEY_CLAIM_SQL = f"""
INSERT INTO idempotency_keys AS i
    (caller, key, fingerprint, status_code, body, created_at, expires_at)
VALUES (%(scope)s, %(key)s, %(fingerprint)s, NULL, NULL, %(now)s, %(expires_at)s)
{KEY_CLAIM_CONFLICT}""".encode()


class PostgresIdempotencyRepository(PostgresRepository):
    """Idempotency records, one row per (caller scope, key)."""

    async def claim(self, scope: str, claim: KeyClaim) -> IdempotencyRecord | None:
        """One upsert: a new key, an expired record or a stale pending one is claimed;
        a racing claim waits for the row lock and then sees the winner's record."""
        claimed = await self._db.fetch_one(
            KEY_CLAIM_SQL, msgspec.structs.asdict(claim) | {"scope": scope}, changes=True
        )
        if claimed is not None:
            return None
        return await self.stored(scope, claim.key, claim.fingerprint)

    async def stored(self, scope: str, key: str, fingerprint: str) -> IdempotencyRecord:
        """The record of (scope, key) that a claim for ``fingerprint`` did not take over."""
        row = await self._db.fetch_one(
            b"SELECT fingerprint, status_code, body FROM idempotency_keys "
            b"WHERE caller = %s AND key = %s",
            (scope, key),
        )
        if row is None:  # released in the meantime: the caller may simply retry
            return IdempotencyRecord(fingerprint=fingerprint, response=None)
        return idempotency_record(row)

    async def complete(self, scope: str, key: str, response: StoredResponse) -> None:
        """Travels with the unit of work's next round trip (its ``COMMIT``, usually)."""
        await self._db.execute(
            b"UPDATE idempotency_keys SET status_code = %s, body = %s "
            b"WHERE caller = %s AND key = %s",
            (response.status_code, response.body, scope, key),
        )

    async def release(self, scope: str, key: str) -> None:
        await self._db.execute(
            b"DELETE FROM idempotency_keys WHERE caller = %s AND key = %s AND status_code IS NULL",
            (scope, key),
        )

    async def purge_expired(self, now: datetime) -> int:
        return await self._delete(b"DELETE FROM idempotency_keys WHERE expires_at <= %s", (now,))

    async def delete_scope(self, scope: str) -> int:
        return await self._delete(b"DELETE FROM idempotency_keys WHERE caller = %s", (scope,))


def idempotency_record(row: Row) -> IdempotencyRecord:
    """The record in the columns ``fingerprint``, ``status_code`` and ``body`` of ``row``."""
    response = None
    if row["status_code"] is not None:
        response = StoredResponse(status_code=row["status_code"], body=bytes(row["body"] or b""))
    return IdempotencyRecord(fingerprint=row["fingerprint"], response=response)
