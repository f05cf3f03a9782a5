"""The connection pool every PostgreSQL adapter shares, and the mapping of its failures.

The pool is opened explicitly (``await database.open()``) by whoever runs the
service (the HTTP app's lifespan, ``picpaygo worker``, the CLI) and closed the same
way. Broken connections are noticed before they are handed out and replaced in the
background, so the service recovers by itself when the database comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar, cast

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from picpaygo_core.errors import StorageUnavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")
Connection = psycopg.AsyncConnection[TupleRow]
Params = dict[str, Any] | tuple[Any, ...]

UNAVAILABLE = "The database is unavailable right now; try again shortly."
# During an outage every request fails the same way: warn once per interval, not each time.
WARNING_INTERVAL_SECONDS = 10.0
_last_warning = 0.0
# A pooled connection idle for longer than this is checked before it is handed out.
CHECK_IDLE_SECONDS = 1.0


class PostgresDatabase:
    """A lazily opened ``AsyncConnectionPool`` over one database URL.

    ``timeout`` bounds connecting, waiting for a free connection and every round trip
    on a connection, so a request made while the database is down or frozen fails
    within about that many seconds instead of hanging.
    """

    def __init__(self, url: str, *, pool_size: int = 10, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self._pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            url,
            min_size=min(2, pool_size),
            max_size=pool_size,
            open=False,
            timeout=timeout,
            reconnect_timeout=60.0,
            check=self._check_if_idle,
            kwargs=connection_options(timeout),
            name="picpaygo",
        )
        self._opened = False
        self._stragglers: set[asyncio.Task[Any]] = set()
        self._returned_at: weakref.WeakKeyDictionary[Connection, float] = (
            weakref.WeakKeyDictionary()
        )

    async def open(self) -> None:
        """Start the pool; connections are made in the background, so this never waits."""
        if not self._opened:
            await self._pool.open(wait=False)
            self._opened = True

    async def close(self) -> None:
        """Close every connection of the pool."""
        if self._opened:
            self._opened = False
            stragglers = list(self._stragglers)
            for task in stragglers:
                task.cancel()
            if stragglers:
                await asyncio.wait(stragglers, timeout=self.timeout)
            await self._pool.close()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[BorrowedConnection]:
        """A pooled connection (not in autocommit): the caller commits or rolls back."""
        conn = await self._within_time_limit(self._pool.getconn(), on_late=self._give_back)
        borrowed = BorrowedConnection(conn, self.timeout)
        try:
            yield borrowed
        finally:
            if borrowed.stuck is None:
                self._returned_at[conn] = time.monotonic()
                await self._pool.putconn(conn)
            else:
                self._keep(self._return_when_done(borrowed.stuck, conn))

    async def _check_if_idle(self, conn: Connection) -> None:
        """The pool's check before handing a connection out: a round trip to the server,
        unless the connection was in use moments ago (then it is almost surely alive,
        and an extra round trip per request would cost a third of the throughput)."""
        returned_at = self._returned_at.get(conn)
        if (
            conn.broken
            or returned_at is None
            or time.monotonic() - returned_at > CHECK_IDLE_SECONDS
        ):
            await AsyncConnectionPool.check_connection(conn)

    async def connect_directly(self, *, autocommit: bool = True) -> Connection:
        """A connection of its own, outside the pool (for LISTEN and migrations)."""
        with storage_errors():
            return await psycopg.AsyncConnection.connect(
                self.url, autocommit=autocommit, **connection_options(self.timeout)
            )

    async def _within_time_limit(
        self, operation: Awaitable[T], on_late: Callable[[T], Awaitable[None]]
    ) -> T:
        task = asyncio.ensure_future(_settled(operation))
        if not await _finished_within(task, self.timeout):
            self._keep(self._finish_late(task, on_late))
            _warn_unavailable(TimeoutError("no connection within the time limit"))
            raise StorageUnavailable(UNAVAILABLE)
        return _unwrap(task)

    async def _give_back(self, conn: Connection) -> None:
        await self._pool.putconn(conn)

    async def _finish_late(
        self, task: asyncio.Task[Settled[T]], on_late: Callable[[T], Awaitable[None]]
    ) -> None:
        value, error = await task
        if error is None:
            await on_late(cast(T, value))

    async def _return_when_done(self, stuck: asyncio.Task[Any], conn: Connection) -> None:
        # The round trip that timed out still owns the connection: wait for it to end
        # (the database answers or the socket fails), then drop the connection.
        await stuck
        with contextlib.suppress(Exception):
            await conn.close()
        await self._pool.putconn(conn)

    def _keep(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._stragglers.add(task)
        task.add_done_callback(self._stragglers.discard)


class BorrowedConnection:
    """A connection from the pool whose every round trip has a time limit.

    A round trip that overruns is not cancelled (cancelling waits for the database to
    acknowledge, which a frozen database never does): it is left to finish in the
    background, the caller gets ``StorageUnavailable`` at once, and the connection is
    discarded when the round trip ends.
    """

    def __init__(self, conn: Connection, timeout: float) -> None:
        self.conn = conn
        self._timeout = timeout
        self.stuck: asyncio.Task[Any] | None = None

    async def run(self, operation: Callable[[Connection], Awaitable[T]]) -> T:
        """``await operation(conn)`` within the time limit, database failures as 503s."""
        if self.stuck is not None:
            raise StorageUnavailable(UNAVAILABLE)
        task = asyncio.ensure_future(_settled(operation(self.conn)))
        if not await _finished_within(task, self._timeout):
            self.stuck = task
            _warn_unavailable(TimeoutError(f"no answer within {self._timeout:g}s"))
            raise StorageUnavailable(UNAVAILABLE)
        return _unwrap(task)

    async def commit(self) -> None:
        """Commit the connection's transaction."""
        await self.run(lambda conn: conn.commit())

    async def rollback(self) -> None:
        """Roll the connection's transaction back."""
        await self.run(lambda conn: conn.rollback())

    async def execute(self, query: bytes, params: Params = ()) -> list[tuple[Any, ...]]:
        """Run one statement; its rows (none for a statement that returns none)."""

        async def execute(conn: Connection) -> list[tuple[Any, ...]]:
            cursor = await conn.execute(query, params)
            return await cursor.fetchall() if cursor.description else []

        return await self.run(execute)


def connection_options(timeout: float) -> dict[str, Any]:
    """Connection parameters every PicPayGo connection uses."""
    return {
        "connect_timeout": max(1, round(timeout)),
        "options": "-c TimeZone=UTC",
        "application_name": "picpaygo",
    }


@contextlib.contextmanager
def storage_errors() -> Iterator[None]:
    """Turn a lost or unreachable database into ``StorageUnavailable`` (a 503, not a 500)."""
    try:
        yield
    except (psycopg.OperationalError, PoolTimeout) as exc:
        _warn_unavailable(exc)
        raise StorageUnavailable(UNAVAILABLE) from exc
    except psycopg.errors.UndefinedTable as exc:
        logger.error("database schema is missing a table: run `picpaygo db migrate`")
        raise StorageUnavailable(UNAVAILABLE) from exc


Settled = tuple[T | None, BaseException | None]


async def _settled(operation: Awaitable[T]) -> Settled[T]:
    """Run ``operation`` to its end and keep its failure as a value, never raising.

    Round trips run as tasks that may be abandoned; a task that raised with nobody
    waiting would be reported by asyncio as an unhandled error.
    """
    try:
        return await operation, None
    except BaseException as exc:  # handed over to whoever reads the outcome
        return None, exc


async def _finished_within(task: asyncio.Task[Settled[T]], seconds: float) -> bool:
    """Wait up to ``seconds`` for ``task``; cancelling the waiter cancels the task too."""
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    return bool(done)


def _unwrap(task: asyncio.Task[Settled[T]]) -> T:
    value, error = task.result()
    if error is not None:
        with storage_errors():
            raise error
    return cast(T, value)


def _warn_unavailable(exc: BaseException) -> None:
    global _last_warning
    now = time.monotonic()
    if now - _last_warning >= WARNING_INTERVAL_SECONDS:
        _last_warning = now
        logger.warning("database unavailable: %s", _one_line(exc))
    else:
        logger.debug("database unavailable: %s", _one_line(exc))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__
