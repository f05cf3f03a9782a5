"""Everything a storage holds, copied, to compare before and after a change."""

from __future__ import annotations

import dataclasses

import psycopg
from psycopg import sql

from adapters.memory import MemoryStore, MemoryUnitOfWorkFactory
from adapters.postgres import PostgresUnitOfWorkFactory
from picpaygo_core.ports import UnitOfWorkFactory
from support.postgres import TABLES


def memory_snapshot(store: MemoryStore) -> dict[str, object]:
    """A copy of everything in the store, to compare before and after."""
    copied: dict[str, object] = {}
    for field in dataclasses.fields(store):
        value = getattr(store, field.name)
        if isinstance(value, dict):
            copied[field.name] = {
                key: list(item) if isinstance(item, list) else item for key, item in value.items()
            }
        elif isinstance(value, set):
            copied[field.name] = set(value)
    return copied


async def postgres_snapshot(url: str) -> dict[str, object]:
    """Every committed row of every table the service writes, in primary-key order."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        tables: dict[str, object] = {}
        for table in TABLES:
            query = sql.SQL("SELECT * FROM {} ORDER BY 1").format(sql.Identifier(table))
            tables[table] = await (await conn.execute(query)).fetchall()
    return tables


async def stored_state(uow_factory: UnitOfWorkFactory) -> dict[str, object]:
    """Everything the storage under test holds (committed, for PostgreSQL)."""
    if isinstance(uow_factory, MemoryUnitOfWorkFactory):
        return memory_snapshot(uow_factory.store)
    assert isinstance(uow_factory, PostgresUnitOfWorkFactory)
    return await postgres_snapshot(uow_factory.database.url)
