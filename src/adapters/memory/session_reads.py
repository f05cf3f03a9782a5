"""The reads every request starts with, over the in-memory store."""

from __future__ import annotations

from adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from picpaygo_core.models import CallerCredits, Session, User


class MemorySessionReads:
    """``SessionReads``: each read is a unit of work of its own."""

    def __init__(self, uow_factory: MemoryUnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def session_with_user(self, token_hash: str) -> tuple[Session, User] | None:
        """The session of ``token_hash`` (expired or not) and its user, or None."""
        async with self._uow_factory() as uow:
            session = await uow.sessions.find(token_hash)
            user = await uow.users.find_by_id(session.user_id) if session else None
        return (session, user) if session and user else None

    async def credits_for_session(
        self, token_hash: str | None, network: str, initial_free: int
    ) -> CallerCredits:
        """The session of ``token_hash`` (if any), its user's balance and the network's
        free credits (``initial_free`` for a network never seen), read together."""
        async with self._uow_factory() as uow:
            session = await uow.sessions.find(token_hash) if token_hash else None
            return CallerCredits(
                session=session,
                balance=await uow.credits.balance(session.user_id) if session else 0,
                free_credits=await uow.free_credits.remaining(network, initial_free),
            )
