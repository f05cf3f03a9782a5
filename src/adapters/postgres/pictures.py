"""The database as picture store (``PICTURE_STORE`` unset): objects in ``picture_objects``.

Each operation is one statement on a pooled connection in autocommit, outside any unit
of work, as an object store's request would be: a photo is written before its job's
transaction, and read or deleted after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

from adapters.postgres.database import PostgresDatabase
from adapters.postgres.rows import struct_of
from picpaygo_core.errors import PictureMissing, PictureStoreUnavailable, StorageUnavailable
from picpaygo_core.models import StoredObject

PAGE = 100

_PUT = b"""
INSERT INTO picture_objects (key, data, content_type, size, created_at)
VALUES (%(key)s, %(data)s, %(content_type)s, %(size)s, now())
ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data, content_type = EXCLUDED.content_type,
    size = EXCLUDED.size, created_at = EXCLUDED.created_at
"""
_PAGE = b"""
SELECT key, size, created_at FROM picture_objects
WHERE key > %(after)s AND starts_with(key, %(prefix)s)
ORDER BY key LIMIT %(limit)s
"""


@contextmanager
def _store_errors() -> Iterator[None]:
    try:
        yield
    except StorageUnavailable as exc:
        raise PictureStoreUnavailable from exc


class PostgresPictureStore:
    """Picture bytes in the database, in a ``bytea`` column of their own table."""

    name = "pictureStore"
    description = "the database (table picture_objects)"

    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        params = {"key": key, "data": data, "content_type": content_type, "size": len(data)}
        with _store_errors():
            async with self._database.connection() as conn:
                await conn.fetch_all(_PUT, params)

    async def get(self, key: str) -> bytes:
        with _store_errors():
            async with self._database.connection() as conn:
                row = await conn.fetch_one(
                    b"SELECT data FROM picture_objects WHERE key = %s", (key,)
                )
        if row is None:
            raise PictureMissing
        return bytes(row["data"])

    async def size(self, key: str) -> int | None:
        with _store_errors():
            async with self._database.connection() as conn:
                row = await conn.fetch_one(
                    b"SELECT size FROM picture_objects WHERE key = %s", (key,)
                )
        return int(row["size"]) if row else None

    async def delete(self, key: str) -> None:
        with _store_errors():
            async with self._database.connection() as conn:
                await conn.fetch_all(b"DELETE FROM picture_objects WHERE key = %s", (key,))

    async def download_url(self, key: str) -> str | None:
        """None: the database gives no URL, so the API serves the bytes itself."""
        return None

    async def objects(self, prefix: str) -> AsyncIterator[StoredObject]:
        """Pages of ``PAGE`` keys in order, each read after the last key of the one before."""
        after = ""
        while True:
            with _store_errors():
                async with self._database.connection() as conn:
                    rows = await conn.fetch_all(
                        _PAGE, {"after": after, "prefix": prefix, "limit": PAGE}
                    )
            for row in rows:
                yield struct_of(StoredObject, row)
            if len(rows) < PAGE:
                return
            after = str(rows[-1]["key"])

    async def check(self) -> str | None:
        """The database's own probe says whether it answers; nothing more to check here."""
        return None
