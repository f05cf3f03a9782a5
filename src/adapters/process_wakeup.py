"""Waking the idle job workers of this process when a job is queued.

Every storage family uses it: in memory it is the whole wake-up; with PostgreSQL the
listener feeds it the notifications other processes send.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

# Notifications kept for workers that are not waiting yet (say, one that has just found
# the queue empty). A few suffice: a worker that gets a job looks again before it waits.
MAX_PENDING_NOTIFICATIONS = 8


class ProcessJobWakeup:
    """Wakes the idle workers of one process: one per notification, since one new job
    needs one worker (waking them all would send every one to claim it, and all but one
    to find nothing)."""

    def __init__(self) -> None:
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._pending = 0

    def notify(self) -> None:
        """Wake one waiting worker, or the next one to wait."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._pending = min(self._pending + 1, MAX_PENDING_NOTIFICATIONS)

    def notify_all(self) -> None:
        """Wake every waiting worker (when jobs may have been queued unannounced)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
        self._pending = MAX_PENDING_NOTIFICATIONS

    async def wait(self, max_seconds: float) -> None:
        """Return on a notification meant for this worker, or after ``max_seconds``."""
        if self._pending:
            self._pending -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(waiter), max_seconds)
        finally:
            if not waiter.done():
                waiter.cancel()
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
