"""Numbered SQL migrations shipped in this package, applied in order, each exactly once.

Files are named ``NNNN_description.sql``. ``migrate`` takes a PostgreSQL advisory lock
first, so several processes starting together apply each migration once: the others
wait for the lock and then find nothing left to do.
"""

from __future__ import annotations

import re
from importlib import resources

import msgspec

from adapters.postgres.database import Connection, PostgresDatabase, storage_errors

# Any constant shared by every PicPayGo process; it only has to differ from other apps'.
ADVISORY_LOCK_KEY = 0x5049_4350_4159  # "PICPAY"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_APPLIED_VERSIONS = b"SELECT version FROM schema_migrations"
_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class Migration(msgspec.Struct, frozen=True, kw_only=True):
    """One SQL file of schema changes."""

    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    """Every migration shipped with the package, oldest first."""
    found: list[Migration] = []
    for entry in resources.files("adapters.postgres").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(
                Migration(
                    version=int(match[1]), name=match[2], sql=entry.read_text(encoding="utf-8")
                )
            )
    return sorted(found, key=lambda m: m.version)


async def migrate(database: PostgresDatabase) -> list[Migration]:
    """Apply every migration not yet recorded; returns those this call applied."""
    applied: list[Migration] = []
    conn = await database.connect_directly(autocommit=True)
    try:
        with storage_errors():
            await conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
            try:
                await conn.execute(_CREATE_TABLE)
                done = await _applied_versions(conn)
                for migration in available_migrations():
                    if migration.version in done:
                        continue
                    async with conn.transaction():
                        await conn.execute(migration.sql.encode())
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                            (migration.version, migration.name),
                        )
                    applied.append(migration)
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    finally:
        await conn.close()
    return applied


async def pending_migrations(database: PostgresDatabase) -> list[Migration]:
    """Migrations shipped with the package that the database has not had yet."""
    async with database.connection() as conn:
        table = await conn.fetch_one(
            b"SELECT to_regclass('schema_migrations') IS NOT NULL AS present"
        )
        rows = await conn.fetch_all(_APPLIED_VERSIONS) if table and table["present"] else []
    done = {row["version"] for row in rows}
    return [m for m in available_migrations() if m.version not in done]


async def _applied_versions(conn: Connection) -> set[int]:
    rows = await (await conn.execute(_APPLIED_VERSIONS)).fetchall()
    return {row[0] for row in rows}
