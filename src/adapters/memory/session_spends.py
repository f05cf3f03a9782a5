"""Spends for whoever holds a session, over the in-memory store."""

from __future__ import annotations

from adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from picpaygo_core.models import SessionCharge, Spending


class MemorySessionSpends:
    """``SessionSpends``: each spend is a unit of work of its own."""

    def __init__(self, uow_factory: MemoryUnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def spend_for_session(self, token_hash: str | None, spending: Spending) -> SessionCharge:
        """As ``CreditRepository.spend_for_session``, committed when it returns."""
        async with self._uow_factory(single_change=True) as uow:
            spent = await uow.credits.spend_for_session(token_hash, spending)
            await uow.commit()
        return spent
