"""The PostgreSQL unit of work: one pooled connection, one transaction."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from adapters.postgres.database import DatabaseConnection, PostgresDatabase
from adapters.postgres.repositories import (
    PostgresCreditRepository,
    PostgresFreeCreditRepository,
    PostgresIdempotencyRepository,
    PostgresImageRepository,
    PostgresIncidentRepository,
    PostgresJobRepository,
    PostgresPurchaseRepository,
    PostgresSessionRepository,
    PostgresUserRepository,
)


class PostgresUnitOfWork:
    """All-or-nothing changes in one database transaction (Read Committed).

    Entering borrows a connection from the pool and starts the unit's deadline; the
    transaction opens with the first change (reads alone need none). Leaving without
    ``commit()`` rolls back and gives the connection back.
    """

    users: PostgresUserRepository
    sessions: PostgresSessionRepository
    credits: PostgresCreditRepository
    free_credits: PostgresFreeCreditRepository
    jobs: PostgresJobRepository
    images: PostgresImageRepository
    incidents: PostgresIncidentRepository
    purchases: PostgresPurchaseRepository
    idempotency: PostgresIdempotencyRepository

    def __init__(self, database: PostgresDatabase, *, single_change: bool = False) -> None:
        self._database = database
        self._single_change = single_change
        self._conn: DatabaseConnection | None = None

    async def __aenter__(self) -> Self:
        conn = await self._database.acquire(single_change=self._single_change)
        self._conn = conn
        self.users = PostgresUserRepository(conn)
        self.sessions = PostgresSessionRepository(conn)
        self.credits = PostgresCreditRepository(conn)
        self.free_credits = PostgresFreeCreditRepository(conn)
        self.jobs = PostgresJobRepository(conn)
        self.images = PostgresImageRepository(conn)
        self.incidents = PostgresIncidentRepository(conn)
        self.purchases = PostgresPurchaseRepository(conn)
        self.idempotency = PostgresIdempotencyRepository(conn)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._database.release(conn)

    async def commit(self) -> None:
        """Make the changes so far permanent."""
        if self._conn is not None:
            await self._conn.commit()

    async def rollback(self) -> None:
        """Undo the changes since the last commit."""
        if self._conn is not None:
            await self._conn.rollback()


class PostgresUnitOfWorkFactory:
    """Makes units of work over one database."""

    def __init__(self, database: PostgresDatabase) -> None:
        self.database = database

    def __call__(self, *, single_change: bool = False) -> PostgresUnitOfWork:
        return PostgresUnitOfWork(self.database, single_change=single_change)


class PostgresHealthProbe:
    """Reports whether the database answers a trivial query within the pool's timeout."""

    name = "database"

    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database

    async def check(self) -> str | None:
        try:
            async with self._database.connection() as conn:
                await conn.fetch_one(b"SELECT 1")
        except Exception:
            return "the database is unreachable"
        return None
