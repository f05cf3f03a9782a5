"""The ``PasswordHasher`` port on Argon2id (argon2-cffi), reading legacy PBKDF2 too."""

from __future__ import annotations

import asyncio

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from adapters.passwords.pbkdf2_legacy import is_legacy_hash, verify_legacy_pbkdf2


class Argon2PasswordHasher:
    """Hashes new passwords with Argon2id; verifies Argon2 and the seed's PBKDF2 hashes.

    Hashing is deliberately slow (tens of milliseconds), so ``hash`` and ``verify``
    run in a worker thread and the event loop keeps serving other requests.
    ``needs_rehash`` tells the login use case when to store a fresh hash: for every
    legacy PBKDF2 hash and for Argon2 hashes made with other parameters.
    """

    def __init__(self, hasher: argon2.PasswordHasher | None = None) -> None:
        """Use ``hasher`` (e.g. with cheap parameters in tests) or argon2-cffi's defaults.

        The defaults are Argon2id, t=3, m=64 MiB, p=4, above OWASP's minimum.
        """
        self._hasher = hasher if hasher is not None else argon2.PasswordHasher()

    async def hash(self, password: str) -> str:
        """A salted Argon2id hash of ``password`` (``$argon2id$...``)."""
        return await asyncio.to_thread(self._hasher.hash, _secret(password))

    async def verify(self, password_hash: str, password: str) -> bool:
        """True when ``password`` matches; False for a mismatch or an unreadable hash."""
        if is_legacy_hash(password_hash):
            return await asyncio.to_thread(verify_legacy_pbkdf2, password_hash, password)
        return await asyncio.to_thread(self._verify_argon2, password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """True for legacy and unreadable hashes and for Argon2 hashes with other parameters."""
        if is_legacy_hash(password_hash):
            return True
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True

    def _verify_argon2(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, _secret(password))
        except (VerificationError, InvalidHashError, ValueError):
            # ValueError covers non-ASCII hashes and argon2's UnsupportedParametersError.
            return False


def _secret(password: str) -> bytes:
    """UTF-8 bytes of ``password``; lone surrogates are kept rather than refused."""
    return password.encode("utf-8", "surrogatepass")
