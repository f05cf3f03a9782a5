"""Images: uploaded photos and generated pictures."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec


class StoredImage(msgspec.Struct, frozen=True, kw_only=True):
    """Image bytes kept by the service: an uploaded photo or a generated picture."""

    id: UUID
    data: bytes
    content_type: str
    created_at: datetime


class ImageInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What an uploaded file turned out to be once its content was read."""

    content_type: str
    width: int
    height: int


class CleanImage(msgspec.Struct, frozen=True, kw_only=True):
    """An upload decoded and encoded again: upright, without metadata (ICC profile aside)."""

    info: ImageInfo
    data: bytes
