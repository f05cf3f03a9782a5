"""OpenRouter's wire format: the request body, and reading images out of a response."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import msgspec

IMAGE_MODALITIES = ("image", "text")


def data_url(data: bytes, content_type: str) -> str:
    """``data:<type>;base64,<bytes>``: how an image travels inside the JSON body."""
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"


def request_body(*, model: str, prompt: str, image: bytes, content_type: str) -> bytes:
    """The chat-completions request asking ``model`` to restyle ``image`` per ``prompt``."""
    return msgspec.json.encode(
        {
            "model": model,
            "modalities": list(IMAGE_MODALITIES),
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": prompt},
                        {"type": "image_url", "image_url": {"url": data_url(image, content_type)}},
                    ],
                }
            ],
        }
    )


class UnreadableImage(ValueError):
    """An image in the response is not a base64 ``data:`` URL."""


def decode_data_url(url: str) -> bytes:
    """The bytes of a ``data:image/...;base64,...`` URL; ``UnreadableImage`` otherwise."""
    header, separator, payload = url.partition(",")
    if not separator or not header.startswith("data:") or not header.endswith(";base64"):
        raise UnreadableImage("the image is not a base64 data: URL")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UnreadableImage("the image's base64 is malformed") from exc


def image_urls(choice: dict[str, Any]) -> list[str]:
    """Every ``choice.message.images[].image_url.url``, in order; empty when none."""
    message = choice.get("message")
    images = message.get("images") if isinstance(message, dict) else None
    if not isinstance(images, list):
        return []
    urls = []
    for image in images:
        image_url = image.get("image_url") if isinstance(image, dict) else None
        url = image_url.get("url") if isinstance(image_url, dict) else None
        if isinstance(url, str) and url:
            urls.append(url)
    return urls


def error_of(body: object) -> tuple[int | None, str]:
    """``(code, message)`` of an ``{"error": {...}}`` body; blanks if absent."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, ""
    code = error.get("code")
    if isinstance(code, str) and code.isascii() and code.isdecimal():
        code = int(code)
    message = error.get("message")
    return (
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        message if isinstance(message, str) else "",
    )
