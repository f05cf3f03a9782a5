"""PostgreSQL adapters: durable storage, a job queue and wake-ups shared by many processes."""

from adapters.postgres.database import PostgresDatabase
from adapters.postgres.migrations import available_migrations, migrate, pending_migrations
from adapters.postgres.throttle import PostgresAttemptThrottle
from adapters.postgres.unit_of_work import (
    PostgresHealthProbe,
    PostgresUnitOfWork,
    PostgresUnitOfWorkFactory,
)
from adapters.postgres.wakeup import PostgresJobWakeup

__all__ = [
    "PostgresAttemptThrottle",
    "PostgresDatabase",
    "PostgresHealthProbe",
    "PostgresJobWakeup",
    "PostgresUnitOfWork",
    "PostgresUnitOfWorkFactory",
    "available_migrations",
    "migrate",
    "pending_migrations",
]
