"""The in-memory picture store: objects in this process's memory (``DATABASE_URL=memory://``
without ``PICTURE_STORE``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from picpaygo_core.errors import PictureMissing
from picpaygo_core.models import StoredObject
from picpaygo_core.ports import Clock

PAGE = 100


class MemoryPictureStore:
    """Objects by key, with the time each was written."""

    name = "pictureStore"
    description = "in memory, with the rest of the storage"

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._objects: dict[str, tuple[bytes, StoredObject]] = {}

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        stored = StoredObject(key=key, size=len(data), created_at=self._clock.now())
        self._objects[key] = (bytes(data), stored)

    async def get(self, key: str) -> bytes:
        found = self._objects.get(key)
        if found is None:
            raise PictureMissing
        return found[0]

    async def size(self, key: str) -> int | None:
        found = self._objects.get(key)
        return found[1].size if found else None

    async def delete(self, key: str) -> None:
        self._objects.pop(key, None)

    async def download_url(self, key: str) -> str | None:
        """None: the API serves the bytes itself."""
        return None

    async def objects(self, prefix: str) -> AsyncIterator[StoredObject]:
        """Pages of keys in order, read afresh after each page (as the other stores)."""
        after = ""
        while True:
            keys = sorted(k for k in self._objects if k.startswith(prefix) and k > after)[:PAGE]
            for key in keys:
                if key in self._objects:
                    yield self._objects[key][1]
            if len(keys) < PAGE:
                return
            after = keys[-1]

    async def check(self) -> str | None:
        return None
