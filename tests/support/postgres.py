"""Throwaway PostgreSQL databases for tests: made at the start of a run, dropped at its end.

The server is found through ``PICPAYGO_TEST_POSTGRES`` (an admin URL, by default the
local server's ``postgres`` database). These helpers are synchronous so that session
fixtures can use them; async work runs in a thread of its own (``blocking``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from adapters.postgres import PostgresDatabase, migrate

T = TypeVar("T")

ADMIN_URL = os.environ.get(
    "PICPAYGO_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
UNREACHABLE = "PostgreSQL is not reachable at {url} ({reason})"

# Every table the service writes to.
TABLES = (
    "account_tokens",
    "mail_outbox",
    "account_events",
    "sessions",
    "credit_ledger",
    "purchases",
    "payment_reversals",
    "credits",
    "free_credits",
    "jobs",
    "images",
    "picture_objects",
    "auth_attempts",
    "incidents",
    "idempotency_keys",
    "users",
)


def blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to the end from synchronous code, even inside a running loop."""
    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, coroutine).result()


def database_url(name: str) -> str:
    """The URL of database ``name`` on the test server."""
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


def unreachable_reason() -> str | None:
    """None when the test server answers, else why not (one line)."""
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        lines = str(exc).strip().splitlines()
        return lines[-1].strip() if lines else type(exc).__name__


@contextlib.contextmanager
def throwaway_database(*, migrated: bool = True, admin_url: str = ADMIN_URL) -> Iterator[str]:
    """Create a fresh database (with the schema applied) on the server of ``admin_url``,
    yield its URL, then drop it."""
    name = f"picpaygo_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = f"{admin_url.rpartition('/')[0]}/{name}"
    try:
        if migrated:
            blocking(migrate(PostgresDatabase(url, pool_size=1)))
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def empty_tables(url: str) -> None:
    """Delete every row the service wrote (bypassing the ledger's append-only trigger)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(map(sql.Identifier, TABLES))))


def applied_versions(url: str) -> list[int]:
    """The versions in the database's ``schema_migrations``, lowest first."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    return [row[0] for row in rows]


@contextlib.asynccontextmanager
async def opened(database: PostgresDatabase) -> AsyncIterator[PostgresDatabase]:
    """``database`` with its connection pool open; closed on exit."""
    await database.open()
    try:
        yield database
    finally:
        await database.close()
