"""People with an account and their signed-in browsers."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec


class User(msgspec.Struct, frozen=True, kw_only=True):
    """A person with an account (email + password, Google, or both)."""

    id: UUID
    email: str
    password_hash: str | None
    name: str | None
    surname: str | None
    is_google_account: bool
    google_id: str | None
    created_at: datetime
    last_login_at: datetime | None = None
    last_login_location: str | None = None
    # Proven by Google, or by its owner following a link mailed to it.
    email_verified: bool = False


class Session(msgspec.Struct, frozen=True, kw_only=True):
    """A signed-in browser. Only a hash of its token is ever stored."""

    token_hash: str
    user_id: UUID
    created_at: datetime
    expires_at: datetime

    def is_expired(self, now: datetime) -> bool:
        """True once the session's lifetime is over."""
        return now >= self.expires_at


class SignedIn(msgspec.Struct, frozen=True, kw_only=True):
    """The result of a successful sign-in: the user and the new session's secret token."""

    user: User
    token: str
    expires_at: datetime


class GoogleIdentity(msgspec.Struct, frozen=True, kw_only=True):
    """The facts a verified Google ID token vouches for."""

    google_id: str
    email: str
    email_verified: bool
    name: str | None
    surname: str | None
