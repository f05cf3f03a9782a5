"""The picture store port: where the bytes of uploaded photos and generated pictures live.

Keys are relative (``inputs/<jobId>``, ``outputs/<jobId>.png``); a store may keep them
under a prefix of its own. Every operation but ``download_url`` raises
``PictureStoreUnavailable`` when the store cannot be reached, so a caller can tell a
store that is down (try again later) from a picture that is gone (``PictureMissing``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from picpaygo_core.models import StoredObject


class PictureStore(Protocol):
    """Objects by key. Writes are whole (an object is all there or not there) and a key
    written twice holds the second write."""

    name: str  # the store's check in ``/api/health`` (``pictureStore``)

    @property
    def description(self) -> str:
        """What and where the store is, for the start-up log (never a secret)."""
        ...

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Keep ``data`` under ``key`` (replacing any object there)."""
        ...

    async def get(self, key: str) -> bytes:
        """The bytes under ``key``; ``PictureMissing`` when there are none."""
        ...

    async def size(self, key: str) -> int | None:
        """How many bytes the object under ``key`` holds, or None when there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Forget the object under ``key``; nothing happens when there is none."""
        ...

    async def download_url(self, key: str) -> str | None:
        """A short-lived URL a client can GET the object from directly, or None when this
        store cannot give one (the API then serves the bytes itself)."""
        ...

    def objects(self, prefix: str) -> AsyncIterator[StoredObject]:
        """Every object whose key starts with ``prefix``, in key order, in pages; an object
        deleted while the listing runs may or may not be listed."""
        ...

    async def check(self) -> str | None:
        """None when the store answers, otherwise a short sentence saying what is wrong."""
        ...
