"""``OpenRouterImageGenerator`` over a real loopback socket, against ``FakeOpenRouter``.

Every answer the fake can script goes through the real client (``build_http_client``),
so timeouts, connection failures and connection reuse are the real httpx ones.
No PostgreSQL needed.

The fake is shared by the module (stopping one costs its half-second poll interval);
each test scripts the answers it needs and sees only the requests made during it. A
test that fails before using all it scripted can leave answers for the next one, so
read the first failure first.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from adapters.images import PillowImageInspector
from adapters.openrouter import OpenRouterImageGenerator, build_http_client
from adapters.openrouter.outcomes import CONTENT_POLICY, UNUSABLE_PHOTO
from picpaygo_core.models import (
    Category,
    Generated,
    GenerationOutcome,
    OperatorFailure,
    PermanentFailure,
    TransientFailure,
)
from picpaygo_core.policy import Policy
from support.fake_openrouter import (
    COMPLETIONS_PATH,
    FAKE_PNG,
    Answer,
    FakeOpenRouter,
    ReceivedRequest,
)
from support.images import jpeg_bytes

API_KEY = "right"
MODEL = "fake/image-model"
PROMPT = "Restyle this photo as a black-and-white documentary shot."
PHOTO = jpeg_bytes(64, 48)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenRouter]:
    """One fake for the module: stopping one takes half a second (its poll interval)."""
    with FakeOpenRouter(api_key=API_KEY) as fake:
        yield fake


class FakeView:
    """The shared fake as one test sees it: only the requests made during that test."""

    def __init__(self, fake: FakeView) -> None:
        self._fake = fake
        self._before = len(fake.requests)
        self.url = fake.url
        self.script = fake.script
        self.release = fake.release

    @property
    def requests(self) -> list[ReceivedRequest]:
        return self._fake.requests[self._before :]

    def wait_for_requests(self, count: int) -> list[ReceivedRequest]:
        return self._fake.wait_for_requests(self._before + count)[self._before :]


@pytest.fixture
def fake(server: FakeOpenRouter) -> FakeView:
    return FakeView(server)


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with build_http_client(connect_timeout=2, read_timeout=10) as client:
        yield client


def openrouter(
    client: httpx.AsyncClient, base_url: str, *, api_key: str = API_KEY
) -> OpenRouterImageGenerator:
    return OpenRouterImageGenerator(
        client=client,
        api_key=api_key,
        model=MODEL,
        base_url=base_url,
        inspector=PillowImageInspector(max_pixels=Policy().max_image_pixels),
    )


async def restyle(generator: OpenRouterImageGenerator) -> GenerationOutcome:
    return await generator.generate(
        prompt=PROMPT, category=Category.DOCUMENTARY, image=PHOTO, content_type="image/jpeg"
    )


async def restyle_with(
    fake: FakeView, client: httpx.AsyncClient, *answers: Answer
) -> GenerationOutcome:
    fake.script(*answers)
    return await restyle(openrouter(client, fake.url))


def closed_port() -> int:
    """A loopback port nothing listens on (bound to find it free, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --- success ---------------------------------------------------------------------------


async def test_success_returns_the_fakes_png(
    fake: FakeView, http_client: httpx.AsyncClient
) -> None:
    outcome = await restyle_with(fake, http_client, Answer.success())

    assert outcome == Generated(data=FAKE_PNG, content_type="image/png")


async def test_the_fake_receives_the_request_openrouter_expects(
    fake: FakeView, http_client: httpx.AsyncClient
) -> None:
    await restyle_with(fake, http_client, Answer.success())

    [request] = fake.requests
    assert request.path == COMPLETIONS_PATH
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.body["model"] == MODEL
    assert request.body["modalities"] == ["image", "text"]
    assert request.prompt == PROMPT
    assert request.image_url.startswith("data:image/jpeg;base64,")
    assert request.image == PHOTO


async def test_a_trailing_slash_on_the_url_reaches_the_same_endpoint(
    fake: FakeView, http_client: httpx.AsyncClient
) -> None:
    outcome = await restyle(openrouter(http_client, fake.url + "/"))

    assert isinstance(outcome, Generated)
    assert [r.path for r in fake.requests] == [COMPLETIONS_PATH]


async def test_a_jpeg_returned_as_png_is_reported_as_jpeg(
    fake: FakeView, http_client: httpx.AsyncClient
) -> None:
    picture = jpeg_bytes(32, 32, (10, 200, 30))

    outcome = await restyle_with(fake, http_client, Answer.success(picture, "image/png"))

    assert outcome == Generated(data=picture, content_type="image/jpeg")


# --- transient -------------------------------------------------------------------------


async def test_rate_limited_is_transient_with_the_retry_after(
    fake: FakeView, http_client: httpx.AsyncClient
) -> None:
    outcome = await restyle_with(fake, http_client, Answer.rate_limited(retry_after="7"))

    assert isinstance(outcome, TransientFailure)
    assert "429" in outcome.reason
    assert outcome.retry_after == 7.0


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_a_server_error_is_transient(
    fake: FakeView, http_client: httpx.AsyncClient, status: int
) -> None:
    outcome = await restyle_with(fake, http_client, Answer.server_error(status))

    assert isinstance(outcome, TransientFailure)
    assert str(status) in outcome.reason


@pytest.mark.parametrize(("retry_after", "seconds"), [("12", 12.0), (None, None)])
async def test_provider_down_is_transient_honouring_any_retry_after(
    fake: FakeView,
    http_client: httpx.AsyncClient,
    retry_after: str | None,
    seconds: float | None,
) -> None:
    outcome = await restyle_with(fake, http_client, Answer.provider_down(retry_after))

    assert outcome == TransientFailure(
        reason="OpenRouter answered 503: No available model provider", retry_after=seconds
    )


async def test_an_answer_slower_than_the_read_timeout_is_a_transient_timeout(
    fake: FakeView,
) -> None:
    fake.script(Answer.slow(3))
    async with build_http_client(connect_timeout=1, read_timeout=0.3) as impatient:
        started = time.monotonic()
        outcome = await restyle(openrouter(impatient, fake.url))
        elapsed = time.monotonic() - started

    assert isinstance(outcome, TransientFailure)
    assert "timed out" in outcome.reason
    assert "ReadTimeout" in outcome.reason
    assert elapsed < 2.0
    assert len(fake.requests) == 1


async def test_malformed_json_is_transient(fake: FakeView, http_client: httpx.AsyncClient) -> None:
    outcome = await restyle_with(fake, http_client, Answer.malformed_json())

    assert isinstance(outcome, TransientFailure)
    assert "malformed" in outcome.reason


async def test_a_200_without_an_image_is_transient(
    fake: FakeView, http_client: httpx.AsyncClient
) -> None:
    outcome = await restyle_with(fake, http_client, Answer.no_image())

    assert isinstance(outcome, TransientFailure)
    assert "without an image" in outcome.reason


async def test_a_model_that_finished_with_an_error_is_transient(
    fake: FakeView, http_client: httpx.AsyncClient
) -> None:
    outcome = await restyle_with(fake, http_client, Answer.finish_error())

    assert isinstance(outcome, TransientFailure)
    assert "Upstream model error" in outcome.reason


async def test_a_provider_error_inside_a_200_is_transient(
    fake: FakeView, http_client: httpx.AsyncClient
) -> None:
    outcome = await restyle_with(fake, http_client, Answer.error_in_body(502))

    assert isinstance(outcome, TransientFailure)
    assert "502" in outcome.reason


async def test_a_closed_port_is_transient(http_client: httpx.AsyncClient) -> None:
    base_url = f"http://127.0.0.1:{closed_port()}/api/v1"

    outcome = await restyle(openrouter(http_client, base_url))

    assert isinstance(outcome, TransientFailure)
    assert "could not reach" in outcome.reason


async def test_a_body_that_does_not_match_its_content_encoding_is_transient(
    fake: FakeView, http_client: httpx.AsyncClient
) -> None:
    garbled = Answer(raw=b"this is not gzip", headers=(("Content-Encoding", "gzip"),))

    outcome = await restyle_with(fake, http_client, garbled)

    assert isinstance(outcome, TransientFailure)


# --- permanent -------------------------------------------------------------------------


async def test_moderation_is_a_permanent_content_policy_failure(
    fake: FakeView, http_client: httpx.AsyncClient
) -> None:
    outcome = await restyle_with(fake, http_client, Answer.moderated())

    assert outcome == PermanentFailure(
        message="The image was refused by the model's content policy."
    )


async def test_a_content_filter_finish_is_a_permanent_content_policy_failure(
    fake: FakeView, http_client: httpx.AsyncClient
) -> None:
    outcome = await restyle_with(fake, http_client, Answer.content_filter())

    assert outcome == PermanentFailure(message=CONTENT_POLICY)


async def test_a_moderation_error_inside_a_200_is_a_content_policy_failure(
    fake: FakeView, http_client: httpx.AsyncClient
) -> None:
    outcome = await restyle_with(fake, http_client, Answer.error_in_body(403, "flagged"))

    assert outcome == PermanentFailure(message=CONTENT_POLICY)


async def test_a_bad_request_means_the_photo_is_unusable(
    fake: FakeView, http_client: httpx.AsyncClient
) -> None:
    outcome = await restyle_with(fake, http_client, Answer.bad_request())

    assert outcome == PermanentFailure(message=UNUSABLE_PHOTO)


# --- operator --------------------------------------------------------------------------


async def test_out_of_credits_is_an_operator_failure(
    fake: FakeView, http_client: httpx.AsyncClient
) -> None:
    outcome = await restyle_with(fake, http_client, Answer.out_of_credits())

    assert isinstance(outcome, OperatorFailure)
    assert "402" in outcome.message
    assert "credits" in outcome.message


async def test_a_scripted_unauthorized_is_an_operator_failure(
    fake: FakeView, http_client: httpx.AsyncClient
) -> None:
    outcome = await restyle_with(fake, http_client, Answer.unauthorized())

    assert isinstance(outcome, OperatorFailure)
    assert "OPENROUTER_API_KEY" in outcome.message


async def test_a_wrong_api_key_is_an_operator_failure(
    fake: FakeView, http_client: httpx.AsyncClient
) -> None:
    outcome = await restyle(openrouter(http_client, fake.url, api_key="wrong"))

    assert isinstance(outcome, OperatorFailure)
    assert "401" in outcome.message
    assert "OPENROUTER_API_KEY" in outcome.message
    assert "wrong" not in outcome.message
    assert fake.requests == []  # refused before it counted as a completion request


async def test_a_wrong_base_path_is_an_operator_failure_naming_the_model(
    fake: FakeView, http_client: httpx.AsyncClient
) -> None:
    outcome = await restyle(openrouter(http_client, fake.url.replace("/api/v1", "/api/v2")))

    assert isinstance(outcome, OperatorFailure)
    assert "404" in outcome.message
    assert MODEL in outcome.message


# --- one shared client -----------------------------------------------------------------


async def test_one_client_serves_sequential_then_concurrent_calls(
    fake: FakeView, http_client: httpx.AsyncClient
) -> None:
    generator = openrouter(http_client, fake.url)

    sequential = [await restyle(generator) for _ in range(3)]

    # Ten answers held back until all ten requests are in: the calls really overlap.
    # (release() lasts for the fake's life; no other test here holds answers.)
    fake.script(*(Answer.held() for _ in range(10)))
    calls = asyncio.gather(*(restyle(generator) for _ in range(10)))
    await asyncio.to_thread(fake.wait_for_requests, 13)
    fake.release()
    concurrent = await calls

    expected = Generated(data=FAKE_PNG, content_type="image/png")
    assert sequential == [expected] * 3
    assert concurrent == [expected] * 10
    assert len(fake.requests) == 13
    assert all(r.image == PHOTO for r in fake.requests)
