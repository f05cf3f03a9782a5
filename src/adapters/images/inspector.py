"""Identify uploaded photos by their content, with Pillow.

The client's declared content type is never trusted: the bytes decide. Only JPEG, PNG
and WebP are accepted. The pixel count is checked from the header, before any pixel
data is decoded, so a decompression bomb is refused without being allocated.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Final

from PIL import Image, ImageOps

from picpaygo_core.errors import ImageTooLarge, UnsupportedImage
from picpaygo_core.models import CleanImage, ImageInfo

_CONTENT_TYPES: Final[dict[str, str]] = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
}
_FORMATS: Final[tuple[str, ...]] = tuple(_CONTENT_TYPES)
_TIMES: Final = "\u00d7"  # MULTIPLICATION SIGN, for "4000 by 3000" sizes
_PILLOW_PIXELS = re.compile(r"\((\d+) pixels\)")


class PillowImageInspector:
    """Reads an upload's format and size from its bytes (an ``ImageInspector``).

    ``max_pixels`` caps ``width * height``. Pillow's own decompression-bomb guard
    (``Image.MAX_IMAGE_PIXELS``, left untouched here) still applies on top, so a limit
    above Pillow's is effectively capped by it; both are reported as ``ImageTooLarge``.

    Animated PNG and WebP files are accepted; only their first frame is decoded here
    (and used by generators). The reported width and height are those stored in the
    file, before any EXIF orientation is applied.
    """

    def __init__(self, *, max_pixels: int) -> None:
        if max_pixels <= 0:
            raise ValueError("max_pixels must be positive")
        self.max_pixels = max_pixels

    def inspect(self, data: bytes) -> ImageInfo:
        """Identify ``data``.

        Raises ``UnsupportedImage`` unless it is a complete, decodable JPEG, PNG or WebP,
        and ``ImageTooLarge`` when it has more than ``max_pixels`` pixels. Nothing else
        escapes, whatever the bytes.
        """
        return self._read(data, self._inspect)

    def read_header(self, data: bytes) -> ImageInfo:
        """Format and size from the file's header alone: no pixel is decoded.

        Raises ``UnsupportedImage`` for anything but a JPEG, PNG or WebP header and
        ``ImageTooLarge`` past ``max_pixels``; cheap enough for the request path.
        """
        return self._read(data, self._read_header)

    def clean(self, data: bytes) -> CleanImage:
        """Decode the photo fully and encode it again without its metadata.

        EXIF (GPS, camera make and model, maker notes), XMP, IPTC, JPEG comments and text
        chunks are dropped; the ICC colour profile is kept, and the EXIF orientation is
        applied to the pixels, so the picture looks the same and says nothing else. Only
        the first frame of an animation is kept. Same format as the upload. Raises like ``inspect``.
        """
        info = self.inspect(data)
        try:
            return CleanImage(info=info, data=self._reencode(data, info))
        except (ImageTooLarge, UnsupportedImage):
            raise
        except Exception as exc:
            raise UnsupportedImage() from exc

    def _reencode(self, data: bytes, info: ImageInfo) -> bytes:
        with Image.open(io.BytesIO(data), formats=_FORMATS) as im:
            icc_profile = im.info.get("icc_profile")
            transparency = im.info.get("transparency")
            upright = ImageOps.exif_transpose(im)  # a new image, never ``im`` itself
            # Encoders fall back on the image's own ``info`` for what they are not given
            # (Pillow's JPEG writer copies the upload's COM comment that way): the new
            # image keeps none of it. What is picture rather than metadata (the ICC
            # profile, a PNG's transparent colour) is passed on explicitly.
            upright.info = {}
            fmt = next(f for f, t in _CONTENT_TYPES.items() if t == info.content_type)
            if fmt == "JPEG" and upright.mode not in ("RGB", "L", "CMYK"):
                upright = upright.convert("RGB")
            out = io.BytesIO()
            options: dict[str, object] = {"icc_profile": icc_profile} if icc_profile else {}
            if fmt in ("JPEG", "WEBP"):
                options.update(quality=95)
            elif transparency is not None:
                options.update(transparency=transparency)
            upright.save(out, format=fmt, **options)
            return out.getvalue()

    def _read(self, data: bytes, read: Callable[[bytes], ImageInfo]) -> ImageInfo:
        """``read(data)``, with whatever Pillow raises turned into ``UnsupportedImage``
        or ``ImageTooLarge``."""
        if not data:
            raise UnsupportedImage()
        try:
            return read(data)
        except (ImageTooLarge, UnsupportedImage):
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            # Pillow's own guard fired while reading the header (the warning only
            # arrives here as an exception when warnings are configured as errors).
            raise ImageTooLarge(self._pillow_bomb_message(exc)) from exc
        except Exception as exc:  # anything Pillow raises for bytes it cannot read
            raise UnsupportedImage() from exc

    def _read_header(self, data: bytes) -> ImageInfo:
        with Image.open(io.BytesIO(data), formats=_FORMATS) as im:
            return self._header_info(im)

    def _header_info(self, im: Image.Image) -> ImageInfo:
        width, height = im.size
        content_type = _CONTENT_TYPES.get(im.format or "")
        if content_type is None or width <= 0 or height <= 0:
            raise UnsupportedImage()
        if width * height > self.max_pixels:
            raise ImageTooLarge(self._too_large_message(width, height))
        return ImageInfo(content_type=content_type, width=width, height=height)

    def _inspect(self, data: bytes) -> ImageInfo:
        # First open: header only (Image.open is lazy), then check chunk integrity.
        with Image.open(io.BytesIO(data), formats=_FORMATS) as im:
            info = self._header_info(im)
            im.verify()  # PNG: checks every chunk's CRC; a no-op for JPEG/WebP.
        # Second open: decode the (first frame's) pixels; catches truncated files.
        with Image.open(io.BytesIO(data), formats=_FORMATS) as im:
            if im.size != (info.width, info.height):
                raise UnsupportedImage()
            im.load()
        return info

    def _limit_text(self) -> str:
        megapixels = self.max_pixels / 1_000_000
        if megapixels >= 1:
            return f"{megapixels:g} megapixels"
        return f"{self.max_pixels:,} pixels"

    def _too_large_message(self, width: int, height: int) -> str:
        size = f"{width}{_TIMES}{height}"
        return f"The image is {size} pixels; the limit is {self._limit_text()}."

    def _pillow_bomb_message(self, exc: Exception) -> str:
        match = _PILLOW_PIXELS.search(str(exc))
        if match is None:
            return f"The image is too large; the limit is {self._limit_text()}."
        megapixels = int(match.group(1)) / 1_000_000
        return f"The image has {megapixels:,.0f} megapixels; the limit is {self._limit_text()}."
