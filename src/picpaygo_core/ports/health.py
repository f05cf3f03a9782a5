"""The health port: one check of a dependency the service cannot work without."""

from __future__ import annotations

from typing import Protocol


class HealthProbe(Protocol):
    name: str

    async def check(self) -> str | None:
        """None when healthy, otherwise a short sentence saying what is wrong."""
        ...
