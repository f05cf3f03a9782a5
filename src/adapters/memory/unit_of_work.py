"""The in-memory unit of work: holds the store's lock for the whole transaction."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from adapters.memory.accounts import (
    MemoryAccountEventRepository,
    MemoryAccountTokenRepository,
    MemoryMailOutboxRepository,
)
from adapters.memory.credits import MemoryCreditRepository, MemoryFreeCreditRepository
from adapters.memory.idempotency import MemoryIdempotencyRepository
from adapters.memory.incidents import MemoryIncidentRepository
from adapters.memory.jobs import MemoryImageRepository, MemoryJobRepository
from adapters.memory.payments import MemoryPurchaseRepository
from adapters.memory.store import Journal, MemoryStore
from adapters.memory.users import MemorySessionRepository, MemoryUserRepository


class MemoryUnitOfWork:
    """All-or-nothing changes to a ``MemoryStore``.

    Entering takes the store's lock, so units of work run one at a time; leaving
    without ``commit()`` replays the journal backwards and the store is as before.
    """

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._journal = Journal()
        self.users = MemoryUserRepository(store, self._journal)
        self.sessions = MemorySessionRepository(store, self._journal)
        self.credits = MemoryCreditRepository(store, self._journal)
        self.free_credits = MemoryFreeCreditRepository(store, self._journal)
        self.jobs = MemoryJobRepository(store, self._journal)
        self.images = MemoryImageRepository(store, self._journal)
        self.incidents = MemoryIncidentRepository(store, self._journal)
        self.purchases = MemoryPurchaseRepository(store, self._journal)
        self.idempotency = MemoryIdempotencyRepository(store, self._journal)
        self.account_tokens = MemoryAccountTokenRepository(store, self._journal)
        self.outbox = MemoryMailOutboxRepository(store, self._journal)
        self.account_events = MemoryAccountEventRepository(store, self._journal)

    async def __aenter__(self) -> Self:
        await self._store.lock.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.rollback()
        finally:
            self._store.lock.release()

    async def commit(self) -> None:
        """Make the changes so far permanent."""
        self._journal.forget()

    async def rollback(self) -> None:
        """Undo the changes since the last commit."""
        self._journal.rollback()


class MemoryUnitOfWorkFactory:
    """Makes units of work over one shared store."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def __call__(self) -> MemoryUnitOfWork:
        """A fresh unit of work over the store."""
        return MemoryUnitOfWork(self.store)


class MemoryHealthProbe:
    """In-memory storage is always reachable."""

    name = "storage"

    async def check(self) -> str | None:
        return None
