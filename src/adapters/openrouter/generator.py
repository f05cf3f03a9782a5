"""``OpenRouterImageGenerator``: the image-generator port over OpenRouter's API."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import msgspec

from adapters.openrouter.outcomes import (
    CONTENT_POLICY,
    failure_for_status,
    retry_after_seconds,
)
from adapters.openrouter.wire import (
    UnreadableImage,
    decode_data_url,
    error_of,
    image_urls,
    request_body,
)
from picpaygo_core.errors import ImageTooLarge, UnsupportedImage
from picpaygo_core.models import (
    Category,
    Generated,
    GenerationOutcome,
    PermanentFailure,
    TransientFailure,
)
from picpaygo_core.ports import ImageInspector

# Images whose data URLs are this short (about 48 KB of image) are checked on the event
# loop: decoding and inspecting them takes less time than handing them to a thread.
INLINE_CHECK_CHARS = 64 * 1024

logger = logging.getLogger(__name__)


class OpenRouterImageGenerator:
    """Restyles photos with an OpenRouter image model (an ``ImageGenerator``).

    One ``POST {base_url}/chat/completions`` per attempt, over the process's shared
    ``client``. Whatever happens (HTTP errors, timeouts, odd answers) comes back as a
    domain outcome; the worker decides about retries and refunds.
    """

    name = "openrouter"

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        api_key: str,
        model: str,
        base_url: str,
        inspector: ImageInspector,
        site_url: str | None = None,
        app_title: str | None = None,
    ) -> None:
        self._client = client
        self._model = model
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._inspector = inspector
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        if site_url:
            self._headers["HTTP-Referer"] = site_url
        if app_title:
            self._headers["X-Title"] = app_title

    async def generate(
        self, *, prompt: str, category: Category, image: bytes, content_type: str
    ) -> GenerationOutcome:
        """Send the photo and the category's prompt; read the first image of the answer."""
        body = request_body(
            model=self._model, prompt=prompt, image=image, content_type=content_type
        )
        try:
            response = await self._client.post(self._url, content=body, headers=self._headers)
        except httpx.TimeoutException as exc:
            return TransientFailure(reason=f"OpenRouter timed out ({exc.__class__.__name__})")
        except httpx.TransportError as exc:
            return TransientFailure(reason=f"could not reach OpenRouter ({exc.__class__.__name__})")
        except httpx.HTTPError as exc:  # say, a body that does not match its Content-Encoding
            return TransientFailure(reason=f"unreadable answer from OpenRouter ({exc!r})")
        return await self._outcome(response)

    async def _outcome(self, response: httpx.Response) -> GenerationOutcome:
        try:
            body: Any = msgspec.json.decode(response.content)
        except (msgspec.DecodeError, RecursionError):  # not JSON, or absurdly deeply nested
            body = None
        code, message = error_of(body)
        if response.status_code != 200:
            return failure_for_status(
                response.status_code,
                message,
                model=self._model,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if not isinstance(body, dict):
            return TransientFailure(reason="OpenRouter answered 200 with malformed JSON")
        if code is not None:  # the model failed after OpenRouter had accepted the request
            return failure_for_status(code, message, model=self._model)
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return TransientFailure(reason="OpenRouter answered 200 without choices")
        return await self._from_choice(choices[0])

    async def _from_choice(self, choice: dict[str, Any]) -> GenerationOutcome:
        reasons = [choice.get("finish_reason"), choice.get("native_finish_reason")]
        reasons = [reason.lower() for reason in reasons if isinstance(reason, str)]
        if "content_filter" in reasons:
            return PermanentFailure(message=CONTENT_POLICY)
        if "error" in reasons or isinstance(choice.get("error"), dict):
            _, message = error_of(choice)
            return TransientFailure(
                reason="the model stopped with an error" + (f": {message}" if message else "")
            )
        urls = image_urls(choice)
        if not urls:
            return TransientFailure(reason="OpenRouter answered 200 without an image")
        if sum(map(len, urls)) <= INLINE_CHECK_CHARS:
            return self._first_usable_image(urls)  # a thread hop would cost more than this
        return await asyncio.to_thread(self._first_usable_image, urls)

    def _first_usable_image(self, urls: list[str]) -> GenerationOutcome:
        """Decode and check the images in order, off the event loop (they can be
        megabytes); the first real image wins."""
        problems = []
        for url in urls:
            try:
                data = decode_data_url(url)
                info = self._inspector.inspect(data)
            except (UnreadableImage, UnsupportedImage, ImageTooLarge) as exc:
                problems.append(exc.__class__.__name__)
                continue
            return Generated(data=data, content_type=info.content_type)
        return TransientFailure(reason=f"the model's images are unusable ({', '.join(problems)})")
