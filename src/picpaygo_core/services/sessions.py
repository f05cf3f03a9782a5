"""Session tokens: making them, what is stored in their place, forgetting a session."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from picpaygo_core.models import Session, SignedIn, User
from picpaygo_core.ports import UnitOfWork, UnitOfWorkFactory

MAX_TOKEN_LENGTH = 200


def new_session_token() -> str:
    """A session secret with 256 random bits."""
    return secrets.token_urlsafe(32)


def hash_session_token(token: str) -> str:
    """What is stored in place of a token: its SHA-256, so a leaked table signs no one in."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def session_token_hash(token: str | None) -> str | None:
    """The stored hash of a presented token; None when it cannot be a session token."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return hash_session_token(token)


async def forget_session(uow_factory: UnitOfWorkFactory, token_hash: str) -> None:
    """Delete a session (an expired one, found on a request); nothing if it is gone."""
    async with uow_factory() as uow:
        await uow.sessions.delete(token_hash)
        await uow.commit()


async def start_session(uow: UnitOfWork, user: User, *, now: datetime, ttl: timedelta) -> SignedIn:
    """A new session for ``user`` in ``uow``, and its secret token."""
    token = new_session_token()
    session = Session(
        token_hash=hash_session_token(token),
        user_id=user.id,
        created_at=now,
        expires_at=now + ttl,
    )
    await uow.sessions.add(session)
    return SignedIn(user=user, token=token, expires_at=session.expires_at)
