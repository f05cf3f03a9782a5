"""The PostgreSQL unit of work: one pooled connection, one transaction."""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Self

from adapters.postgres.database import BorrowedConnection, PostgresDatabase
from adapters.postgres.repositories import (
    PostgresCreditRepository,
    PostgresFreeCreditRepository,
    PostgresImageRepository,
    PostgresIncidentRepository,
    PostgresJobRepository,
    PostgresPurchaseRepository,
    PostgresSessionRepository,
    PostgresUserRepository,
)


class PostgresUnitOfWork:
    """All-or-nothing changes in one database transaction (Read Committed).

    Entering borrows a connection from the pool; leaving without ``commit()`` rolls the
    transaction back and returns the connection.
    """

    users: PostgresUserRepository
    sessions: PostgresSessionRepository
    credits: PostgresCreditRepository
    free_credits: PostgresFreeCreditRepository
    jobs: PostgresJobRepository
    images: PostgresImageRepository
    incidents: PostgresIncidentRepository
    purchases: PostgresPurchaseRepository

    def __init__(self, database: PostgresDatabase) -> None:
        self._conn: BorrowedConnection | None = None
        self._borrowed = database.connection()

    async def __aenter__(self) -> Self:
        conn = await self._borrowed.__aenter__()
        self._conn = conn
        self.users = PostgresUserRepository(conn)
        self.sessions = PostgresSessionRepository(conn)
        self.credits = PostgresCreditRepository(conn)
        self.free_credits = PostgresFreeCreditRepository(conn)
        self.jobs = PostgresJobRepository(conn)
        self.images = PostgresImageRepository(conn)
        self.incidents = PostgresIncidentRepository(conn)
        self.purchases = PostgresPurchaseRepository(conn)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            # A broken or stuck connection cannot roll back; the pool discards it.
            with contextlib.suppress(Exception):
                if self._conn is not None and not self._conn.conn.closed:
                    await self._conn.rollback()
        finally:
            self._conn = None
            await self._borrowed.__aexit__(exc_type, exc, tb)

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

    def __call__(self) -> PostgresUnitOfWork:
        return PostgresUnitOfWork(self.database)


class PostgresHealthProbe:
    """Reports whether the database answers a trivial query within the pool's timeout."""

    name = "database"

    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database

    async def check(self) -> str | None:
        try:
            async with self._database.connection() as conn:
                await conn.execute(b"SELECT 1")
                await conn.rollback()
        except Exception:
            return "the database is unreachable"
        return None
