"""An image generator that works without any provider: a deterministic Pillow restyle.

Used when no OpenRouter key is configured, so the whole product flow (upload, job,
worker, result) can be run and tested offline. Each category gets a visibly different
look; the same input always gives byte-identical output.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Callable
from typing import Final

from PIL import Image, ImageChops, ImageEnhance, ImageFilter, ImageOps

from picpaygo_core.models import (
    Category,
    Generated,
    GenerationOutcome,
    PermanentFailure,
)

UNREADABLE_MESSAGE: Final = "The photo could not be read."
_INPUT_FORMATS: Final = ("JPEG", "PNG", "WEBP")
_EDITORIAL_RATIO: Final = 4 / 5  # width / height


def _lut(function: Callable[[int], float]) -> list[int]:
    """A 256-entry lookup table from ``function``, rounded and clipped to 0..255."""
    return [max(0, min(255, round(function(value)))) for value in range(256)]


# Lookup tables are built once; they are plain data, not Pillow state.
_WARM_LUT: Final = (
    _lut(lambda v: v * 1.06 + 8) + _lut(lambda v: v * 1.01 + 3) + _lut(lambda v: v * 0.88)
)
_VIGNETTE_MASK_LUT: Final = _lut(lambda v: 0 if v < 100 else (v - 100) * 0.9)
_LIFTED_BLACKS_LUT: Final = _lut(lambda v: 24 + v * (250 - 24) / 255)
_GRAIN_LUT: Final = _lut(lambda v: 128 + (v - 128) * 0.12)


class OfflineImageGenerator:
    """Restyles a photo locally with Pillow (an ``ImageGenerator`` that needs no network).

    - portraits: warm tones, a soft glow and a gentle vignette;
    - editorial: cropped to 4:5 around the centre, high contrast, punchy colour;
    - documentary: black and white with lifted blacks and film grain (the grain is
      seeded from the input bytes, so it is deterministic).

    The EXIF orientation is applied, any colour mode is converted to RGB (transparency
    becomes white) and the long side is scaled down to ``max_side`` pixels. The output is
    always PNG. The prompt is ignored. It never raises for a bad photo: unreadable input
    gives a ``PermanentFailure``.
    """

    name = "offline"

    def __init__(self, max_side: int = 2048) -> None:
        if max_side <= 0:
            raise ValueError("max_side must be positive")
        self.max_side = max_side

    async def generate(
        self, *, prompt: str, category: Category, image: bytes, content_type: str
    ) -> GenerationOutcome:
        """Restyle ``image`` for ``category`` in a worker thread; returns PNG bytes."""
        return await asyncio.to_thread(self.generate_sync, category=category, image=image)

    def generate_sync(self, *, category: Category, image: bytes) -> GenerationOutcome:
        """The blocking work behind ``generate``, for callers already off the event loop."""
        try:
            picture = self._load(image)
            if category is Category.PORTRAITS:
                styled = _portrait(picture)
            elif category is Category.EDITORIAL:
                styled = _editorial(picture)
            else:
                styled = _documentary(picture, seed=hashlib.sha256(image).digest())
            out = io.BytesIO()
            styled.save(out, format="PNG")
        except Exception:  # unreadable or unsupported input; never raised to the caller
            return PermanentFailure(message=UNREADABLE_MESSAGE)
        return Generated(data=out.getvalue(), content_type="image/png")

    def _load(self, data: bytes) -> Image.Image:
        """Decode, orient, convert to RGB and downscale ``data``."""
        with Image.open(io.BytesIO(data), formats=_INPUT_FORMATS) as opened:
            # JPEG only: decode at a reduced scale when the photo is far larger than
            # needed. Never goes below max_side on either side.
            opened.draft(None, (self.max_side, self.max_side))
            opened.load()
            oriented = ImageOps.exif_transpose(opened)
        rgb = _to_rgb(oriented)
        if max(rgb.size) > self.max_side:
            rgb.thumbnail((self.max_side, self.max_side), Image.Resampling.LANCZOS)
        if rgb.width < 1 or rgb.height < 1:
            raise ValueError("empty image")
        return rgb


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to RGB; transparent areas become white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        # 16-bit / float greyscale: scale to 8 bits instead of clipping to white.
        image = image.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _portrait(image: Image.Image) -> Image.Image:
    """Warm, soft and glowing, with a gentle vignette."""
    warm = image.point(_WARM_LUT)
    radius = max(1.0, max(image.size) / 160)
    blurred = warm.filter(ImageFilter.GaussianBlur(radius))
    soft = Image.blend(warm, blurred, 0.3)
    glowing = Image.blend(soft, ImageChops.screen(soft, blurred), 0.3)
    mask = Image.radial_gradient("L").resize(image.size, Image.Resampling.BILINEAR)
    mask = mask.point(_VIGNETTE_MASK_LUT)
    darker = ImageEnhance.Brightness(glowing).enhance(0.6)
    return Image.composite(darker, glowing, mask)


def _editorial(image: Image.Image) -> Image.Image:
    """Centre-cropped to 4:5, high contrast, saturated and crisp."""
    width, height = image.size
    if width / height > _EDITORIAL_RATIO:
        new_width = max(1, round(height * _EDITORIAL_RATIO))
        left = (width - new_width) // 2
        box = (left, 0, left + new_width, height)
    else:
        new_height = max(1, round(width / _EDITORIAL_RATIO))
        top = (height - new_height) // 2
        box = (0, top, width, top + new_height)
    cropped = image.crop(box)
    punchy = ImageOps.autocontrast(cropped, cutoff=0.5, preserve_tone=True)
    punchy = ImageEnhance.Contrast(punchy).enhance(1.2)
    punchy = ImageEnhance.Color(punchy).enhance(1.3)
    return ImageEnhance.Sharpness(punchy).enhance(1.5)


def _documentary(image: Image.Image, *, seed: bytes) -> Image.Image:
    """Black and white, slightly lifted blacks, deterministic film grain (mode ``L``)."""
    grey = ImageOps.grayscale(image)
    grey = ImageEnhance.Contrast(grey).enhance(1.25)
    grey = grey.point(_LIFTED_BLACKS_LUT)
    noise_bytes = hashlib.shake_256(b"picpaygo-grain:" + seed).digest(grey.width * grey.height)
    grain = Image.frombytes("L", grey.size, noise_bytes).point(_GRAIN_LUT)
    # grey + grain - 128, clipped: grain is centred on 128 so it adds about ±15.
    return ImageChops.add(grey, grain, scale=1.0, offset=-128)
