"""Request ids, the access line of every request, and the health probes."""

from __future__ import annotations

import logging
import uuid

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from entrypoints.http.access import UNMATCHED_ROUTE

Client = AsyncTestClient[Litestar]


def access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "picpaygo.access"]


async def test_every_response_carries_a_new_request_id(client: Client) -> None:
    first = await client.get("/api/credits")
    second = await client.get("/api/no-such-path")

    ids = {first.headers["x-request-id"], second.headers["x-request-id"]}
    assert len(ids) == 2
    assert all(len(value) >= 16 for value in ids)


async def test_a_sane_client_request_id_is_kept(client: Client) -> None:
    response = await client.get("/api/credits", headers={"X-Request-ID": "abc-123.def"})

    assert response.headers["x-request-id"] == "abc-123.def"


@pytest.mark.parametrize("sent", ["", "has spaces", "x" * 200, "a;b", "<script>"])
async def test_an_insane_client_request_id_is_replaced(client: Client, sent: str) -> None:
    response = await client.get("/api/credits", headers={"X-Request-ID": sent})

    assert response.headers["x-request-id"] != sent
    assert uuid.UUID(hex=response.headers["x-request-id"])


async def test_one_access_line_per_request_with_route_template_status_and_request_id(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    job_id = uuid.uuid4()

    response = await client.get(f"/api/generate/{job_id}", headers={"X-Request-ID": "req-42"})

    [line] = access_records(caplog)
    fields = line.fields  # type: ignore[attr-defined]
    assert response.status_code == 404
    assert fields["method"] == "GET"
    assert fields["route"] == "/api/generate/{jobId}"
    assert fields["status"] == 404
    assert fields["duration_ms"] >= 0
    assert str(job_id) not in line.getMessage()


async def test_unknown_paths_share_one_route_label(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    await client.get("/wp-admin/setup.php")

    [line] = access_records(caplog)
    assert line.fields["route"] == UNMATCHED_ROUTE  # type: ignore[attr-defined]
    assert line.fields["status"] == 404  # type: ignore[attr-defined]


async def test_liveness_answers_ok_without_asking_the_storage(client: Client) -> None:
    response = await client.get("/api/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readiness_answers_like_the_original_health_path(client: Client) -> None:
    ready = await client.get("/api/health/ready")
    health = await client.get("/api/health")

    assert ready.status_code == health.status_code == 200
    assert ready.json() == health.json()
