"""The throttle port: counts attempts per key in a time window (brute-force protection)."""

from __future__ import annotations

from typing import Protocol


class AttemptThrottle(Protocol):
    async def blocked_for(self, key: str, *, limit: int, window_seconds: float) -> float | None:
        """Seconds until ``key`` may try again, or None if it is under ``limit``."""
        ...

    async def record(self, key: str, *, window_seconds: float) -> None:
        """Count one attempt for ``key`` in the current window."""
        ...
