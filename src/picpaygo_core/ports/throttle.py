"""The throttle port: counts attempts per key in a time window (brute-force protection)."""

from __future__ import annotations

from typing import Protocol


class AttemptThrottle(Protocol):
    async def acquire(self, key: str, *, limit: int, window_seconds: float) -> float | None:
        """Count one attempt for ``key``, atomically, unless ``limit`` is already reached.

        Returns None when the attempt was counted (go ahead), else the seconds until
        ``key`` may try again (nothing counted). However many callers race, at most
        ``limit`` attempts per window are let through, in every process sharing storage.
        """
        ...

    async def release(self, key: str) -> None:
        """Uncount one attempt of ``key`` (it succeeded, so it should not use up the limit)."""
        ...
