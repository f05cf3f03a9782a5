"""What an operator watches of the job queue: how deep it is and how long the oldest waits."""

from __future__ import annotations

import msgspec

from picpaygo_core.ports import Clock, UnitOfWorkFactory


class QueueSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """Queued jobs right now, and the age of the oldest (0 when the queue is empty)."""

    depth: int
    oldest_age_seconds: float


class QueueMonitor:
    """Reads the job queue's size for metrics."""

    def __init__(self, *, uow_factory: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._clock = clock

    async def snapshot(self) -> QueueSnapshot:
        """The queue as it is now."""
        async with self._uow_factory() as uow:
            depth, oldest = await uow.jobs.queue_stats()
        age = (self._clock.now() - oldest).total_seconds() if oldest else 0.0
        return QueueSnapshot(depth=depth, oldest_age_seconds=max(age, 0.0))
