"""The ``PasswordHasher`` port on Argon2id (argon2-cffi), reading legacy PBKDF2 too."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from adapters.passwords.pbkdf2_legacy import is_legacy_hash, verify_legacy_pbkdf2

T = TypeVar("T")

# OWASP's recommended Argon2id configuration: 19 MiB, 2 passes, 1 lane. About 20 ms of
# one core per hash; argon2-cffi's own defaults (64 MiB, 3 passes, 4 lanes) cost ~7 times
# more CPU per sign-in, which a small server cannot sustain at tens of logins a second.
TIME_COST = 2
MEMORY_COST_KIB = 19 * 1024
PARALLELISM = 1


def default_hashing_threads() -> int:
    """Hash on all cores but one, so the event loop always has a core to serve requests."""
    return max(1, (os.cpu_count() or 2) - 1)


class Argon2PasswordHasher:
    """Hashes new passwords with Argon2id; verifies Argon2 and the seed's PBKDF2 hashes.

    Hashing is deliberately slow, so ``hash`` and ``verify`` run in a small pool of
    threads of their own: the event loop keeps serving other requests, and a burst of
    sign-ins queues for those threads instead of taking every core (and 19 MiB each).
    ``needs_rehash`` tells the login use case when to store a fresh hash: for every
    legacy PBKDF2 hash and for Argon2 hashes made with other parameters.
    """

    def __init__(
        self, hasher: argon2.PasswordHasher | None = None, *, threads: int | None = None
    ) -> None:
        """Use ``hasher`` (e.g. with cheap parameters in tests) or OWASP's parameters."""
        self._hasher = (
            hasher
            if hasher is not None
            else argon2.PasswordHasher(
                time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM
            )
        )
        self._threads = threads or default_hashing_threads()
        self._executor: ThreadPoolExecutor | None = None

    async def hash(self, password: str) -> str:
        """A salted Argon2id hash of ``password`` (``$argon2id$...``)."""
        return await self._in_thread(self._hasher.hash, _secret(password))

    async def verify(self, password_hash: str, password: str) -> bool:
        """True when ``password`` matches; False for a mismatch or an unreadable hash."""
        if is_legacy_hash(password_hash):
            return await self._in_thread(verify_legacy_pbkdf2, password_hash, password)
        return await self._in_thread(self._verify_argon2, password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """True for legacy and unreadable hashes and for Argon2 hashes with other parameters."""
        if is_legacy_hash(password_hash):
            return True
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True

    async def _in_thread(self, function: Callable[..., T], *args: object) -> T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._threads, thread_name_prefix="argon2")
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _verify_argon2(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, _secret(password))
        except (VerificationError, InvalidHashError, ValueError):
            # ValueError covers non-ASCII hashes and argon2's UnsupportedParametersError.
            return False


def _secret(password: str) -> bytes:
    """UTF-8 bytes of ``password``; lone surrogates are kept rather than refused."""
    return password.encode("utf-8", "surrogatepass")
