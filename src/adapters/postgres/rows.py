"""Rows read by column name into domain values, and the base of every repository.

A row is a dict of column name to value (psycopg's ``dict_row``), so a column added to a
statement, or in another order, is never read as another field; a column a value needs
that the statement does not return fails loudly (``MissingColumn``), even for a field
with a default.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from adapters.postgres.database import DatabaseConnection, Params, Query, Row

S = TypeVar("S", bound=msgspec.Struct)

_FIELDS: dict[type[Any], frozenset[str]] = {}


class MissingColumn(LookupError):
    """A statement did not return a column that the value read from its row needs."""


def struct_of(cls: type[S], row: Row, prefix: str = "") -> S:
    """A ``cls`` from the columns of ``row`` named as its fields (after ``prefix``, for a
    value read from a joined row); other columns are ignored."""
    if prefix:
        try:
            row = {field: row[prefix + field] for field in cls.__struct_fields__}
        except KeyError as missing:
            raise MissingColumn(f"{cls.__name__} needs column {missing}") from None
    else:
        fields = _FIELDS.get(cls)
        if fields is None:
            fields = _FIELDS[cls] = frozenset(cls.__struct_fields__)
        if not row.keys() >= fields:
            missing_columns = ", ".join(sorted(fields - row.keys()))
            raise MissingColumn(f"{cls.__name__} needs columns {missing_columns}")
    return msgspec.convert(row, cls)


class PostgresRepository:
    """Runs statements on the unit of work's connection; the unit of work owns the
    transaction."""

    def __init__(self, connection: DatabaseConnection) -> None:
        self._db = connection

    async def _one(self, cls: type[S], query: Query, params: Params, **kw: bool) -> S | None:
        row = await self._db.fetch_one(query, params, **kw)
        return struct_of(cls, row) if row is not None else None

    async def _all(self, cls: type[S], query: Query, params: Params, **kw: bool) -> list[S]:
        return [struct_of(cls, row) for row in await self._db.fetch_all(query, params, **kw)]

    async def _delete(self, delete: bytes, params: Params) -> int:
        """Run the ``DELETE`` statement ``delete``; returns how many rows went."""
        row = await self._db.fetch_one(
            b"WITH gone AS (" + delete + b" RETURNING 1) SELECT count(*) FROM gone",
            params,
            changes=True,
        )
        return int(row["count"]) if row else 0
