"""In-memory adapters: the whole storage in one process, for development and tests."""

from adapters.memory.store import MemoryStore
from adapters.memory.throttle import MemoryAttemptThrottle
from adapters.memory.unit_of_work import MemoryUnitOfWork, MemoryUnitOfWorkFactory

__all__ = [
    "MemoryAttemptThrottle",
    "MemoryStore",
    "MemoryUnitOfWork",
    "MemoryUnitOfWorkFactory",
]
