"""Attempt counting in this process's memory, in fixed windows."""

from __future__ import annotations

from datetime import datetime, timedelta

from picpaygo_core.ports import Clock

MAX_TRACKED_KEYS = 100_000


class MemoryAttemptThrottle:
    """Counts attempts per key; windows start at a key's first attempt.

    ``acquire`` checks and counts without awaiting anything in between, so on one event
    loop it is atomic: concurrent attempts cannot all pass the same check.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._windows: dict[str, tuple[datetime, int]] = {}

    async def acquire(self, key: str, *, limit: int, window_seconds: float) -> float | None:
        now = self._clock.now()
        started, count = self._windows.get(key, (now, 0))
        ends = started + timedelta(seconds=window_seconds)
        if now >= ends:
            started, count = now, 0
        elif count >= limit:
            return (ends - now).total_seconds()
        self._windows[key] = (started, count + 1)
        if len(self._windows) > MAX_TRACKED_KEYS:
            self._forget_expired(now, window_seconds)
        return None

    async def release(self, key: str) -> None:
        if key in self._windows:
            started, count = self._windows[key]
            self._windows[key] = (started, max(count - 1, 0))

    def _forget_expired(self, now: datetime, window_seconds: float) -> None:
        horizon = now - timedelta(seconds=window_seconds)
        for key in [k for k, (started, _) in self._windows.items() if started <= horizon]:
            del self._windows[key]
