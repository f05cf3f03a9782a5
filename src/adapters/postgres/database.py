"""The connection pool every PostgreSQL adapter shares, and the mapping of its failures.

The pool is opened explicitly (``await database.open()``) by whoever runs the
service (the HTTP app's lifespan, ``picpaygo worker``, the CLI) and closed the same
way. Broken connections are noticed before they are handed out and replaced in the
background, so the service recovers by itself when the database comes back.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from picpaygo_core.errors import StorageUnavailable

logger = logging.getLogger(__name__)

Connection = psycopg.AsyncConnection[TupleRow]

UNAVAILABLE = "The database is unavailable right now; try again shortly."
# During an outage every request fails the same way: warn once per interval, not each time.
WARNING_INTERVAL_SECONDS = 10.0
_last_warning = 0.0


class PostgresDatabase:
    """A lazily opened ``AsyncConnectionPool`` over one database URL.

    ``timeout`` bounds both connecting and waiting for a free connection, so a request
    made while the database is down fails within that many seconds instead of hanging.
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
            check=AsyncConnectionPool.check_connection,
            kwargs=connection_options(timeout),
            name="picpaygo",
        )
        self._opened = False

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

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A pooled connection (not in autocommit): the caller commits or rolls back."""
        with storage_errors():
            conn = await self._pool.getconn()
        try:
            yield conn
        finally:
            await self._pool.putconn(conn)

    async def connect_directly(self, *, autocommit: bool = True) -> Connection:
        """A connection of its own, outside the pool (for LISTEN and migrations)."""
        with storage_errors():
            return await psycopg.AsyncConnection.connect(
                self.url, autocommit=autocommit, **connection_options(self.timeout)
            )


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
