"""Ports for secrets: password hashing and Google ID-token verification."""

from __future__ import annotations

from typing import Protocol

from picpaygo_core.models import GoogleIdentity


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str:
        """A salted, slow hash of ``password`` in the current format."""
        ...

    async def verify(self, password_hash: str, password: str) -> bool:
        """True when ``password`` matches; False for a wrong password or an unreadable hash."""
        ...

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash is in an older format or with weaker parameters."""
        ...


class GoogleTokenVerifier(Protocol):
    @property
    def client_id(self) -> str | None:
        """The OAuth client id tokens must be issued for; None when Google login is off."""
        ...

    async def verify(self, credential: str) -> GoogleIdentity:
        """Check signature, audience, issuer and expiry of a Google ID token.

        Raises ``InvalidGoogleToken`` for any bad token and ``GoogleLoginDisabled`` when
        no client id is configured.
        """
        ...
