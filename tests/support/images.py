"""Small image files built in memory, for tests of uploads and generators.

Everything here is deterministic and tiny, including ``png_bomb_bytes``: its header
claims huge dimensions but the file is a few dozen bytes, and nothing here decodes it.
"""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageDraw

Color = tuple[int, int, int]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_EXIF_ORIENTATION = 0x0112


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def _pattern(width: int, height: int) -> Image.Image:
    """A deterministic RGB image with detail (gradients), so it compresses poorly."""
    red = Image.linear_gradient("L").resize((width, height))
    green = Image.radial_gradient("L").resize((width, height))
    blue = Image.linear_gradient("L").rotate(90).resize((width, height))
    return Image.merge("RGB", (red, green, blue))


def jpeg_bytes(width: int = 64, height: int = 48, color: Color = (200, 120, 80)) -> bytes:
    """A plain-colour baseline JPEG."""
    return _encode(Image.new("RGB", (width, height), color), "JPEG", quality=90)


def png_bytes(width: int = 64, height: int = 48, color: Color = (200, 120, 80)) -> bytes:
    """A plain-colour RGB PNG."""
    return _encode(Image.new("RGB", (width, height), color), "PNG")


def webp_bytes(width: int = 64, height: int = 48, color: Color = (200, 120, 80)) -> bytes:
    """A plain-colour lossless WebP."""
    return _encode(Image.new("RGB", (width, height), color), "WEBP", lossless=True)


def png_with_alpha_bytes(
    width: int = 64, height: int = 48, color: Color = (200, 120, 80), alpha: int = 128
) -> bytes:
    """An RGBA PNG: the left half is ``color`` at ``alpha``, the right half fully clear."""
    image = Image.new("RGBA", (width, height), (*color, alpha))
    image.paste((0, 0, 0, 0), (width // 2, 0, width, height))
    return _encode(image, "PNG")


def pattern_png_bytes(width: int = 64, height: int = 48) -> bytes:
    """An RGB PNG with gradients (not a flat colour), for tests that look at pixels."""
    return _encode(_pattern(width, height), "PNG")


def oriented_jpeg_bytes(width: int = 64, height: int = 48, orientation: int = 6) -> bytes:
    """A JPEG stored ``width`` x ``height`` with an EXIF orientation tag.

    Orientation 6 means "rotate 90° clockwise to display", so a viewer shows it
    ``height`` x ``width``.
    """
    exif = Image.Exif()
    exif[_EXIF_ORIENTATION] = orientation
    return _encode(_pattern(width, height), "JPEG", quality=90, exif=exif)


def truncated_jpeg_bytes() -> bytes:
    """A JPEG whose header is intact but whose scan data stops two thirds of the way."""
    whole = _encode(_pattern(256, 256), "JPEG", quality=95)
    return whole[: len(whole) * 2 // 3]


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_bomb_bytes(width: int = 50_000, height: int = 50_000) -> bytes:
    """A tiny, well-formed PNG whose IHDR claims ``width`` x ``height`` greyscale pixels.

    The chunks are built by hand (valid CRCs); IDAT holds one compressed row of zeros,
    so the file is a few dozen bytes and decoding it would fail as truncated. Readers
    must refuse it from the header alone.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    idat = zlib.compress(b"\x00" * 64)
    return (
        _PNG_SIGNATURE
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def gif_bytes(width: int = 16, height: int = 16) -> bytes:
    """A real, valid GIF (a format the service refuses)."""
    return _encode(Image.new("P", (width, height), 3), "GIF")


def text_bytes() -> bytes:
    """Plain text pretending to be an upload."""
    return b"This is not an image, just some text.\n"


def portrait_jpeg_bytes(width: int = 480, height: int = 600) -> bytes:
    """A drawn head-and-shoulders "photo" (sky, hair, face, shirt), for screenshots of
    the web client where a plain colour would not show what a look does."""
    sky = Image.linear_gradient("L").resize((width, height))
    image = Image.merge(
        "RGB",
        (
            sky.point(lambda v: 120 + v // 3),
            sky.point(lambda v: 165 + v // 4),
            sky.point(lambda v: 215 - v // 6),
        ),
    )
    draw = ImageDraw.Draw(image)
    cx, w, h = width // 2, width, height
    draw.ellipse((cx - w * 0.42, h * 0.68, cx + w * 0.42, h * 1.25), fill=(178, 64, 52))
    draw.rectangle((cx - w * 0.07, h * 0.5, cx + w * 0.07, h * 0.7), fill=(226, 172, 138))
    draw.ellipse((cx - w * 0.2, h * 0.14, cx + w * 0.2, h * 0.52), fill=(92, 58, 36))
    draw.ellipse((cx - w * 0.16, h * 0.2, cx + w * 0.16, h * 0.56), fill=(236, 186, 150))
    draw.chord((cx - w * 0.2, h * 0.1, cx + w * 0.2, h * 0.4), 180, 360, fill=(92, 58, 36))
    for side in (-1, 1):
        eye = cx + side * w * 0.065
        draw.ellipse((eye - 7, h * 0.36 - 5, eye + 7, h * 0.36 + 5), fill=(255, 255, 255))
        draw.ellipse((eye - 4, h * 0.36 - 4, eye + 4, h * 0.36 + 4), fill=(58, 40, 30))
    draw.arc(
        (cx - w * 0.06, h * 0.42, cx + w * 0.06, h * 0.48), 20, 160, fill=(150, 60, 60), width=4
    )
    return _encode(image, "JPEG", quality=88)


_GPS_IFD = 0x8825
_MAKE = 0x010F
_MODEL = 0x0110
_XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>'
    b'<rdf:Description Secret="xmp-secret"/></rdf:RDF></x:xmpmeta>'
)


_COMMENT = b"camera owner: comment-secret"
_IPTC_BYLINE = b"iptc-secret"
_SOI = b"\xff\xd8"


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def _iptc_segment() -> bytes:
    """An APP13 "Photoshop 3.0" segment holding one IPTC record: the photographer's name."""
    record = b"\x1c\x02\x50" + struct.pack(">H", len(_IPTC_BYLINE)) + _IPTC_BYLINE
    block = b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(record)) + record
    if len(record) % 2:
        block += b"\x00"  # resource data is padded to an even length
    return _jpeg_segment(0xED, b"Photoshop 3.0\x00" + block)


def jpeg_markers(data: bytes) -> list[int]:
    """The markers of a JPEG's segments before its image data (0xE1 for APP1, ...)."""
    assert data.startswith(_SOI)
    markers, position = [], 2
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xDA:  # start of scan: the image data follows
            break
        markers.append(marker)
        position += 2 + struct.unpack(">H", data[position + 2 : position + 4])[0]
    return markers


def photo_with_metadata_bytes(
    fmt: str = "JPEG", width: int = 64, height: int = 48, orientation: int = 6
) -> bytes:
    """A camera-like photo: EXIF with GPS coordinates, camera make and model and an
    orientation, plus XMP, stored ``width`` x ``height`` (shown rotated for 6 and 8).

    A JPEG also carries a comment (COM segment) and an IPTC record (APP13).
    """
    exif = Image.Exif()
    exif[_EXIF_ORIENTATION] = orientation
    exif[_MAKE] = "SecretCam"
    exif[_MODEL] = "Model X-42"
    exif.get_ifd(_GPS_IFD).update({1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)})
    params: dict[str, object] = {"exif": exif}
    if fmt in ("JPEG", "WEBP"):
        params["quality"] = 90
    if fmt in ("JPEG", "WEBP", "PNG"):
        params["xmp"] = _XMP
    if fmt == "JPEG":
        params["comment"] = _COMMENT
    data = _encode(_pattern(width, height), fmt, **params)
    if fmt == "JPEG":
        data = _SOI + _iptc_segment() + data[len(_SOI) :]
    return data


def carries_metadata(data: bytes) -> list[str]:
    """What of ``photo_with_metadata_bytes``'s metadata ``data`` still carries."""
    found = [
        marker
        for marker in ("SecretCam", "Model X-42", "xmp-secret", "comment-secret", "iptc-secret")
        if marker.encode() in data
    ]
    with Image.open(io.BytesIO(data)) as image:
        exif = image.getexif()
        if exif.get_ifd(_GPS_IFD):
            found.append("GPS")
        if exif.get(_EXIF_ORIENTATION, 1) != 1:
            found.append("orientation")
        if image.info.get("xmp") or "XML:com.adobe.xmp" in image.info:
            found.append("XMP")
        if image.info.get("comment"):
            found.append("COM")
        if image.info.get("photoshop"):
            found.append("IPTC")
    return found


def same_picture(a: bytes, b: bytes, tolerance: float = 8.0) -> bool:
    """True when ``a`` and ``b`` decode to the same size and nearly the same pixels
    (a re-encoded JPEG is never byte for byte the same)."""
    with Image.open(io.BytesIO(a)) as first, Image.open(io.BytesIO(b)) as second:
        if first.size != second.size:
            return False
        one, two = first.convert("RGB"), second.convert("RGB")
        difference = sum(abs(x - y) for x, y in zip(one.tobytes(), two.tobytes(), strict=True))
        return difference / (3 * first.size[0] * first.size[1]) <= tolerance
