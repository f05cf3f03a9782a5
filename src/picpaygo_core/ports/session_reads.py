"""The session-reads port: the reads a request starts with, made outside any unit of work."""

from __future__ import annotations

from typing import Protocol

from picpaygo_core.models import CallerLookup, Session, User


class SessionReads(Protocol):
    """The reads a request starts with. They change nothing and are made outside any unit
    of work, so storage may answer the concurrent ones together (in one statement)."""

    async def session_with_user(self, token_hash: str) -> tuple[Session, User] | None:
        """The session of ``token_hash`` (expired or not) and its user, or None."""
        ...

    async def caller(
        self, token_hash: str | None, client_network: str, initial_free: int
    ) -> CallerLookup:
        """As ``SessionRepository.find_caller`` without a claim: the session of
        ``token_hash`` (if any) with its user, the user's balance and the network's free
        credits (``initial_free`` for a network never seen)."""
        ...
