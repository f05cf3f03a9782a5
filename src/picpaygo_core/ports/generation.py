"""Ports for generation: reading uploads, the image model, and waking idle workers."""

from __future__ import annotations

from typing import Protocol

from picpaygo_core.models import Category, CleanImage, GenerationOutcome, ImageInfo


class ImageInspector(Protocol):
    def inspect(self, data: bytes) -> ImageInfo:
        """Identify an image by its content.

        Raises ``UnsupportedImage`` unless it is a readable JPEG, PNG or WebP, and
        ``ImageTooLarge`` when its pixel count is over the limit (decompression bombs).
        """
        ...

    def read_header(self, data: bytes) -> ImageInfo:
        """Like ``inspect``, from the header alone: cheap, no pixel decoded."""
        ...

    def clean(self, data: bytes) -> CleanImage:
        """Decode fully and re-encode upright, without metadata (ICC profile kept).

        Raises like ``inspect``. Slow and memory-hungry for big photos: run it off the
        event loop, a bounded number at a time.
        """
        ...


class ImageGenerator(Protocol):
    name: str

    async def generate(
        self, *, prompt: str, category: Category, image: bytes, content_type: str
    ) -> GenerationOutcome:
        """Restyle ``image``. Never raises for a provider problem: it returns an outcome."""
        ...


class JobWakeup(Protocol):
    def notify(self) -> None:
        """Tell idle workers that a job may be waiting."""
        ...

    async def wait(self, max_seconds: float) -> None:
        """Return when notified or after ``max_seconds``, whichever comes first."""
        ...
