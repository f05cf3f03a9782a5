"""The PostgreSQL unit of work: one pooled connection, one transaction."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Generic, Self, TypeVar, overload

from adapters.postgres.accounts import (
    PostgresAccountEventRepository,
    PostgresAccountTokenRepository,
    PostgresMailOutboxRepository,
)
from adapters.postgres.credits import PostgresCreditRepository, PostgresFreeCreditRepository
from adapters.postgres.database import DatabaseConnection, PostgresDatabase
from adapters.postgres.idempotency import PostgresIdempotencyRepository
from adapters.postgres.incidents import PostgresIncidentRepository
from adapters.postgres.jobs import PostgresImageRepository, PostgresJobRepository
from adapters.postgres.payments import PostgresPurchaseRepository
from adapters.postgres.users import PostgresSessionRepository, PostgresUserRepository

R = TypeVar("R")


class _Repository(Generic[R]):
    """A repository on the unit of work's connection, made when first used (a unit of
    work uses one or two of its twelve), then kept in the instance."""

    def __init__(self, cls: Callable[[DatabaseConnection], R]) -> None:
        self._cls = cls
        self._name = ""

    def __set_name__(self, owner: type[object], name: str) -> None:
        self._name = name

    @overload
    def __get__(self, uow: None, owner: type[object]) -> Self: ...
    @overload
    def __get__(self, uow: PostgresUnitOfWork, owner: type[object]) -> R: ...
    def __get__(self, uow: PostgresUnitOfWork | None, owner: type[object]) -> R | Self:
        if uow is None:
            return self
        repository = self._cls(uow.connection())
        uow.__dict__[self._name] = repository  # found before this descriptor from now on
        return repository


class PostgresUnitOfWork:
    """All-or-nothing changes in one database transaction (Read Committed).

    Entering borrows a connection from the pool and starts the unit's deadline; the
    transaction opens with the first change (reads alone need none). Leaving without
    ``commit()`` rolls back and gives the connection back.
    """

    users = _Repository(PostgresUserRepository)
    sessions = _Repository(PostgresSessionRepository)
    credits = _Repository(PostgresCreditRepository)
    free_credits = _Repository(PostgresFreeCreditRepository)
    jobs = _Repository(PostgresJobRepository)
    images = _Repository(PostgresImageRepository)
    incidents = _Repository(PostgresIncidentRepository)
    purchases = _Repository(PostgresPurchaseRepository)
    idempotency = _Repository(PostgresIdempotencyRepository)
    account_tokens = _Repository(PostgresAccountTokenRepository)
    outbox = _Repository(PostgresMailOutboxRepository)
    account_events = _Repository(PostgresAccountEventRepository)

    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database
        self._conn: DatabaseConnection | None = None

    async def __aenter__(self) -> Self:
        self._conn = await self._database.acquire()
        return self

    def connection(self) -> DatabaseConnection:
        """The connection of the entered unit of work."""
        if self._conn is None:
            raise RuntimeError("the unit of work is not entered")
        return self._conn

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

    def __call__(self) -> PostgresUnitOfWork:
        """A fresh unit of work over the database."""
        return PostgresUnitOfWork(self.database)


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
