"""OfflineImageGenerator: a deterministic, visibly different Pillow restyle per category."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops

from adapters.images import OfflineImageGenerator
from picpaygo_core.models import Category, Generated, PermanentFailure
from support.images import (
    gif_bytes,
    jpeg_bytes,
    oriented_jpeg_bytes,
    pattern_png_bytes,
    png_bytes,
    png_with_alpha_bytes,
    text_bytes,
    truncated_jpeg_bytes,
    webp_bytes,
)

generator = OfflineImageGenerator()


async def _generate(category: Category, image: bytes, gen: OfflineImageGenerator = generator):
    return await gen.generate(
        prompt="ignored offline", category=category, image=image, content_type="image/jpeg"
    )


async def _picture(category: Category, image: bytes) -> Image.Image:
    outcome = await _generate(category, image)
    assert isinstance(outcome, Generated)
    assert outcome.content_type == "image/png"
    picture = Image.open(io.BytesIO(outcome.data))
    assert picture.format == "PNG"
    picture.load()
    return picture


def test_name() -> None:
    assert OfflineImageGenerator.name == "offline"
    assert generator.name == "offline"


@pytest.mark.parametrize("category", list(Category))
@pytest.mark.parametrize(
    "image",
    [
        jpeg_bytes(80, 60),
        png_bytes(80, 60),
        webp_bytes(80, 60),
        png_with_alpha_bytes(80, 60),
        pattern_png_bytes(80, 60),
    ],
    ids=["jpeg", "png", "webp", "png-alpha", "pattern"],
)
async def test_each_category_returns_a_png(category: Category, image: bytes) -> None:
    picture = await _picture(category, image)
    assert picture.width > 0
    assert picture.height > 0


@pytest.mark.parametrize("mode", ["L", "LA", "P", "CMYK", "I;16", "RGBA", "1"])
async def test_any_colour_mode_is_handled(mode: str) -> None:
    source = Image.new("RGB", (40, 30), (30, 160, 90)).convert(mode)
    out = io.BytesIO()
    source.save(out, format="JPEG" if mode == "CMYK" else "PNG")
    for category in Category:
        await _picture(category, out.getvalue())


@pytest.mark.parametrize("category", list(Category))
async def test_same_input_gives_identical_bytes(category: Category) -> None:
    image = pattern_png_bytes(120, 90)
    first = await _generate(category, image)
    second = await _generate(category, image)
    assert isinstance(first, Generated)
    assert first == second


async def test_categories_give_different_pictures() -> None:
    image = pattern_png_bytes(120, 90)
    outputs = {category: await _generate(category, image) for category in Category}
    datas = [outcome.data for outcome in outputs.values() if isinstance(outcome, Generated)]
    assert len(set(datas)) == len(Category)


async def test_output_differs_from_the_input_picture() -> None:
    source = Image.open(io.BytesIO(pattern_png_bytes(120, 90))).convert("RGB")
    picture = (await _picture(Category.PORTRAITS, pattern_png_bytes(120, 90))).convert("RGB")
    assert picture.size == source.size
    assert ImageChops.difference(source, picture).getbbox() is not None


async def test_documentary_is_grayscale_with_grain() -> None:
    picture = (await _picture(Category.DOCUMENTARY, pattern_png_bytes(120, 90))).convert("RGB")
    red, green, blue = picture.split()
    assert ImageChops.difference(red, green).getbbox() is None
    assert ImageChops.difference(green, blue).getbbox() is None
    # Grain: a flat grey input does not come back flat.
    flat = await _picture(Category.DOCUMENTARY, png_bytes(64, 64, (128, 128, 128)))
    low, high = flat.convert("L").getextrema()
    assert high - low >= 10


async def test_documentary_grain_depends_on_the_input() -> None:
    a = await _generate(Category.DOCUMENTARY, png_bytes(64, 64, (128, 128, 128)))
    b = await _generate(Category.DOCUMENTARY, png_bytes(64, 64, (129, 128, 128)))
    assert a != b


async def test_documentary_lifts_the_blacks() -> None:
    picture = await _picture(Category.DOCUMENTARY, png_bytes(64, 64, (0, 0, 0)))
    low, _ = picture.convert("L").getextrema()
    assert low > 0  # pure black comes back as a dark grey, grain included


@pytest.mark.parametrize(("width", "height"), [(120, 90), (90, 120), (50, 200), (300, 30)])
async def test_editorial_is_cropped_to_four_by_five(width: int, height: int) -> None:
    picture = await _picture(Category.EDITORIAL, pattern_png_bytes(width, height))
    assert abs(picture.width - picture.height * 4 / 5) <= 1
    assert picture.width <= width
    assert picture.height <= height


@pytest.mark.parametrize("category", list(Category))
async def test_large_input_is_downscaled(category: Category) -> None:
    picture = await _picture(category, jpeg_bytes(3000, 1000))
    assert max(picture.size) <= 2048
    if category is not Category.EDITORIAL:
        assert picture.size == (2048, 683)


async def test_max_side_is_configurable() -> None:
    small = OfflineImageGenerator(max_side=100)
    outcome = await _generate(Category.PORTRAITS, png_bytes(400, 200), small)
    assert isinstance(outcome, Generated)
    assert Image.open(io.BytesIO(outcome.data)).size == (100, 50)


async def test_exif_orientation_is_applied() -> None:
    picture = await _picture(Category.PORTRAITS, oriented_jpeg_bytes(64, 48, orientation=6))
    assert picture.size == (48, 64)


@pytest.mark.parametrize(
    "image",
    [b"", text_bytes(), gif_bytes(), truncated_jpeg_bytes(), png_bytes()[:30]],
    ids=["empty", "text", "gif", "truncated-jpeg", "truncated-png"],
)
@pytest.mark.parametrize("category", list(Category))
async def test_unreadable_input_is_a_permanent_failure(category: Category, image: bytes) -> None:
    outcome = await _generate(category, image)
    assert outcome == PermanentFailure(message="The photo could not be read.")
