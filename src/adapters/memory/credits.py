"""In-memory paid balances, their ledger, and the free credits of networks."""

from __future__ import annotations

from uuid import UUID

from adapters.memory.store import MemoryRepository
from picpaygo_core.errors import BalanceLimitExceeded, DuplicateLedgerEntry, InsufficientCredits
from picpaygo_core.models import Charge, LedgerEntry, Spending, free_first
from picpaygo_core.validation import MAX_BALANCE


class MemoryCreditRepository(MemoryRepository):
    """Paid balances and the append-only ledger that explains them."""

    async def balance(self, user_id: UUID, *, for_update: bool = False) -> int:
        # Units of work run one at a time here (the store's lock): every read is held.
        return self._store.balances.get(user_id, 0)

    async def record(self, entry: LedgerEntry) -> int:
        """Apply ``entry``; refuses overdrafts and repeated idempotency keys."""
        if entry.idempotency_key and entry.idempotency_key in self._store.ledger_keys:
            raise DuplicateLedgerEntry
        new_balance = self._store.balances.get(entry.user_id, 0) + entry.amount
        if new_balance < 0:
            raise InsufficientCredits
        if new_balance > MAX_BALANCE:
            raise BalanceLimitExceeded
        self._journal.put(self._store.balances, entry.user_id, new_balance)
        if entry.user_id not in self._store.ledger:
            self._journal.put(self._store.ledger, entry.user_id, [])
        self._journal.append(self._store.ledger[entry.user_id], entry)
        if entry.idempotency_key:
            self._journal.add(self._store.ledger_keys, entry.idempotency_key)
        return new_balance

    async def history(self, user_id: UUID, limit: int) -> list[LedgerEntry]:
        entries = self._store.ledger.get(user_id, [])
        return list(reversed(entries[-limit:])) if limit > 0 else []

    async def spend(self, spending: Spending) -> Charge:
        """Free credits first (``free_first``), then paid ones; checked in full before
        anything changes."""
        left = self._store.free_credits.get(spending.client_network, spending.initial_free)
        user_id = spending.user_id
        balance = self._store.balances.get(user_id, 0) if user_id else None
        free, paid = free_first(spending.amount, free_left=left, balance=balance)
        if paid and user_id is not None:
            balance = await self.record(spending.paid_entry(user_id, paid))
        if free:
            self._journal.put(self._store.free_credits, spending.client_network, left - free)
        return Charge(free=free, paid=paid, free_left=left - free, balance=balance or 0)


class MemoryFreeCreditRepository(MemoryRepository):
    """Free credits left per client network; a network never seen has the initial amount."""

    async def remaining(self, client_network: str, initial: int) -> int:
        return self._store.free_credits.get(client_network, initial)

    async def take(self, client_network: str, amount: int, initial: int) -> int:
        left = self._store.free_credits.get(client_network, initial)
        taken = min(left, amount)
        if taken > 0:
            self._journal.put(self._store.free_credits, client_network, left - taken)
        return taken

    async def give_back(self, client_network: str, amount: int, initial: int) -> None:
        left = self._store.free_credits.get(client_network, initial)
        self._journal.put(self._store.free_credits, client_network, left + amount)
