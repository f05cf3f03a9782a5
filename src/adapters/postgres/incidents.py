"""PostgreSQL incidents: ongoing problems an operator must fix, one row per source."""

from __future__ import annotations

import msgspec

from adapters.postgres.rows import PostgresRepository
from picpaygo_core.models import Incident


class PostgresIncidentRepository(PostgresRepository):
    """Open incidents, one row per source (the primary key keeps it to one)."""

    async def open(self, incident: Incident) -> bool:
        row = await self._db.fetch_one(
            b"INSERT INTO incidents (source, message, started_at) "
            b"VALUES (%(source)s, %(message)s, %(started_at)s) "
            b"ON CONFLICT (source) DO NOTHING RETURNING source",
            msgspec.structs.asdict(incident),
            changes=True,
        )
        return row is not None

    async def close(self, source: str) -> Incident | None:
        return await self._one(
            Incident,
            b"DELETE FROM incidents WHERE source = %s RETURNING source, message, started_at",
            (source,),
            changes=True,
        )

    async def list_open(self) -> list[Incident]:
        return await self._all(
            Incident,
            b"SELECT source, message, started_at FROM incidents ORDER BY started_at",
            None,
        )
