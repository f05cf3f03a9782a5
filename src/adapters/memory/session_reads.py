"""The reads every request starts with, over the in-memory store."""

from __future__ import annotations

from adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from picpaygo_core.models import CallerLookup, Session, User


class MemorySessionReads:
    """``SessionReads``: each read is a unit of work of its own."""

    def __init__(self, uow_factory: MemoryUnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def session_with_user(self, token_hash: str) -> tuple[Session, User] | None:
        """The session of ``token_hash`` (expired or not) and its user, or None."""
        async with self._uow_factory() as uow:
            return await uow.sessions.find_with_user(token_hash)

    async def caller(
        self, token_hash: str | None, client_network: str, initial_free: int
    ) -> CallerLookup:
        """The session (if any) with its user, their balance and the network's free credits."""
        async with self._uow_factory() as uow:
            return await uow.sessions.find_caller(
                token_hash, client_network, initial_free=initial_free
            )
