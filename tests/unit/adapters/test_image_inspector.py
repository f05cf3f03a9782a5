"""PillowImageInspector: identifies uploads by content and refuses anything else."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from adapters.images import PillowImageInspector
from picpaygo_core.errors import ImageTooLarge, UnsupportedImage
from picpaygo_core.models import ImageInfo
from picpaygo_core.policy import Policy
from support.images import (
    gif_bytes,
    jpeg_bytes,
    oriented_jpeg_bytes,
    pattern_png_bytes,
    png_bomb_bytes,
    png_bytes,
    png_with_alpha_bytes,
    text_bytes,
    truncated_jpeg_bytes,
    webp_bytes,
)

inspector = PillowImageInspector(max_pixels=Policy().max_image_pixels)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (jpeg_bytes(64, 48), "image/jpeg"),
        (png_bytes(64, 48), "image/png"),
        (webp_bytes(64, 48), "image/webp"),
        (png_with_alpha_bytes(64, 48), "image/png"),
    ],
    ids=["jpeg", "png", "webp", "png-alpha"],
)
def test_accepted_formats_report_content_type_and_size(data: bytes, content_type: str) -> None:
    assert inspector.inspect(data) == ImageInfo(content_type=content_type, width=64, height=48)


def test_dimensions_are_read_from_the_file_not_assumed() -> None:
    assert inspector.inspect(png_bytes(7, 300)) == ImageInfo(
        content_type="image/png", width=7, height=300
    )


def test_reported_size_is_as_stored_before_exif_orientation() -> None:
    info = inspector.inspect(oriented_jpeg_bytes(64, 48, orientation=6))
    assert (info.width, info.height) == (64, 48)


@pytest.mark.parametrize(
    "data",
    [gif_bytes(), text_bytes(), b"", truncated_jpeg_bytes(), png_bytes()[:40]],
    ids=["gif", "text", "empty", "truncated-jpeg", "truncated-png"],
)
def test_other_or_broken_files_are_unsupported(data: bytes) -> None:
    with pytest.raises(UnsupportedImage):
        inspector.inspect(data)


def test_png_with_bad_crc_is_unsupported() -> None:
    data = bytearray(png_bytes())
    data[-13] ^= 0xFF  # last byte of the IDAT CRC (IEND is the final 12 bytes)
    with pytest.raises(UnsupportedImage):
        inspector.inspect(bytes(data))


def test_content_type_comes_from_content_even_with_a_misleading_prefix() -> None:
    # A PNG signature glued in front of a JPEG is neither.
    with pytest.raises(UnsupportedImage):
        inspector.inspect(b"\x89PNG\r\n\x1a\n" + jpeg_bytes())


def test_decompression_bomb_is_refused_quickly() -> None:
    bomb = png_bomb_bytes(50_000, 50_000)
    assert len(bomb) < 200
    started = time.perf_counter()
    with pytest.raises(ImageTooLarge) as caught:
        inspector.inspect(bomb)
    assert time.perf_counter() - started < 1.0
    assert "50 megapixels" in caught.value.message


def test_image_over_our_limit_but_under_pillows_is_refused_with_its_size() -> None:
    with pytest.raises(ImageTooLarge) as caught:
        inspector.inspect(png_bomb_bytes(8_000, 8_000))
    assert caught.value.message == (
        "The image is 8000\u00d78000 pixels; the limit is 50 megapixels."
    )


def test_pillow_bomb_warning_range_is_refused() -> None:
    # 100 MP: Pillow warns (it does not raise) before our own check refuses it.
    with pytest.warns(Image.DecompressionBombWarning), pytest.raises(ImageTooLarge):
        inspector.inspect(png_bomb_bytes(10_000, 10_000))


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_pillow_bomb_warning_turned_error_is_image_too_large() -> None:
    with pytest.raises(ImageTooLarge):
        inspector.inspect(png_bomb_bytes(10_000, 10_000))


def test_max_pixels_boundary() -> None:
    data = png_bytes(40, 25)  # exactly 1000 pixels
    assert PillowImageInspector(max_pixels=1000).inspect(data).width == 40
    with pytest.raises(ImageTooLarge):
        PillowImageInspector(max_pixels=999).inspect(data)


def test_max_pixels_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_pixels"):
        PillowImageInspector(max_pixels=0)


def _only_domain_outcomes(data: bytes) -> None:
    try:
        result = inspector.inspect(data)
    except (UnsupportedImage, ImageTooLarge):
        return
    assert isinstance(result, ImageInfo)
    assert result.content_type in {"image/jpeg", "image/png", "image/webp"}
    assert result.width > 0
    assert result.height > 0


_PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@_PROPERTY_SETTINGS
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_escape_as_other_errors(data: bytes) -> None:
    _only_domain_outcomes(data)


_VALID = {
    "png": pattern_png_bytes(24, 16),
    "jpeg": jpeg_bytes(24, 16),
    "webp": webp_bytes(24, 16),
}


@_PROPERTY_SETTINGS
@given(
    st.sampled_from(sorted(_VALID)),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=8),
    st.one_of(st.none(), st.integers(min_value=0)),
)
def test_corrupted_images_never_escape_as_other_errors(
    kind: str, corruptions: list[tuple[int, int]], cut: int | None
) -> None:
    data = bytearray(_VALID[kind])
    for position, value in corruptions:
        data[position % len(data)] = value
    if cut is not None:
        del data[cut % len(data) :]
    _only_domain_outcomes(bytes(data))
