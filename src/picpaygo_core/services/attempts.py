"""Counting attempts before the work they ask for (brute force and mail floods)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from picpaygo_core.errors import StorageUnavailable, TooManyAttempts
from picpaygo_core.networks import client_network
from picpaygo_core.policy import Policy
from picpaygo_core.ports import AttemptThrottle

SIGN_IN_WINDOW_SECONDS = 60.0
# Every attempt that checks a password or sends a sign-in link counts under this action.
SIGN_IN = "login"


class Attempts:
    """Counts attempts per key with the storage's throttle, atomically, before any work."""

    def __init__(self, throttle: AttemptThrottle, policy: Policy) -> None:
        self._throttle = throttle
        self._policy = policy

    async def count(self, key: str, *, limit: int, window_seconds: float) -> None:
        """Count one attempt of ``key``; ``TooManyAttempts`` (nothing counted) past ``limit``."""
        wait = await self._throttle.acquire(key, limit=limit, window_seconds=window_seconds)
        if wait is not None:
            raise TooManyAttempts(wait)

    async def count_sign_in(self, action: str, client_ip: str | None) -> None:
        """Count a sign-in attempt of the client's network (``AUTH_ATTEMPTS_PER_MINUTE``)."""
        limit = self._policy.auth_attempts_per_minute
        if limit > 0:
            await self.count(
                sign_in_key(action, client_ip), limit=limit, window_seconds=SIGN_IN_WINDOW_SECONDS
            )

    @contextlib.asynccontextmanager
    async def sign_in(
        self,
        action: str,
        client_ip: str | None,
        *,
        failure: type[Exception] | tuple[type[Exception], ...],
    ) -> AsyncIterator[None]:
        """A sign-in attempt: counted before the password or token is checked (so racing
        guesses past the limit are refused without any hashing), and uncounted again
        unless it ends in ``failure``, so only wrong guesses use up a network's limit."""
        await self.count_sign_in(action, client_ip)
        try:
            yield
        except failure:
            raise
        except BaseException:
            await self._uncount(action, client_ip)
            raise
        await self._uncount(action, client_ip)

    async def _uncount(self, action: str, client_ip: str | None) -> None:
        if self._policy.auth_attempts_per_minute > 0:
            with contextlib.suppress(StorageUnavailable):
                await self._throttle.release(sign_in_key(action, client_ip))


def network_of(client_ip: str | None) -> str:
    """The client's network (``unknown`` without an address)."""
    return client_network(client_ip or "unknown")


def sign_in_key(action: str, client_ip: str | None) -> str:
    """The throttle key of one network's attempts at ``action``."""
    return f"{action}:{network_of(client_ip)}"
