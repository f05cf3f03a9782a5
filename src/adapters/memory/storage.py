"""The in-memory storage family: everything in this process's memory.

Nothing persists and nothing is shared with another process, so it suits unit tests
and throwaway demos (``DATABASE_URL=memory://``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext

from adapters.memory.pictures import MemoryPictureStore
from adapters.memory.session_reads import MemorySessionReads
from adapters.memory.store import MemoryStore
from adapters.memory.throttle import MemoryAttemptThrottle
from adapters.memory.unit_of_work import MemoryHealthProbe, MemoryUnitOfWorkFactory
from adapters.process_wakeup import ProcessJobWakeup
from picpaygo_core.ports import Clock
from picpaygo_core.services.workers import Chore


class MemoryStorage:
    """One store and the adapters over it; opening and closing it does nothing."""

    shared = False
    description = "in-memory storage, lost when the process ends and seen by no other process"

    def __init__(self, clock: Clock) -> None:
        self.store = MemoryStore()
        self.uow_factory = MemoryUnitOfWorkFactory(self.store)
        self.session_reads = MemorySessionReads(self.uow_factory)
        self.health_probe = MemoryHealthProbe()
        self.wakeup = ProcessJobWakeup()
        self.job_changes = self.store.job_changes
        self.throttle = MemoryAttemptThrottle(clock)
        # The picture store when PICTURE_STORE is unset: pictures kept with everything else.
        self.picture_store = MemoryPictureStore(clock)
        # The throttle forgets old counts by itself; nothing else needs tending.
        self.chores: Sequence[Chore] = ()

    @asynccontextmanager
    async def lifespan(
        self, *, listen: bool, check_schema: bool = True, long_running: bool = True
    ) -> AsyncIterator[None]:
        """Nothing to open: the store lives as long as this object."""
        yield

    def kept(self) -> AbstractContextManager[None]:
        """Nothing to keep running."""
        return nullcontext()

    async def migrate(self) -> list[str]:
        """Nothing to migrate: the store has no schema."""
        return []
