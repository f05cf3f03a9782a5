"""The PostgreSQL storage family: one connection pool and every adapter over it.

The server is either the deployment's own (``DATABASE_URL=postgresql://...``) or the
embedded one this process starts or joins; either way the adapters are the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    AsyncExitStack,
    asynccontextmanager,
    nullcontext,
)
from typing import Protocol

from adapters.postgres.database import PostgresDatabase, announce_outage, outage_known
from adapters.postgres.migrations import migrate, pending_migrations
from adapters.postgres.pictures import PostgresPictureStore
from adapters.postgres.session_reads import PostgresSessionReads
from adapters.postgres.throttle import PostgresAttemptThrottle
from adapters.postgres.unit_of_work import PostgresHealthProbe, PostgresUnitOfWorkFactory
from adapters.postgres.wakeup import PostgresJobChanges, PostgresJobWakeup
from adapters.process_job_changes import ProcessJobChanges
from picpaygo_core.errors import StorageUnavailable
from picpaygo_core.ports import Clock
from picpaygo_core.services.workers import Chore

logger = logging.getLogger("picpaygo")

# How long start-up waits to learn whether the database answers before serving anyway.
STARTUP_PROBE_SECONDS = 1.0
RETRY_SECONDS = 0.5


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class SchemaOutOfDate(Exception):
    """The database lacks migrations this build needs; the message says what to run."""


class DatabaseServer(Protocol):
    """Where the database runs: kept running while ``running()`` is entered."""

    @property
    def description(self) -> str: ...

    def running(self) -> AbstractAsyncContextManager[None]: ...

    def kept(self) -> AbstractContextManager[None]: ...


class ExternalServer:
    """A server run by someone else: there is nothing to start or stop."""

    description = "PostgreSQL"

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        yield

    def kept(self) -> AbstractContextManager[None]:
        return nullcontext()


class PostgresStorage:
    """The pool, the unit of work, the health probe, the wake-up and the throttle.

    ``migrate_on_start`` applies pending migrations when the storage opens; without it,
    opening refuses an out-of-date schema with ``SchemaOutOfDate``.
    """

    shared = True

    def __init__(
        self,
        database: PostgresDatabase,
        clock: Clock,
        *,
        server: DatabaseServer,
        migrate_on_start: bool,
    ) -> None:
        self.database = database
        self.server = server
        self.migrate_on_start = migrate_on_start
        self.uow_factory = PostgresUnitOfWorkFactory(database)
        self.session_reads = PostgresSessionReads(database)
        self.health_probe = PostgresHealthProbe(database)
        followers = ProcessJobChanges()
        self.wakeup = PostgresJobWakeup(database, changes=followers)
        self.job_changes = PostgresJobChanges(self.wakeup, followers)
        self.throttle = PostgresAttemptThrottle(database, clock)
        # The picture store when PICTURE_STORE is unset: pictures kept in the database.
        self.picture_store = PostgresPictureStore(database)
        self.chores: Sequence[Chore] = (self.throttle.forget_expired,)

    @property
    def description(self) -> str:
        return self.server.description

    def kept(self) -> AbstractContextManager[None]:
        """Keep the server up while the block runs (for a parent of server processes)."""
        return self.server.kept()

    @asynccontextmanager
    async def lifespan(
        self, *, listen: bool, check_schema: bool = True, long_running: bool = True
    ) -> AsyncIterator[None]:
        """The server, the pool, the schema, then (with ``listen``) the job listener
        (without, it starts when a job is first followed).

        Closed in reverse. ``check_schema=False`` skips the schema step (for
        ``picpaygo db migrate`` itself). A ``long_running`` process (server, worker)
        opens even when the database is unreachable and serves 503s until it answers;
        a one-shot command fails at once with ``StorageUnavailable``.
        """
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self.server.running())
            await self.database.open()
            stack.push_async_callback(self.database.close)
            if check_schema and long_running and not await self._answers_at_once(start=True):
                # Start at once anyway: readiness says 503 until the database answers,
                # and the schema is prepared as soon as it does.
                if announce_outage():
                    logger.error(
                        "the database is unreachable at start-up; serving 503s until it answers"
                    )
                preparing = asyncio.create_task(self._prepare_schema_once_back())
                stack.push_async_callback(_cancel, preparing)
            elif check_schema:
                await self._prepare_schema(tolerate_outage=long_running)
            # Without ``listen`` the first follower of a job starts the listener.
            stack.push_async_callback(self.wakeup.stop)
            if listen:
                self.wakeup.start()
            yield

    async def _answers_at_once(self, *, start: bool = False) -> bool:
        """Whether the database answers a trivial query within ``STARTUP_PROBE_SECONDS``
        (at ``start``, not asked again when this process just found it unreachable)."""
        if start and outage_known():
            return False
        try:
            async with asyncio.timeout(STARTUP_PROBE_SECONDS):
                return await self.health_probe.check() is None
        except TimeoutError:
            return False

    async def _prepare_schema_once_back(self) -> None:
        """Wait for the database, then migrate or check the schema (logged once)."""
        while True:
            if await self._answers_at_once():
                break
            await asyncio.sleep(RETRY_SECONDS)
        try:
            await self._prepare_schema(tolerate_outage=False)
        except StorageUnavailable:
            logger.warning("the database went away again before the schema was checked")
            return
        except SchemaOutOfDate as exc:
            logger.error("%s", exc)
            return
        logger.info("the database answers; the schema is ready")

    async def migrate(self) -> list[str]:
        """Apply pending migrations; their names (``0001_initial``, ...)."""
        return [f"{m.version:04d}_{m.name}" for m in await migrate(self.database)]

    async def _prepare_schema(self, *, tolerate_outage: bool) -> None:
        try:
            if self.migrate_on_start:
                for name in await self.migrate():
                    logger.info("applied migration %s", name)
                return
            pending = await pending_migrations(self.database)
        except StorageUnavailable:
            if not tolerate_outage:
                raise
            # Start anyway: requests get 503 until the database answers, then all is well.
            logger.error("the database is unreachable at start-up; serving 503s until it answers")
            return
        if pending:
            names = ", ".join(f"{m.version:04d}_{m.name}" for m in pending)
            raise SchemaOutOfDate(
                f"the database schema is out of date (pending: {names}); "
                "run `picpaygo db migrate` or set DATABASE_MIGRATE_ON_START=true"
            )
