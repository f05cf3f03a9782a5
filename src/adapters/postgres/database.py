"""The connection pool every PostgreSQL adapter shares, and the connection a unit of work uses.

The pool is opened explicitly (``await database.open()``) by whoever runs the service
(the HTTP app's lifespan, ``picpaygo worker``, the CLI) and closed the same way. Broken
connections are noticed before they are handed out and replaced in the background, so
the service recovers by itself when the database comes back.

Pooled connections are in autocommit mode: a unit of work that only reads sends its
statements and nothing else (no ``BEGIN`` … ``ROLLBACK``). Its first change opens the
transaction, and ``BEGIN`` travels in the same round trip as that change; changes whose
outcome is not needed at once (``execute``) wait and travel with the next round trip or
the ``COMMIT``. Under Read Committed every statement sees the data committed before it
started, in a transaction or not, so reading before ``BEGIN`` sees what reading after it
would have seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
from psycopg import pq
from psycopg.rows import TupleRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from adapters.postgres.deadline import Deadline
from picpaygo_core.errors import StorageUnavailable

logger = logging.getLogger(__name__)

Connection = psycopg.AsyncConnection[TupleRow]
Params = dict[str, Any] | tuple[Any, ...] | None
Query = bytes | str
# Rows are read by column name: a statement's columns never depend on their order.
Row = dict[str, Any]

UNAVAILABLE = "The database is unavailable right now; try again shortly."
# During an outage every request fails the same way: warn once per interval, not each time.
WARNING_INTERVAL_SECONDS = 10.0
_last_warning = 0.0
RECONNECT_GIVE_UP_SECONDS = 2.0
# A pooled connection idle for longer than this is checked before it is handed out.
CHECK_IDLE_SECONDS = 1.0
_IDLE = pq.TransactionStatus.IDLE
_TUPLES_OK = pq.ExecStatus.TUPLES_OK
_BEGIN = b"BEGIN"


class PostgresDatabase:
    """A lazily opened ``AsyncConnectionPool`` over one database URL.

    ``timeout`` bounds connecting, and each unit of work from borrowing its connection
    to giving it back: a request made while the database is down or frozen fails within
    about that many seconds instead of hanging.
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
            # A failed background reconnection gives up quickly (its back-off doubles
            # from 1 s); the next request starts a fresh one at once, so the pool is
            # back within about a second of the database, however long it was away.
            reconnect_timeout=RECONNECT_GIVE_UP_SECONDS,
            check=self._check_if_idle,
            kwargs={**connection_options(timeout, statement_limit=True), "autocommit": True},
            name="picpaygo",
        )
        # Units of work in flight, at most one per pooled connection: a unit waits here,
        # on a plain future, rather than in the pool's queue (a condition and a task per
        # wait), so the pool always has a connection for whoever passed.
        self._free_slots = asyncio.Semaphore(pool_size)
        self._opened = False
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
            await self._pool.close()

    async def acquire(self) -> DatabaseConnection:
        """Borrow a connection for one unit of work; give it back with ``release``.

        The unit of work's deadline starts now.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        with storage_errors():
            await self._take_slot(started + self.timeout)
            try:
                conn = await self._pool.getconn(
                    timeout=max(0.0, started + self.timeout - loop.time())
                )
            except BaseException:
                self._free_slots.release()
                raise
        deadline = Deadline()
        deadline.arm(conn, started + self.timeout)
        return DatabaseConnection(conn, deadline, self.timeout)

    async def release(self, unit: DatabaseConnection) -> None:
        """End ``unit``'s transaction if it is still open and give its connection back."""
        conn = unit.conn
        try:
            await unit.end()
        finally:
            unit.deadline.disarm()
            if not unit.reusable and not conn.closed:
                await conn.close()
            self._returned_at[conn] = time.monotonic()
            try:
                await self._pool.putconn(conn)
            finally:
                self._free_slots.release()

    async def _take_slot(self, deadline: float) -> None:
        """Wait for a free connection until loop time ``deadline`` (``PoolTimeout`` then)."""
        if not self._free_slots.locked():
            await self._free_slots.acquire()  # returns at once
            return
        try:
            async with asyncio.timeout_at(deadline):
                await self._free_slots.acquire()
        except TimeoutError:
            raise PoolTimeout("no connection was free in time") from None

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[DatabaseConnection]:
        """``acquire`` and ``release`` around a block."""
        unit = await self.acquire()
        try:
            yield unit
        finally:
            await self.release(unit)

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
            deadline = Deadline()
            deadline.arm(conn, asyncio.get_running_loop().time() + self.timeout)
            try:
                await AsyncConnectionPool.check_connection(conn)
            finally:
                deadline.disarm()

    async def connect_directly(self, *, autocommit: bool = True) -> Connection:
        """A connection of its own, outside the pool (for LISTEN and migrations)."""
        with storage_errors():
            return await psycopg.AsyncConnection.connect(
                self.url, autocommit=autocommit, **connection_options(self.timeout)
            )


class DatabaseConnection:
    """The connection of one unit of work: ``fetch_one``, ``fetch_all``, ``execute``.

    Reads run on their own. The first change opens the transaction (``changes=True`` on
    a fetch, or ``execute``); ``commit`` and ``end`` close it. Database failures come out
    as ``StorageUnavailable``; constraint violations and the like as psycopg's errors.
    """

    __slots__ = (
        "_cursor",
        "_pending",
        "_pipeline_failed",
        "_timeout",
        "conn",
        "deadline",
    )

    def __init__(self, conn: Connection, deadline: Deadline, timeout: float) -> None:
        self.conn = conn
        self.deadline = deadline
        self._timeout = timeout
        self._cursor = conn.cursor(row_factory=dict_row)
        self._pipeline_failed = False
        # Statements to send with the next round trip; BEGIN first when it is one of them.
        self._pending: list[tuple[Query, Params]] = []

    async def fetch_one(
        self, query: Query, params: Params = None, *, changes: bool = False
    ) -> Row | None:
        """The first row of ``query`` (None without one)."""
        rows = await self._run(query, params, changes=changes)
        return rows[0] if rows else None

    async def fetch_all(
        self, query: Query, params: Params = None, *, changes: bool = False
    ) -> list[Row]:
        """Every row of ``query``."""
        return await self._run(query, params, changes=changes)

    async def execute(self, query: Query, params: Params = None) -> None:
        """A change whose outcome is not needed now: it travels with the next round trip.

        Its failure (a constraint, say) is raised by that round trip.
        """
        self.begin()
        self._pending.append((query, params))

    def begin(self) -> None:
        """Open the transaction now (``BEGIN`` travels with the next statement)."""
        if self.conn.pgconn.transaction_status == _IDLE and not self._pending:
            self._pending.append((_BEGIN, None))

    async def commit(self) -> None:
        """Make the transaction's changes permanent (nothing to do without one)."""
        if self._pending or self.conn.pgconn.transaction_status != _IDLE:
            await self._run(b"COMMIT", None, changes=False)

    async def rollback(self) -> None:
        """Undo the transaction's changes; unsent ones are simply dropped."""
        self._pending.clear()
        if self.conn.pgconn.transaction_status != _IDLE and not self.conn.closed:
            await self._run(b"ROLLBACK", None, changes=False)

    async def end(self) -> None:
        """Roll back whatever was not committed, unless the connection is lost anyway."""
        self._pending.clear()
        if self.conn.closed or self.conn.broken or self.deadline.expired:
            return
        if self.conn.pgconn.transaction_status != _IDLE:
            with contextlib.suppress(StorageUnavailable, psycopg.Error):
                await self._run(b"ROLLBACK", None, changes=False)

    async def _run(self, query: Query, params: Params, *, changes: bool) -> list[Row]:
        if changes:
            self.begin()
        cursor = self._cursor
        with storage_errors(self):
            if self._pending:
                pending, self._pending = self._pending, []
                async with self._pipeline():
                    for statement, values in pending:
                        await self.conn.execute(statement, values)
                    await cursor.execute(query, params)
            else:
                await cursor.execute(query, params)
            result = cursor.pgresult
            if result is None or result.status != _TUPLES_OK:
                return []
            return await cursor.fetchall()

    @contextlib.asynccontextmanager
    async def _pipeline(self) -> AsyncIterator[None]:
        """psycopg's pipeline, remembering whether it failed (see ``reusable``)."""
        try:
            async with self.conn.pipeline():
                yield
        except psycopg.Error:
            self._pipeline_failed = True
            raise

    @property
    def reusable(self) -> bool:
        """False once the deadline cut the connection or a pipeline on it failed: psycopg
        may then remember a statement as prepared that the server skipped, so the
        connection is closed rather than given back to the pool."""
        return not (self.deadline.expired or self._pipeline_failed)

    def describe_failure(self) -> str | None:
        """Why the last failure happened, when it was the deadline."""
        if self.deadline.expired:
            return f"no answer within {self._timeout:g}s"
        return None


def connection_options(timeout: float, *, statement_limit: bool = False) -> dict[str, Any]:
    """Connection parameters every PicPayGo connection uses.

    ``statement_limit``: the server also stops a statement a second after the client's
    deadline, so a statement whose connection was cut does not run on by itself.
    """
    options = "-c TimeZone=UTC"
    if statement_limit:
        options += f" -c statement_timeout={round(timeout * 1000) + 1000}"
    return {
        "connect_timeout": max(1, round(timeout)),
        "options": options,
        "application_name": "picpaygo",
    }


@contextlib.contextmanager
def storage_errors(unit: DatabaseConnection | None = None) -> Iterator[None]:
    """Turn a lost, unreachable or too slow database into ``StorageUnavailable`` (a 503)."""
    try:
        yield
    except (psycopg.OperationalError, psycopg.errors.QueryCanceled, PoolTimeout) as exc:
        reason = unit.describe_failure() if unit is not None else None
        _warn_unavailable(reason or _one_line(exc))
        raise StorageUnavailable(UNAVAILABLE) from exc
    except psycopg.errors.UndefinedTable as exc:
        logger.error("database schema is missing a table: run `picpaygo db migrate`")
        raise StorageUnavailable(UNAVAILABLE) from exc


def outage_known() -> bool:
    """True when this process reported the database unavailable moments ago."""
    return time.monotonic() - _last_warning < WARNING_INTERVAL_SECONDS


def announce_outage() -> bool:
    """True when the caller should report the outage now: not reported in this process
    within ``WARNING_INTERVAL_SECONDS`` (start-up runs the check twice in one process)."""
    global _last_warning
    now = time.monotonic()
    if now - _last_warning < WARNING_INTERVAL_SECONDS:
        return False
    _last_warning = now
    return True


def _warn_unavailable(reason: str) -> None:
    global _last_warning
    now = time.monotonic()
    if now - _last_warning >= WARNING_INTERVAL_SECONDS:
        _last_warning = now
        logger.warning("database unavailable: %s", reason)
    else:
        logger.debug("database unavailable: %s", reason)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__
