"""/api/generate over HTTP: upload, follow the job, fetch the picture."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from PIL import Image

from entrypoints.container import Container
from picpaygo_core.models import PermanentFailure
from support.fakes import ScriptedGenerator
from support.images import (
    carries_metadata,
    gif_bytes,
    jpeg_bytes,
    pattern_png_bytes,
    photo_with_metadata_bytes,
    png_bomb_bytes,
    png_bytes,
    text_bytes,
    truncated_jpeg_bytes,
    webp_bytes,
)

Client = AsyncTestClient[Litestar]
OpenClient = Callable[[Container], Awaitable[Client]]

CATEGORIES = ["portraits", "editorial", "documentary"]
UPLOADS = {
    "jpeg": ("me.jpg", jpeg_bytes(), "image/jpeg"),
    "png": ("me.png", png_bytes(), "image/png"),
    "webp": ("me.webp", webp_bytes(), "image/webp"),
}


async def upload(
    client: Client,
    image: bytes = b"",
    category: str = "portraits",
    *,
    filename: str = "me.jpg",
    content_type: str = "image/jpeg",
) -> httpx.Response:
    return await client.post(
        "/api/generate",
        files={"image": (filename, image or jpeg_bytes(), content_type)},
        data={"category": category},
    )


async def queued_job(client: Client, image: bytes = b"", category: str = "portraits") -> str:
    response = await upload(client, image, category)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["jobId"]
    return job_id


async def status(client: Client, job_id: str) -> dict[str, object]:
    response = await client.get(f"/api/generate/{job_id}")
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def free_credits(client: Client) -> int:
    value: int = (await client.get("/api/credits")).json()["freeCredits"]
    return value


async def sign_in(client: Client, email: str) -> None:
    response = await client.post(
        "/api/auth/register", json={"email": email, "password": "correct horse battery"}
    )
    assert response.status_code == 201, response.text


def assert_error(response: httpx.Response, status_code: int) -> None:
    assert response.status_code == status_code, response.text
    assert response.json()["status_code"] == status_code
    assert isinstance(response.json()["detail"], str)


@pytest.fixture
def offline_container(make_container: Callable[..., Container]) -> Container:
    """A container with the real offline Pillow generator instead of the scripted one."""
    container = make_container()
    container.generator.reset_override()
    return container


@pytest.mark.parametrize("category", CATEGORIES)
@pytest.mark.parametrize("kind", list(UPLOADS))
async def test_a_photo_becomes_a_png_picture_with_the_offline_generator(
    offline_container: Container, open_client: OpenClient, kind: str, category: str
) -> None:
    client = await open_client(offline_container)
    response = await client.post(
        "/api/generate", files={"image": UPLOADS[kind]}, data={"category": category}
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["jobId"]

    await offline_container.job_processor().process_next()

    job = await status(client, job_id)
    assert job["status"] == "succeeded"
    assert job["category"] == category
    assert job["error"] is None
    picture = await client.get(str(job["outputUrl"]))
    assert picture.status_code == 200
    assert picture.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(picture.content)) as image:
        assert image.format == "PNG"
        image.load()


async def test_an_upload_answers_202_with_the_job_id_and_queued(client: Client) -> None:
    response = await upload(client)

    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"jobId", "status"}
    assert body["status"] == "queued"
    assert uuid.UUID(body["jobId"])


async def test_a_queued_job_has_the_full_status_shape(client: Client) -> None:
    job_id = await queued_job(client, category="editorial")

    job = await status(client, job_id)

    assert set(job) == {
        "jobId",
        "status",
        "category",
        "outputUrl",
        "error",
        "createdAt",
        "updatedAt",
    }
    assert (job["jobId"], job["status"], job["category"]) == (job_id, "queued", "editorial")
    assert job["outputUrl"] is None
    assert job["error"] is None


async def test_the_category_is_read_in_any_letter_case(client: Client) -> None:
    job_id = await queued_job(client, category=" Documentary ")

    assert (await status(client, job_id))["category"] == "documentary"


async def test_a_job_is_running_while_the_generator_works(
    container: Container, client: Client
) -> None:
    generator = ScriptedGenerator(hold=True)
    container.generator.override(generator)
    job_id = await queued_job(client)
    processing = asyncio.create_task(container.job_processor().process_next())
    await asyncio.wait_for(generator.started.wait(), timeout=10)

    running = await status(client, job_id)

    generator.release()
    await processing
    assert running["status"] == "running"
    assert running["outputUrl"] is None
    assert (await status(client, job_id))["status"] == "succeeded"


async def test_the_picture_is_not_served_before_the_job_succeeds(client: Client) -> None:
    job_id = await queued_job(client)

    assert_error(await client.get(f"/api/generate/{job_id}/image"), 404)


async def test_an_upload_is_charged_one_credit(client: Client) -> None:
    await queued_job(client)

    assert await free_credits(client) == 2


async def test_the_content_type_is_decided_by_the_bytes_not_the_client(
    client: Client, container: Container, generator: ScriptedGenerator
) -> None:
    response = await upload(client, png_bytes(), filename="me.jpg", content_type="image/jpeg")
    assert response.status_code == 202

    await container.job_processor().process_next()

    assert generator.calls[0].content_type == "image/png"


async def test_a_jpegs_comment_iptc_xmp_and_exif_reach_neither_storage_nor_the_model(
    client: Client, container: Container, generator: ScriptedGenerator
) -> None:
    photo = photo_with_metadata_bytes("JPEG", width=64, height=48, orientation=6)
    assert {"COM", "IPTC", "XMP", "SecretCam", "GPS"} <= set(carries_metadata(photo))
    await queued_job(client, photo)
    [stored] = container.storage().store.images.values()
    kept = await container.pictures().get(stored.key)

    await container.job_processor().process_next()

    assert carries_metadata(kept) == []
    [call] = generator.calls
    assert call.image == kept


@pytest.mark.parametrize(
    "data",
    [text_bytes(), gif_bytes(), truncated_jpeg_bytes(), b"\x89PNG\r\n\x1a\n"],
    ids=["text", "gif", "truncated-jpeg", "png-signature-only"],
)
async def test_a_file_that_is_not_a_jpeg_png_or_webp_is_415_and_costs_nothing(
    client: Client, data: bytes
) -> None:
    response = await upload(client, data, filename="me.jpg", content_type="image/jpeg")

    assert_error(response, 415)
    assert await free_credits(client) == 3


async def test_an_empty_file_is_refused_and_costs_nothing(client: Client) -> None:
    response = await client.post(
        "/api/generate",
        files={"image": ("me.jpg", b"", "image/jpeg")},
        data={"category": "portraits"},
    )

    assert 400 <= response.status_code < 500
    assert await free_credits(client) == 3


async def test_a_file_over_the_upload_limit_is_413_and_costs_nothing(
    make_container: Callable[..., Container], open_client: OpenClient
) -> None:
    client = await open_client(make_container(MAX_UPLOAD_BYTES="4096"))
    image = pattern_png_bytes(300, 300)
    assert len(image) > 4096

    response = await upload(client, image, filename="me.png", content_type="image/png")

    assert_error(response, 413)
    assert await free_credits(client) == 3


async def test_a_body_far_over_the_limit_is_refused_413_before_it_is_parsed(
    make_container: Callable[..., Container], open_client: OpenClient
) -> None:
    client = await open_client(make_container(MAX_UPLOAD_BYTES="4096"))

    # Not even multipart: parsed, it would be a 400; refused by size, it is a 413.
    response = await client.post(
        "/api/generate",
        content=b"x" * (2 * 1024 * 1024),
        headers={"Content-Type": "multipart/form-data; boundary=never-seen"},
    )

    assert_error(response, 413)
    assert await free_credits(client) == 3


async def test_a_decompression_bomb_is_413_and_costs_nothing(client: Client) -> None:
    response = await upload(client, png_bomb_bytes(), filename="me.png", content_type="image/png")

    assert_error(response, 413)
    assert await free_credits(client) == 3


@pytest.mark.parametrize("category", ["cartoon", "", "portraits!"])
async def test_an_unknown_category_is_422_and_costs_nothing(client: Client, category: str) -> None:
    assert_error(await upload(client, category=category), 422)
    assert await free_credits(client) == 3


async def test_without_credits_an_upload_is_402_and_queues_no_job(
    client: Client, container: Container
) -> None:
    await client.post("/api/credits/consume", json={"amount": 3})

    assert_error(await upload(client), 402)
    assert await container.job_processor().process_next() is None


async def test_a_signed_in_user_pays_with_the_balance_once_free_credits_are_gone(
    client: Client,
) -> None:
    await sign_in(client, "ada@example.com")
    await client.post("/api/credits/checkout", json={"pack": 5})
    await client.post("/api/credits/consume", json={"amount": 3})

    await queued_job(client)

    assert (await client.get("/api/credits")).json()["balance"] == 4


async def test_another_users_job_and_picture_are_404(client: Client, container: Container) -> None:
    await sign_in(client, "ada@example.com")
    job_id = await queued_job(client)
    await container.job_processor().process_next()
    await client.post("/api/auth/logout")

    await sign_in(client, "bob@example.com")

    assert_error(await client.get(f"/api/generate/{job_id}"), 404)
    assert_error(await client.get(f"/api/generate/{job_id}/image"), 404)


async def test_a_users_job_is_404_to_an_anonymous_client(
    client: Client, container: Container
) -> None:
    await sign_in(client, "ada@example.com")
    job_id = await queued_job(client)
    await container.job_processor().process_next()

    await client.post("/api/auth/logout")

    assert_error(await client.get(f"/api/generate/{job_id}"), 404)
    assert_error(await client.get(f"/api/generate/{job_id}/image"), 404)


async def test_the_owner_sees_their_job_and_picture(client: Client, container: Container) -> None:
    await sign_in(client, "ada@example.com")
    job_id = await queued_job(client)
    await container.job_processor().process_next()

    job = await status(client, job_id)

    assert (await client.get(str(job["outputUrl"]))).status_code == 200


async def test_an_anonymous_job_is_reached_by_its_id_from_anywhere(
    client: Client, container: Container, open_client: OpenClient
) -> None:
    job_id = await queued_job(client)
    await container.job_processor().process_next()
    other_browser = await open_client(container)
    await sign_in(other_browser, "bob@example.com")

    job = await status(other_browser, job_id)

    assert job["status"] == "succeeded"
    assert (await other_browser.get(str(job["outputUrl"]))).status_code == 200


@pytest.mark.parametrize(
    "job_id",
    ["not-a-uuid", "123", str(uuid.uuid4()), "00000000-0000-0000-0000-000000000000", "%00"],
    ids=["word", "number", "unknown-uuid", "nil-uuid", "nul"],
)
async def test_a_malformed_or_unknown_job_id_is_404(client: Client, job_id: str) -> None:
    assert_error(await client.get(f"/api/generate/{job_id}"), 404)
    assert_error(await client.get(f"/api/generate/{job_id}/image"), 404)


async def test_a_failed_job_says_why_and_refunds_the_credit(
    container: Container, client: Client
) -> None:
    container.generator.override(ScriptedGenerator([PermanentFailure(message="nope")]))
    job_id = await queued_job(client)
    assert await free_credits(client) == 2

    await container.job_processor().process_next()

    job = await status(client, job_id)
    assert job["status"] == "failed"
    assert job["error"] == "nope. Your credit was refunded."
    assert job["outputUrl"] is None
    assert await free_credits(client) == 3
    assert_error(await client.get(f"/api/generate/{job_id}/image"), 404)


async def test_a_failed_paid_job_refunds_the_paid_balance(
    container: Container, client: Client
) -> None:
    container.generator.override(ScriptedGenerator([PermanentFailure(message="nope")]))
    await sign_in(client, "ada@example.com")
    await client.post("/api/credits/checkout", json={"pack": 5})
    await client.post("/api/credits/consume", json={"amount": 3})
    await queued_job(client)

    await container.job_processor().process_next()

    assert (await client.get("/api/credits")).json()["balance"] == 5


async def test_the_picture_is_served_with_its_bytes_and_kept_by_no_cache(
    client: Client, container: Container
) -> None:
    job_id = await queued_job(client)
    await container.job_processor().process_next()

    picture = await client.get(f"/api/generate/{job_id}/image")

    assert picture.content == b"\x89PNG\r\n\x1a\nscripted"
    assert picture.headers["x-content-type-options"] == "nosniff"
    assert picture.headers["cache-control"] == "no-store"
