"""Ports for live progress: hearing that a job changed, in whichever process changed it."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol
from uuid import UUID

from picpaygo_core.models import JobMark


class JobWatch(Protocol):
    async def changed(self, max_seconds: float) -> bool:
        """Wait for the watched job to change: True when it may have (read it again),
        False when ``max_seconds`` passed without a word."""
        ...

    def marks(self) -> list[JobMark]:
        """The states announced since the last call, oldest first (none when the word
        was only "look again"): states the job may have left before it is read."""
        ...


class JobChanges(Protocol):
    def watch(self, job_id: UUID) -> AbstractAsyncContextManager[JobWatch]:
        """Hear about changes of one job while the block runs.

        A change committed after the block is entered is heard; one committed before may
        be heard too (so a watcher reads the job once it watches, and again when told).
        """
        ...
