from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from entrypoints.container import Container
from support.images import jpeg_bytes


async def test_an_anonymous_upload_is_processed_into_a_picture(
    client: AsyncTestClient[Litestar], container: Container
) -> None:
    created = await client.post(
        "/api/generate",
        files={"image": ("me.jpg", jpeg_bytes(), "image/jpeg")},
        data={"category": "portraits"},
    )
    assert created.status_code == 202, created.text
    job_id = created.json()["jobId"]
    assert created.json()["status"] == "queued"

    await container.job_processor().process_next()

    status = await client.get(f"/api/generate/{job_id}")
    assert status.json()["status"] == "succeeded"
    image = await client.get(status.json()["outputUrl"])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
