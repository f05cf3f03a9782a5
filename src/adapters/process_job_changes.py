"""Telling this process's followers of a job that it changed (the ``JobChanges`` port).

Every storage family uses it: in memory a committed unit of work announces its jobs'
changes here; with PostgreSQL the one listening connection of the process feeds it the
notifications of every process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from uuid import UUID

from picpaygo_core.models import JobMark


class ProcessJobWatch:
    """One follower's ear for one job: set when told, cleared when it has heard."""

    def __init__(self) -> None:
        self._told = asyncio.Event()
        self._marks: list[JobMark] = []

    def tell(self, mark: JobMark | None = None) -> None:
        """The job may have changed (to ``mark``, when known)."""
        if mark is not None:
            self._marks.append(mark)
        self._told.set()

    def marks(self) -> list[JobMark]:
        """The states told since the last call, oldest first."""
        marks, self._marks = self._marks, []
        return marks

    async def changed(self, max_seconds: float) -> bool:
        """True once told (since the last call), False after ``max_seconds`` without."""
        try:
            async with asyncio.timeout(max_seconds):
                await self._told.wait()
        except TimeoutError:
            return False
        self._told.clear()
        return True


class ProcessJobChanges:
    """The followers of this process, by job; announcing wakes a job's followers."""

    def __init__(self) -> None:
        self._watches: dict[UUID, set[ProcessJobWatch]] = {}

    @contextlib.asynccontextmanager
    async def watch(self, job_id: UUID) -> AsyncIterator[ProcessJobWatch]:
        """Be told of ``job_id``'s changes while the block runs."""
        watch = ProcessJobWatch()
        self._watches.setdefault(job_id, set()).add(watch)
        try:
            yield watch
        finally:
            watches = self._watches.get(job_id)
            if watches is not None:
                watches.discard(watch)
                if not watches:
                    del self._watches[job_id]

    def announce(self, job_id: UUID, mark: JobMark | None = None) -> None:
        """``job_id`` changed (to ``mark``, when known): tell its followers."""
        for watch in self._watches.get(job_id, ()):
            watch.tell(mark)

    def announce_all(self) -> None:
        """Any job may have changed unheard (say, while reconnecting): tell everyone."""
        for watches in self._watches.values():
            for watch in watches:
                watch.tell()

    @property
    def watched(self) -> int:
        """How many jobs have followers."""
        return len(self._watches)
