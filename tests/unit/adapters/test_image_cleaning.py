"""Uploads are read from their header first, and cleaned of metadata before use."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from adapters.images import PillowImageInspector
from picpaygo_core.errors import ImageTooLarge, UnsupportedImage
from support.images import (
    carries_metadata,
    jpeg_bytes,
    jpeg_markers,
    photo_with_metadata_bytes,
    png_bomb_bytes,
    text_bytes,
)

FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_cleaning_drops_gps_camera_and_xmp_and_applies_the_orientation(fmt: str) -> None:
    photo = photo_with_metadata_bytes(fmt, width=64, height=48, orientation=6)
    assert {"SecretCam", "GPS", "orientation"} <= set(carries_metadata(photo))

    clean = PillowImageInspector(max_pixels=50_000_000).clean(photo)

    assert carries_metadata(clean.data) == []
    assert clean.info.content_type == FORMATS[fmt]
    with Image.open(io.BytesIO(clean.data)) as image:
        assert image.format == fmt
        assert image.size == (48, 64)  # turned upright


def test_a_jpeg_loses_its_comment_iptc_xmp_and_exif_segments() -> None:
    photo = photo_with_metadata_bytes("JPEG", width=64, height=48, orientation=1)
    assert {"COM", "IPTC", "XMP", "SecretCam"} <= set(carries_metadata(photo))
    assert {0xFE, 0xED, 0xE1} <= set(jpeg_markers(photo))  # COM, APP13 (IPTC), APP1

    clean = PillowImageInspector(max_pixels=50_000_000).clean(photo)

    assert carries_metadata(clean.data) == []
    assert not {0xFE, 0xED, 0xE1} & set(jpeg_markers(clean.data))


def test_cleaning_keeps_the_icc_profile() -> None:
    profile = b"\x00\x00\x02\x0cfake-icc-profile" + bytes(500)
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 200, 30)).save(out, "JPEG", icc_profile=profile)

    clean = PillowImageInspector(max_pixels=50_000_000).clean(out.getvalue())

    with Image.open(io.BytesIO(clean.data)) as image:
        assert image.info.get("icc_profile") == profile


@pytest.mark.parametrize("mode", ["P", "L", "RGB"])
def test_cleaning_keeps_a_pngs_transparent_colour(mode: str) -> None:
    colour = 0 if mode in ("P", "L") else (0, 0, 0)
    buffer = io.BytesIO()
    Image.new(mode, (32, 24)).save(buffer, format="PNG", transparency=colour)

    clean = PillowImageInspector(max_pixels=50_000_000).clean(buffer.getvalue())

    with Image.open(io.BytesIO(clean.data)) as image:
        assert image.info.get("transparency") == colour


def test_the_header_is_read_without_decoding_pixels() -> None:
    inspector = PillowImageInspector(max_pixels=10_000)

    assert inspector.read_header(jpeg_bytes(64, 48)).width == 64
    with pytest.raises(ImageTooLarge):
        inspector.read_header(png_bomb_bytes())  # claims 50,000 x 50,000; a few bytes long
    with pytest.raises(UnsupportedImage):
        inspector.read_header(text_bytes())
