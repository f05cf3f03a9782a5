"""GET /api/generate/{jobId}/events: live progress as Server-Sent Events (in memory).

httpx's ASGI transport (in the test's event loop: Litestar's test client runs the app
behind a blocking portal) hands over a streamed body once the stream ends, so each test
opens the stream in a task, waits until it follows the job (the in-memory storage counts
the followed jobs), drives the job, and reads the whole stream at the end.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from entrypoints.container import Container
from entrypoints.http import create_app
from picpaygo_core.models import Caller, PermanentFailure
from support.fakes import ScriptedGenerator
from support.images import jpeg_bytes

Client = httpx.AsyncClient
OpenClient = Callable[[Container], Client]


@pytest.fixture
async def open_client() -> AsyncIterator[OpenClient]:
    """Clients over one app per container, in this event loop."""
    clients: list[Client] = []
    apps: dict[int, object] = {}

    def open_(container: Container) -> Client:
        app = apps.setdefault(id(container), create_app(container))
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app),  # type: ignore[arg-type]
            base_url="http://picpaygo.test",
        )
        clients.append(client)
        return client

    yield open_
    for client in clients:
        await client.aclose()


@pytest.fixture
def container(make_container: Callable[..., Container]) -> Container:
    return make_container()


@pytest.fixture
def client(container: Container, open_client: OpenClient) -> Client:
    return open_client(container)


async def queued_job(client: Client) -> str:
    response = await client.post(
        "/api/generate",
        files={"image": ("me.jpg", jpeg_bytes(), "image/jpeg")},
        data={"category": "portraits"},
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["jobId"]
    return job_id


def events(response: httpx.Response) -> list[dict[str, object]]:
    """The ``status`` events of a whole stream, their data decoded."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    found = []
    for block in response.text.replace("\r\n", "\n").split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.split("\n") if line and not line.startswith(":")
        )
        if fields:
            assert fields["event"] == "status"
            assert fields["id"]
            found.append(json.loads(fields["data"]))
    return found


async def until(condition: Callable[[], bool]) -> None:
    """Let the other tasks run until ``condition`` holds (at most a second)."""
    async with asyncio.timeout(1.0):
        while not condition():  # noqa: ASYNC110 - counts to watch, no event to wait on
            await asyncio.sleep(0)


def followed(container: Container) -> int:
    count: int = container.storage().job_changes.watched
    return count


async def test_a_stream_sends_the_state_then_every_change_up_to_succeeded(
    make_container: Callable[..., Container], open_client: OpenClient
) -> None:
    generator = ScriptedGenerator(hold=True)
    container = make_container()
    container.generator.override(generator)
    client = open_client(container)
    job_id = await queued_job(client)

    stream = asyncio.create_task(client.get(f"/api/generate/{job_id}/events"))
    await until(lambda: followed(container) == 1)
    processing = asyncio.create_task(container.job_processor().process_next())
    await generator.started.wait()
    generator.release()
    await processing
    response = await asyncio.wait_for(stream, 1.0)

    sent = events(response)
    assert [event["status"] for event in sent] == ["queued", "running", "succeeded"]
    assert sent[-1] == (await client.get(f"/api/generate/{job_id}")).json()
    assert sent[-1]["outputUrl"] == f"/api/generate/{job_id}/image"
    assert followed(container) == 0


async def test_a_failing_job_ends_its_stream_with_failed(
    make_container: Callable[..., Container], open_client: OpenClient
) -> None:
    container = make_container()
    container.generator.override(ScriptedGenerator([PermanentFailure(message="No face found.")]))
    client = open_client(container)
    job_id = await queued_job(client)

    stream = asyncio.create_task(client.get(f"/api/generate/{job_id}/events"))
    await until(lambda: followed(container) == 1)
    await container.job_processor().process_next()
    sent = events(await asyncio.wait_for(stream, 1.0))

    assert sent[0]["status"] == "queued"
    assert sent[-1]["status"] == "failed"
    assert str(sent[-1]["error"]).startswith("No face found.")


async def test_a_finished_job_gives_one_event_and_closes(
    client: Client, container: Container
) -> None:
    job_id = await queued_job(client)
    await container.job_processor().process_next()

    sent = events(await client.get(f"/api/generate/{job_id}/events"))

    assert [event["status"] for event in sent] == ["succeeded"]


@pytest.mark.parametrize("job_id", ["0b3f5c4e-8d2a-4f6b-9c1e-2a7d9e4b1c3f", "not-a-uuid"])
async def test_an_unknown_job_is_404(client: Client, job_id: str) -> None:
    response = await client.get(f"/api/generate/{job_id}/events")

    assert response.status_code == 404
    assert response.json() == {"status_code": 404, "detail": "No such generation job."}


async def test_another_users_job_is_404(
    make_container: Callable[..., Container], open_client: OpenClient
) -> None:
    container = make_container()
    owner, other = open_client(container), open_client(container)
    for client, email in ((owner, "ada@example.com"), (other, "bob@example.com")):
        response = await client.post(
            "/api/auth/register", json={"email": email, "password": "correct horse battery"}
        )
        assert response.status_code == 201
    job_id = await queued_job(owner)

    response = await other.get(f"/api/generate/{job_id}/events")

    assert response.status_code == 404


async def test_the_sixth_stream_of_a_caller_is_429_and_a_closed_one_frees_its_place(
    make_container: Callable[..., Container], open_client: OpenClient
) -> None:
    container = make_container()
    client = open_client(container)
    job_ids = [await queued_job(client) for _ in range(3)]
    streams = [
        asyncio.create_task(client.get(f"/api/generate/{job_ids[n % 3]}/events")) for n in range(5)
    ]
    progress = container.progress_service()
    here = Caller(user=None, client_network="127.0.0.1")
    await until(lambda: followed(container) == 3 and progress.open_streams(here) == 5)

    refused = await client.get(f"/api/generate/{job_ids[0]}/events")

    assert refused.status_code == 429
    assert refused.json()["status_code"] == 429
    for _ in job_ids:
        await container.job_processor().process_next()
    for stream in streams:
        assert events(await asyncio.wait_for(stream, 1.0))[-1]["status"] == "succeeded"
    assert progress.open_streams(here) == 0
    assert (await client.get(f"/api/generate/{job_ids[0]}/events")).status_code == 200
