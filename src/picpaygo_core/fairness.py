"""Fair shares of a scarce resource: at most a few holders per key at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class PerKeyLimiter:
    """Lets at most ``per_key`` callers with the same key in at once; the rest of that
    key wait their turn, while callers with other keys go straight in.

    Password hashing goes through one per client network, so a network's flood of
    sign-ins queues behind itself and not in front of everyone else's. A key nobody
    holds or waits for is forgotten, so memory follows the keys in use.
    """

    def __init__(self, per_key: int) -> None:
        if per_key < 1:
            raise ValueError("per_key must be at least 1")
        self._per_key = per_key
        self._slots: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @contextlib.asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[None]:
        """Hold one of ``key``'s slots for the duration of the block."""
        semaphore, users = self._slots.get(key, (None, 0))
        if semaphore is None:
            semaphore = asyncio.Semaphore(self._per_key)
        self._slots[key] = (semaphore, users + 1)
        try:
            async with semaphore:
                yield
        finally:
            semaphore, users = self._slots[key]
            if users <= 1:
                del self._slots[key]
            else:
                self._slots[key] = (semaphore, users - 1)

    def __len__(self) -> int:
        """How many keys are held or waited for right now."""
        return len(self._slots)
