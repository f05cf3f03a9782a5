"""``OpenRouterImageGenerator`` without sockets: the request it sends and how it reads
every kind of answer, over an ``httpx.MockTransport``.

Whatever OpenRouter (or the network) does, ``generate`` must return one of the four
core outcomes and never raise; the worker decides about retries and refunds from them.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adapters.images import PillowImageInspector
from adapters.openrouter import OpenRouterImageGenerator
from adapters.openrouter.outcomes import (
    CONTENT_POLICY,
    REQUEST_REFUSED,
    UNUSABLE_PHOTO,
    retry_after_seconds,
)
from picpaygo_core.models import (
    Category,
    Generated,
    GenerationOutcome,
    OperatorFailure,
    PermanentFailure,
    TransientFailure,
)
from picpaygo_core.policy import Policy
from support.fake_openrouter import FAKE_PNG
from support.images import (
    gif_bytes,
    jpeg_bytes,
    png_bomb_bytes,
    png_bytes,
    text_bytes,
    truncated_jpeg_bytes,
    webp_bytes,
)

BASE_URL = "https://openrouter.test/api/v1"
COMPLETIONS_URL = f"{BASE_URL}/chat/completions"
API_KEY = "sk-or-test-key"
MODEL = "google/gemini-2.5-flash-image-preview"
PROMPT = "Restyle this photo as a studio portrait with soft light."
PHOTO = jpeg_bytes(40, 30)

OUTCOME_TYPES = (Generated, TransientFailure, PermanentFailure, OperatorFailure)

Handler = Callable[[httpx.Request], httpx.Response]


# --- helpers ---------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def image_url(data: bytes, content_type: str = "image/png") -> str:
    return f"data:{content_type};base64,{b64(data)}"


def completion(
    images: list[Any] | None = None,
    *,
    finish_reason: Any = "stop",
    native_finish_reason: Any = "STOP",
    **choice_extra: Any,
) -> dict[str, Any]:
    """A chat-completions body shaped like OpenRouter's, with one choice."""
    message: dict[str, Any] = {"role": "assistant", "content": None}
    if images is not None:
        message["images"] = images
    return {
        "id": "gen-1",
        "object": "chat.completion",
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "finish_reason": finish_reason,
                "native_finish_reason": native_finish_reason,
                "message": message,
                **choice_extra,
            }
        ],
    }


def with_image(data: bytes, content_type: str = "image/png") -> dict[str, Any]:
    return completion([{"type": "image_url", "image_url": {"url": image_url(data, content_type)}}])


def error_body(code: Any, message: str = "Something went wrong") -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def answer(
    status: int = 200,
    body: Any = None,
    *,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Handler:
    """A transport handler that always answers ``status`` with ``body`` (JSON) or ``raw``."""
    content = raw if raw is not None else json.dumps(body).encode()

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status,
            content=content,
            headers={"Content-Type": "application/json", **(headers or {})},
        )

    return handle


def raising(error: type[httpx.TransportError]) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        raise error("simulated", request=request)

    return handle


def make_generator(
    client: httpx.AsyncClient,
    *,
    base_url: str = BASE_URL,
    site_url: str | None = None,
    app_title: str | None = None,
) -> OpenRouterImageGenerator:
    return OpenRouterImageGenerator(
        client=client,
        api_key=API_KEY,
        model=MODEL,
        base_url=base_url,
        inspector=PillowImageInspector(max_pixels=Policy().max_image_pixels),
        site_url=site_url,
        app_title=app_title,
    )


async def generate(
    handler: Handler, *, image: bytes = PHOTO, content_type: str = "image/jpeg", **options: Any
) -> GenerationOutcome:
    """One ``generate`` call over a fresh client whose transport is ``handler``."""
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        generator = make_generator(client, **options)
        return await generator.generate(
            prompt=PROMPT, category=Category.PORTRAITS, image=image, content_type=content_type
        )


class Recorder:
    """A handler that records each request and answers with a successful completion."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json=with_image(FAKE_PNG))

    @property
    def only(self) -> httpx.Request:
        assert len(self.requests) == 1
        return self.requests[0]

    @property
    def body(self) -> Any:
        return json.loads(self.only.content)


# --- the request -----------------------------------------------------------------------


@pytest.mark.parametrize("base_url", [BASE_URL, BASE_URL + "/"], ids=["plain", "trailing-slash"])
async def test_posts_to_the_chat_completions_endpoint_of_the_base_url(base_url: str) -> None:
    recorder = Recorder()

    await generate(recorder, base_url=base_url)

    assert recorder.only.method == "POST"
    assert str(recorder.only.url) == COMPLETIONS_URL


async def test_sends_the_api_key_as_a_bearer_token_and_json() -> None:
    recorder = Recorder()

    await generate(recorder)

    assert recorder.only.headers["Authorization"] == f"Bearer {API_KEY}"
    assert recorder.only.headers["Content-Type"] == "application/json"


async def test_the_body_asks_the_model_for_an_image_from_the_prompt_and_photo() -> None:
    recorder = Recorder()

    await generate(recorder)

    body = recorder.body
    assert body["model"] == MODEL
    assert body["modalities"] == ["image", "text"]
    assert len(body["messages"]) == 1
    message = body["messages"][0]
    assert message["role"] == "user"
    texts = [part for part in message["content"] if part["type"] == "text"]
    images = [part for part in message["content"] if part["type"] == "image_url"]
    assert [part["text"] for part in texts] == [PROMPT]
    assert [part["image_url"]["url"] for part in images] == [image_url(PHOTO, "image/jpeg")]


@pytest.mark.parametrize(
    ("photo", "content_type"),
    [(png_bytes(), "image/png"), (webp_bytes(), "image/webp"), (b"\x00\xff\x10raw", "image/jpeg")],
    ids=["png", "webp", "any-bytes"],
)
async def test_the_photo_travels_as_an_exact_base64_data_url_of_its_content_type(
    photo: bytes, content_type: str
) -> None:
    recorder = Recorder()

    await generate(recorder, image=photo, content_type=content_type)

    [part] = [p for p in recorder.body["messages"][0]["content"] if p["type"] == "image_url"]
    header, _, payload = part["image_url"]["url"].partition(",")
    assert header == f"data:{content_type};base64"
    assert base64.b64decode(payload, validate=True) == photo


async def test_no_attribution_headers_unless_configured() -> None:
    recorder = Recorder()

    await generate(recorder)

    assert "HTTP-Referer" not in recorder.only.headers
    assert "X-Title" not in recorder.only.headers


async def test_attribution_headers_carry_the_site_url_and_app_title() -> None:
    recorder = Recorder()

    await generate(recorder, site_url="https://picpaygo.example", app_title="PicPayGo")

    assert recorder.only.headers["HTTP-Referer"] == "https://picpaygo.example"
    assert recorder.only.headers["X-Title"] == "PicPayGo"


async def test_only_the_configured_attribution_header_is_sent() -> None:
    recorder = Recorder()

    await generate(recorder, app_title="PicPayGo")

    assert "HTTP-Referer" not in recorder.only.headers
    assert recorder.only.headers["X-Title"] == "PicPayGo"


# --- success ---------------------------------------------------------------------------


async def test_a_returned_png_comes_back_as_generated_bytes() -> None:
    outcome = await generate(answer(200, with_image(FAKE_PNG)))

    assert outcome == Generated(data=FAKE_PNG, content_type="image/png")


@pytest.mark.parametrize(
    ("data", "claimed", "detected"),
    [
        (jpeg_bytes(), "image/png", "image/jpeg"),
        (webp_bytes(), "image/png", "image/webp"),
        (png_bytes(), "image/jpeg", "image/png"),
    ],
    ids=["jpeg-as-png", "webp-as-png", "png-as-jpeg"],
)
async def test_the_content_type_is_detected_from_the_bytes_not_the_data_url(
    data: bytes, claimed: str, detected: str
) -> None:
    outcome = await generate(answer(200, with_image(data, claimed)))

    assert outcome == Generated(data=data, content_type=detected)


async def test_images_without_a_url_are_skipped_for_the_first_one_with_a_url() -> None:
    first, second = png_bytes(color=(1, 2, 3)), png_bytes(color=(4, 5, 6))
    body = completion(
        [
            {"type": "image_url"},
            {"type": "image_url", "image_url": {}},
            {"type": "image_url", "image_url": {"url": ""}},
            "not an object",
            {"type": "image_url", "image_url": {"url": image_url(first)}},
            {"type": "image_url", "image_url": {"url": image_url(second)}},
        ]
    )

    outcome = await generate(answer(200, body))

    assert outcome == Generated(data=first, content_type="image/png")


async def test_an_unusable_first_image_gives_way_to_a_later_usable_one() -> None:
    body = completion(
        [
            {"type": "image_url", "image_url": {"url": "https://cdn.example/picture.png"}},
            {"type": "image_url", "image_url": {"url": image_url(FAKE_PNG)}},
        ]
    )

    outcome = await generate(answer(200, body))

    assert outcome == Generated(data=FAKE_PNG, content_type="image/png")


# --- HTTP statuses ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 524, 529])
async def test_timeouts_rate_limits_and_provider_errors_are_transient(status: int) -> None:
    outcome = await generate(answer(status, error_body(status)))

    assert isinstance(outcome, TransientFailure)
    assert str(status) in outcome.reason
    assert outcome.retry_after is None


@pytest.mark.parametrize("status", [429, 503])
async def test_a_retry_after_in_seconds_is_passed_on(status: int) -> None:
    outcome = await generate(answer(status, error_body(status), headers={"Retry-After": "7"}))

    assert isinstance(outcome, TransientFailure)
    assert outcome.retry_after == 7.0


@pytest.mark.parametrize("status", [429, 503])
async def test_a_retry_after_http_date_becomes_the_seconds_until_then(status: int) -> None:
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=120)
    headers = {"Retry-After": format_datetime(when, usegmt=True)}

    outcome = await generate(answer(status, error_body(status), headers=headers))

    assert isinstance(outcome, TransientFailure)
    assert outcome.retry_after is not None
    assert 100 < outcome.retry_after <= 120


async def test_a_bad_request_means_the_photo_is_unusable() -> None:
    outcome = await generate(answer(400, error_body(400, "Invalid image")))

    assert outcome == PermanentFailure(message=UNUSABLE_PHOTO)


async def test_a_moderation_refusal_is_a_content_policy_failure() -> None:
    body = {"error": {"code": 403, "message": "flagged", "metadata": {"reasons": ["sexual"]}}}

    outcome = await generate(answer(403, body))

    assert outcome == PermanentFailure(
        message="The image was refused by the model's content policy."
    )
    assert outcome.message == CONTENT_POLICY


async def test_a_refused_api_key_is_an_operator_problem_naming_the_setting() -> None:
    outcome = await generate(answer(401, error_body(401, "No auth credentials found")))

    assert isinstance(outcome, OperatorFailure)
    assert "OPENROUTER_API_KEY" in outcome.message
    assert API_KEY not in outcome.message


async def test_running_out_of_credits_is_an_operator_problem_about_credits() -> None:
    outcome = await generate(answer(402, error_body(402, "Insufficient credits")))

    assert isinstance(outcome, OperatorFailure)
    assert "credits" in outcome.message.lower()


async def test_an_unknown_model_is_an_operator_problem_naming_the_model() -> None:
    outcome = await generate(answer(404, error_body(404, "Model not found")))

    assert isinstance(outcome, OperatorFailure)
    assert MODEL in outcome.message


@pytest.mark.parametrize("status", [413, 415, 422])
async def test_other_rejections_of_the_input_mean_the_photo_is_unusable(status: int) -> None:
    outcome = await generate(answer(status, error_body(status)))

    assert outcome == PermanentFailure(message=UNUSABLE_PHOTO)


@pytest.mark.parametrize("status", [405, 409, 410, 418, 451])
async def test_other_client_errors_are_permanent(status: int) -> None:
    outcome = await generate(answer(status, error_body(status)))

    assert outcome == PermanentFailure(message=REQUEST_REFUSED)


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_an_error_status_without_a_json_body_is_still_classified(status: int) -> None:
    outcome = await generate(answer(status, raw=b"<html>Bad Gateway</html>"))

    assert isinstance(outcome, TransientFailure)


# --- 200 answers that are not a picture ------------------------------------------------


async def test_a_200_with_malformed_json_is_transient() -> None:
    outcome = await generate(answer(200, raw=b'{"id": "gen-1", "choices": [{"message": '))

    assert isinstance(outcome, TransientFailure)


@pytest.mark.parametrize(
    "body",
    [[], [with_image(FAKE_PNG)], "a string", 42, None, True],
    ids=["empty-list", "list", "string", "number", "null", "bool"],
)
async def test_a_200_with_json_that_is_not_an_object_is_transient(body: Any) -> None:
    outcome = await generate(answer(200, body))

    assert isinstance(outcome, TransientFailure)


@pytest.mark.parametrize(
    "body",
    [
        {"id": "gen-1"},
        {"choices": []},
        {"choices": None},
        {"choices": {"0": {"message": {}}}},
        {"choices": ["a string"]},
        {"choices": [None]},
    ],
    ids=["missing", "empty", "null", "object", "string-choice", "null-choice"],
)
async def test_a_200_without_choices_is_transient(body: Any) -> None:
    outcome = await generate(answer(200, body))

    assert isinstance(outcome, TransientFailure)


@pytest.mark.parametrize(
    "body",
    [
        completion(None),
        completion([]),
        completion([{"type": "image_url"}]),
        completion([{"type": "image_url", "image_url": {}}]),
        completion([{"type": "image_url", "image_url": {"url": ""}}]),
        completion([{"type": "image_url", "image_url": {"url": None}}]),
        completion([{"type": "image_url", "image_url": {"url": 7}}]),
        completion("images"),
        {"choices": [{"finish_reason": "stop", "message": "Here is your picture!"}]},
        {"choices": [{"finish_reason": "stop"}]},
    ],
    ids=[
        "no-images",
        "empty-images",
        "no-image-url",
        "no-url",
        "empty-url",
        "null-url",
        "number-url",
        "images-not-a-list",
        "message-not-an-object",
        "no-message",
    ],
)
async def test_a_200_without_an_image_is_transient(body: Any) -> None:
    outcome = await generate(answer(200, body))

    assert isinstance(outcome, TransientFailure)
    assert "without" in outcome.reason


async def test_a_model_that_finished_with_an_error_is_transient() -> None:
    body = completion(
        [{"type": "image_url", "image_url": {"url": image_url(FAKE_PNG)}}],
        finish_reason="error",
        error={"code": 502, "message": "Upstream model error"},
    )

    outcome = await generate(answer(200, body))

    assert isinstance(outcome, TransientFailure)
    assert "Upstream model error" in outcome.reason


async def test_a_choice_carrying_an_error_object_is_transient() -> None:
    body = completion(
        [{"type": "image_url", "image_url": {"url": image_url(FAKE_PNG)}}],
        error={"code": 502, "message": "Upstream model error"},
    )

    outcome = await generate(answer(200, body))

    assert isinstance(outcome, TransientFailure)


@pytest.mark.parametrize("code", [502, 503, 429, 500, "502"])
async def test_a_200_whose_body_is_a_provider_error_is_transient(code: Any) -> None:
    outcome = await generate(answer(200, error_body(code, "Provider returned error")))

    assert isinstance(outcome, TransientFailure)


@pytest.mark.parametrize("code", [403, "403"])
async def test_a_200_whose_body_is_a_moderation_error_is_a_content_policy_failure(
    code: Any,
) -> None:
    outcome = await generate(answer(200, error_body(code, "flagged")))

    assert outcome == PermanentFailure(message=CONTENT_POLICY)


async def test_a_200_whose_body_is_an_auth_error_is_an_operator_problem() -> None:
    outcome = await generate(answer(200, error_body(401, "No auth credentials found")))

    assert isinstance(outcome, OperatorFailure)


@pytest.mark.parametrize(
    ("finish_reason", "native_finish_reason"),
    [("content_filter", "CONTENT_FILTER"), ("stop", "content_filter"), ("content_filter", None)],
    ids=["finish", "native", "finish-only"],
)
async def test_a_content_filter_finish_is_a_content_policy_failure(
    finish_reason: str, native_finish_reason: str | None
) -> None:
    body = completion(
        [{"type": "image_url", "image_url": {"url": image_url(FAKE_PNG)}}],
        finish_reason=finish_reason,
        native_finish_reason=native_finish_reason,
    )

    outcome = await generate(answer(200, body))

    assert outcome == PermanentFailure(message=CONTENT_POLICY)


@pytest.mark.parametrize(
    "url",
    [
        f"data:image/png,{FAKE_PNG[:16]!r}",
        "data:image/png;base64,!!!not base64!!!",
        "data:image/png;base64,iVBORw0KGgo=extra",
        "https://cdn.example/picture.png",
        b64(FAKE_PNG),
        image_url(b""),
        image_url(text_bytes()),
        image_url(gif_bytes(), "image/gif"),
        image_url(truncated_jpeg_bytes(), "image/jpeg"),
        image_url(png_bomb_bytes()),
    ],
    ids=[
        "not-base64",
        "bad-base64",
        "junk-after-padding",
        "http-url",
        "bare-base64",
        "empty",
        "text",
        "gif",
        "truncated-jpeg",
        "png-bomb",
    ],
)
async def test_an_unusable_image_from_the_model_is_transient_never_stored(url: str) -> None:
    body = completion([{"type": "image_url", "image_url": {"url": url}}])

    outcome = await generate(answer(200, body))

    assert isinstance(outcome, TransientFailure)
    assert "unusable" in outcome.reason


# --- transport errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError],
)
async def test_not_reaching_openrouter_is_transient(error: type[httpx.TransportError]) -> None:
    outcome = await generate(raising(error))

    assert isinstance(outcome, TransientFailure)


@pytest.mark.parametrize("error", [httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout])
async def test_a_timeout_is_transient_and_says_so(error: type[httpx.TransportError]) -> None:
    outcome = await generate(raising(error))

    assert isinstance(outcome, TransientFailure)
    assert "timed out" in outcome.reason


# --- bodies that used to escape as exceptions ------------------------------------------


@pytest.mark.parametrize("status", [200, 502])
async def test_a_body_that_does_not_match_its_content_encoding_is_transient(status: int) -> None:
    handler = answer(status, raw=b"this is not gzip", headers={"Content-Encoding": "gzip"})

    outcome = await generate(handler)

    assert isinstance(outcome, TransientFailure)


@pytest.mark.parametrize("status", [200, 502])
async def test_deeply_nested_json_is_transient(status: int) -> None:
    outcome = await generate(answer(status, raw=b"[" * 5000 + b"]" * 5000))

    assert isinstance(outcome, TransientFailure)


@pytest.mark.parametrize("field", ["finish_reason", "native_finish_reason"])
async def test_an_odd_finish_reason_does_not_raise(field: str) -> None:
    body = with_image(FAKE_PNG)
    body["choices"][0][field] = ["content_filter"]

    outcome = await generate(answer(200, body))

    assert isinstance(outcome, OUTCOME_TYPES)


@pytest.mark.parametrize(
    "value", [image_url(FAKE_PNG), None, [], 3], ids=["data-url-string", "null", "list", "number"]
)
async def test_an_image_url_that_is_not_an_object_is_transient(value: Any) -> None:
    body = completion([{"type": "image_url", "image_url": value}])

    outcome = await generate(answer(200, body))

    assert isinstance(outcome, TransientFailure)


@pytest.mark.parametrize("status", [200, 500])
async def test_an_error_code_of_odd_digits_does_not_raise(status: int) -> None:
    outcome = await generate(answer(status, error_body("²")))

    assert isinstance(outcome, OUTCOME_TYPES)


# --- retry_after_seconds ---------------------------------------------------------------

NOW = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        ("0", 0.0),
        ("120", 120.0),
        ("1.5", 1.5),
        ("0.25", 0.25),
        (" 7 ", 7.0),
        ("-3", 0.0),
        ("-0.5", 0.0),
    ],
)
def test_retry_after_in_seconds(value: str, seconds: float) -> None:
    assert retry_after_seconds(value, now=NOW) == seconds


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", "soon", "7 seconds", "nan", "inf", "1e400", "Someday, 99 Foo"],
)
def test_retry_after_that_means_nothing_is_none(value: str | None) -> None:
    assert retry_after_seconds(value, now=NOW) is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("Wed, 21 Oct 2015 07:29:00 GMT", 60.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 08:28:00 +0100", 0.0),
        ("Wed, 21 Oct 2015 09:28:00 +0100", 3600.0),
        ("Wed, 21 Oct 2015 07:28:45 -0000", 45.0),
    ],
    ids=["gmt-minute", "gmt-half-minute", "offset-now", "offset-hour", "no-zone"],
)
def test_retry_after_as_a_future_http_date(value: str, seconds: float) -> None:
    assert retry_after_seconds(value, now=NOW) == seconds


@pytest.mark.parametrize(
    "value",
    [
        "Wed, 21 Oct 2015 07:27:59 GMT",
        "Tue, 20 Oct 2015 07:28:00 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
    ],
)
def test_retry_after_as_a_past_http_date_is_zero(value: str) -> None:
    assert retry_after_seconds(value, now=NOW) == 0.0


def test_retry_after_as_an_http_date_defaults_to_the_current_time() -> None:
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=300)

    seconds = retry_after_seconds(format_datetime(when, usegmt=True))

    assert seconds is not None
    assert 280 < seconds <= 300


# --- nothing raises --------------------------------------------------------------------


def run_once(handler: Handler) -> GenerationOutcome:
    """``generate`` from synchronous code (hypothesis drives plain functions)."""
    return asyncio.run(generate(handler))


header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    status=st.integers(100, 599),
    content=st.binary(max_size=2048),
    retry_after=st.none() | header_text,
)
def test_any_status_and_bytes_give_an_outcome_and_never_raise(
    status: int, content: bytes, retry_after: str | None
) -> None:
    headers = {} if retry_after is None else {"Retry-After": retry_after}

    outcome = run_once(answer(status, raw=content, headers=headers))

    assert isinstance(outcome, OUTCOME_TYPES)
    if isinstance(outcome, TransientFailure) and outcome.retry_after is not None:
        assert 0 <= outcome.retry_after < float("inf")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
good_url = st.sampled_from([image_url(FAKE_PNG), image_url(jpeg_bytes(), "image/jpeg")])
anything = json_values | good_url | st.sampled_from(["content_filter", "error", "stop", "403"])
images = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "type": anything,
            "image_url": anything | st.fixed_dictionaries({}, optional={"url": anything}),
        },
    )
    | anything,
    max_size=3,
)
choices = st.fixed_dictionaries(
    {},
    optional={
        "finish_reason": anything,
        "native_finish_reason": anything,
        "error": anything | st.fixed_dictionaries({}, optional={"code": anything}),
        "message": anything | st.fixed_dictionaries({}, optional={"images": images | anything}),
    },
)
completions = st.fixed_dictionaries(
    {},
    optional={
        "choices": st.lists(choices | anything, max_size=2) | anything,
        "error": anything | st.fixed_dictionaries({}, optional={"code": anything}),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(status=st.sampled_from([200, 200, 200, 400, 429, 500]), body=completions)
@example(status=200, body={"choices": [{"finish_reason": []}]})
@example(status=200, body={"choices": [{"message": {"images": [{"image_url": "x"}]}}]})
@example(status=200, body={"error": {"code": "²"}})
def test_any_completion_shaped_json_gives_an_outcome_and_never_raises(
    status: int, body: Any
) -> None:
    outcome = run_once(answer(status, body))

    assert isinstance(outcome, OUTCOME_TYPES)
    if isinstance(outcome, Generated):
        assert outcome.content_type in {"image/png", "image/jpeg"}
