"""The wall clock."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    """The current UTC time."""

    def now(self) -> datetime:
        return datetime.now(UTC)
