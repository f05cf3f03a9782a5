"""Waking idle in-process workers when a job is queued."""

from __future__ import annotations

import asyncio
import contextlib


class MemoryJobWakeup:
    """An ``asyncio.Event`` shared by the workers of one process."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake every waiting worker."""
        self._event.set()

    async def wait(self, max_seconds: float) -> None:
        """Return on the next notification, or after ``max_seconds``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), max_seconds)
        self._event.clear()
