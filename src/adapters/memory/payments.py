"""In-memory purchases of credit packs and the reversals of their payments."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from adapters.memory.store import MemoryRepository
from picpaygo_core.models import PaymentReversal, PendingCheckouts, Purchase, PurchaseStatus


class MemoryPurchaseRepository(MemoryRepository):
    """Purchases in creation order, indexed by their payment; reversals by payment."""

    async def add(self, purchase: Purchase) -> None:
        self._journal.put(self._store.purchases, purchase.id, purchase)
        self._index(purchase)

    async def update(self, purchase: Purchase) -> None:
        self._journal.put(self._store.purchases, purchase.id, purchase)
        self._index(purchase)

    async def find(self, purchase_id: UUID) -> Purchase | None:
        return self._store.purchases.get(purchase_id)

    async def find_for_update(self, purchase_id: UUID) -> Purchase | None:
        """The store's lock already keeps every other unit of work out."""
        return self._store.purchases.get(purchase_id)

    async def find_by_payment_for_update(self, payment_intent_id: str) -> Purchase | None:
        purchase_id = self._store.purchase_ids_by_payment.get(payment_intent_id)
        return self._store.purchases.get(purchase_id) if purchase_id else None

    async def list_recent(self, user_id: UUID | None, limit: int) -> list[Purchase]:
        found: list[Purchase] = []
        for purchase in reversed(self._store.purchases.values()):
            if len(found) >= limit:
                break
            if user_id is None or purchase.user_id == user_id:
                found.append(purchase)
        return found

    async def pending_checkouts(self, user_id: UUID, since: datetime) -> PendingCheckouts:
        """The store's lock already serialises every unit of work."""
        started = [
            purchase.created_at
            for purchase in self._store.purchases.values()
            if purchase.user_id == user_id
            and purchase.status is PurchaseStatus.PENDING
            and purchase.created_at > since
        ]
        return PendingCheckouts(count=len(started), oldest_created_at=min(started, default=None))

    async def lock_payment(self, payment_intent_id: str) -> None:
        """The store's lock already serialises every unit of work."""

    async def add_reversal(self, reversal: PaymentReversal) -> bool:
        if reversal.payment_intent_id in self._store.payment_reversals:
            return False
        self._journal.put(self._store.payment_reversals, reversal.payment_intent_id, reversal)
        return True

    async def find_reversal(self, payment_intent_id: str) -> PaymentReversal | None:
        return self._store.payment_reversals.get(payment_intent_id)

    def _index(self, purchase: Purchase) -> None:
        if purchase.payment_intent_id:
            self._journal.put(
                self._store.purchase_ids_by_payment, purchase.payment_intent_id, purchase.id
            )
