"""Images: uploaded photos and generated pictures."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

# File name extensions of generated pictures, by content type.
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


class StoredImage(msgspec.Struct, frozen=True, kw_only=True):
    """An uploaded photo or a generated picture as the database knows it: where its bytes
    are in the picture store (``key``), how many there are, and what they are. The bytes
    themselves are the picture store's."""

    id: UUID
    key: str
    size: int
    content_type: str
    created_at: datetime


class Picture(msgspec.Struct, frozen=True, kw_only=True):
    """A picture's bytes, read back from the picture store, with their content type."""

    data: bytes
    content_type: str


class PictureLink(msgspec.Struct, frozen=True, kw_only=True):
    """Where a client fetches a picture itself: a short-lived signed URL of the store."""

    url: str


class StoredObject(msgspec.Struct, frozen=True, kw_only=True):
    """An object in the picture store, as its listing shows it."""

    key: str
    size: int
    created_at: datetime


def input_key(job_id: UUID) -> str:
    """The picture store's key of a job's uploaded photo."""
    return f"inputs/{job_id}"


def output_key(job_id: UUID, content_type: str) -> str:
    """The picture store's key of a job's generated picture (its extension by type)."""
    return f"outputs/{job_id}.{EXTENSIONS.get(content_type, 'bin')}"


class ImageInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What an uploaded file turned out to be once its content was read."""

    content_type: str
    width: int
    height: int


class CleanImage(msgspec.Struct, frozen=True, kw_only=True):
    """An upload decoded and encoded again: upright, without metadata (ICC profile aside)."""

    info: ImageInfo
    data: bytes
