"""PostgreSQL purchases of credit packs and the reversals of their payments."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from adapters.postgres.rows import PostgresRepository
from picpaygo_core.models import PaymentReversal, PendingCheckouts, Purchase

PURCHASE_COLUMNS = (
    "id, user_id, pack, amount, currency, status, created_at, updated_at, "
    "checkout_session_id, payment_intent_id"
)

_ADVISORY_LOCK = b"SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"


class PostgresPurchaseRepository(PostgresRepository):
    """Purchases (newest first by insertion order) and the reversals of their payments."""

    async def add(self, purchase: Purchase) -> None:
        await self._db.execute(
            f"""
            INSERT INTO purchases ({PURCHASE_COLUMNS})
            VALUES (%(id)s, %(user_id)s, %(pack)s, %(amount)s, %(currency)s, %(status)s,
                    %(created_at)s, %(updated_at)s, %(checkout_session_id)s,
                    %(payment_intent_id)s)
            """.encode(),
            _purchase_params(purchase),
        )

    async def update(self, purchase: Purchase) -> None:
        await self._db.execute(
            b"""
            UPDATE purchases SET status = %(status)s, updated_at = %(updated_at)s,
                checkout_session_id = %(checkout_session_id)s,
                payment_intent_id = %(payment_intent_id)s
            WHERE id = %(id)s
            """,
            _purchase_params(purchase),
        )

    async def find(self, purchase_id: UUID) -> Purchase | None:
        return await self._one(
            Purchase, f"SELECT {PURCHASE_COLUMNS} FROM purchases WHERE id = %s", (purchase_id,)
        )

    async def find_for_update(self, purchase_id: UUID) -> Purchase | None:
        return await self._one(
            Purchase,
            f"SELECT {PURCHASE_COLUMNS} FROM purchases WHERE id = %s FOR UPDATE",
            (purchase_id,),
            changes=True,
        )

    async def find_by_payment_for_update(self, payment_intent_id: str) -> Purchase | None:
        return await self._one(
            Purchase,
            f"SELECT {PURCHASE_COLUMNS} FROM purchases WHERE payment_intent_id = %s FOR UPDATE",
            (payment_intent_id,),
            changes=True,
        )

    async def list_recent(self, user_id: UUID | None, limit: int) -> list[Purchase]:
        if limit <= 0:
            return []
        if user_id is None:
            return await self._all(
                Purchase,
                f"SELECT {PURCHASE_COLUMNS} FROM purchases ORDER BY seq DESC LIMIT %s",
                (limit,),
            )
        return await self._all(
            Purchase,
            f"SELECT {PURCHASE_COLUMNS} FROM purchases WHERE user_id = %s "
            "ORDER BY seq DESC LIMIT %s",
            (user_id, limit),
        )

    async def pending_checkouts(self, user_id: UUID, since: datetime) -> PendingCheckouts:
        """A transaction-level advisory lock on the user's checkouts (released at commit),
        then the count, as its own statement: under Read Committed it sees every purchase
        committed while this one waited for the lock. Both travel in one round trip."""
        await self._lock(f"checkouts:{user_id}")
        row = await self._db.fetch_one(
            b"""
            SELECT count(*) AS count, min(created_at) AS oldest_created_at
            FROM purchases
            WHERE user_id = %s AND status = 'pending' AND created_at > %s
            """,
            (user_id, since),
            changes=True,
        )
        if row is None:  # an aggregate always has its row; this is for the type checker
            return PendingCheckouts(count=0)
        return PendingCheckouts(count=int(row["count"]), oldest_created_at=row["oldest_created_at"])

    async def lock_payment(self, payment_intent_id: str) -> None:
        """A transaction-level advisory lock on the payment's id (released at commit),
        taken before the unit's next statement runs (it travels with it)."""
        await self._lock(f"payment:{payment_intent_id}")

    async def _lock(self, name: str) -> None:
        """A transaction-level advisory lock on ``name``, sent with the next round trip."""
        await self._db.execute(_ADVISORY_LOCK, (name,))

    async def add_reversal(self, reversal: PaymentReversal) -> bool:
        row = await self._db.fetch_one(
            b"""
            INSERT INTO payment_reversals (payment_intent_id, kind, reference, created_at)
            VALUES (%(payment_intent_id)s, %(kind)s, %(reference)s, %(created_at)s)
            ON CONFLICT (payment_intent_id) DO NOTHING
            RETURNING payment_intent_id
            """,
            msgspec.structs.asdict(reversal),
            changes=True,
        )
        return row is not None

    async def find_reversal(self, payment_intent_id: str) -> PaymentReversal | None:
        return await self._one(
            PaymentReversal,
            "SELECT payment_intent_id, kind, reference, created_at FROM payment_reversals "
            "WHERE payment_intent_id = %s",
            (payment_intent_id,),
        )


def _purchase_params(purchase: Purchase) -> dict[str, Any]:
    params = msgspec.structs.asdict(purchase)
    params["status"] = str(params["status"])
    return params
