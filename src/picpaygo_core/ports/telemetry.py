"""Telemetry: what the core tells the outside world about what it did (metrics).

The core reports events; an adapter turns them into metrics. ``NO_TELEMETRY`` is the
default, so a use case works without anyone listening.
"""

from __future__ import annotations

from typing import Literal, Protocol

CreditMovement = Literal["granted", "spent", "refunded", "purchased", "reversed"]


class Telemetry(Protocol):
    """Receives the core's events; every method is cheap and never raises."""

    def job_created(self) -> None:
        """A generation job was queued (and charged)."""
        ...

    def job_finished(self, outcome: str, seconds: float) -> None:
        """An attempt at a job ended with ``outcome`` (see ``job_reports.job_outcome``)."""
        ...

    def generator_called(self, outcome: str, seconds: float) -> None:
        """The image generator answered (``generated``, ``transient``, ``permanent``,
        ``operator`` or ``timeout``) after ``seconds``."""
        ...

    def credits_moved(self, movement: CreditMovement, amount: int) -> None:
        """``amount`` credits (positive) were granted, spent, refunded, purchased or
        reversed, in a committed transaction."""
        ...

    def sign_in_failed(self, method: str) -> None:
        """A sign-in (``password`` or ``google``) was refused."""
        ...

    def sign_in_throttled(self) -> None:
        """A sign-in or registration attempt was refused by the throttle (429)."""
        ...


class _NoTelemetry:
    """Listens to nothing."""

    def job_created(self) -> None:
        return None

    def job_finished(self, outcome: str, seconds: float) -> None:
        return None

    def generator_called(self, outcome: str, seconds: float) -> None:
        return None

    def credits_moved(self, movement: CreditMovement, amount: int) -> None:
        return None

    def sign_in_failed(self, method: str) -> None:
        return None

    def sign_in_throttled(self) -> None:
        return None


NO_TELEMETRY: Telemetry = _NoTelemetry()
