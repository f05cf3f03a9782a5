"""Image adapters: reading uploads with Pillow, and an offline stand-in for the image model."""

from __future__ import annotations

from adapters.images.inspector import PillowImageInspector
from adapters.images.offline_generator import OfflineImageGenerator

__all__ = ["OfflineImageGenerator", "PillowImageInspector"]
