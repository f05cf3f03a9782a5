"""``/metrics``: the Prometheus series, scraped after driving traffic through the app."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable

from litestar import Litestar
from litestar.testing import AsyncTestClient

from entrypoints.container import Container
from picpaygo_core.models import PermanentFailure
from support.fakes import ScriptedGenerator
from support.images import jpeg_bytes

Client = AsyncTestClient[Litestar]
OpenClient = Callable[[Container], Awaitable[Client]]
PASSWORD = "correct horse battery"


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series in the exposition ``text`` (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if found == labels:
            return float(match.group(3))
    return 0.0


async def scrape(client: Client) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


async def upload(client: Client) -> str:
    response = await client.post(
        "/api/generate",
        files={"image": ("me.jpg", jpeg_bytes(), "image/jpeg")},
        data={"category": "portraits"},
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["jobId"]
    return job_id


async def test_http_requests_are_counted_by_route_template_method_and_status(
    client: Client,
) -> None:
    for _ in range(3):
        await client.get("/api/credits")
    await client.get(f"/api/generate/{uuid.uuid4()}")
    await client.get("/no/such/path/123")

    text = await scrape(client)

    assert (
        sample(
            text, "picpaygo_http_requests_total", route="/api/credits", method="GET", status="200"
        )
        == 3
    )
    assert (
        sample(
            text,
            "picpaygo_http_requests_total",
            route="/api/generate/{jobId}",
            method="GET",
            status="404",
        )
        == 1
    )
    assert (
        sample(
            text,
            "picpaygo_http_request_duration_seconds_count",
            route="/api/credits",
            method="GET",
            status="200",
        )
        == 3
    )
    assert "/no/such/path" not in text
    assert (
        sample(
            text, "picpaygo_http_requests_total", route="<unmatched>", method="GET", status="404"
        )
        == 1
    )


async def test_jobs_queue_generator_and_credits_are_counted(
    container: Container, client: Client, generator: ScriptedGenerator
) -> None:
    processor = container.job_processor()
    first = await upload(client)
    await upload(client)

    queued = await scrape(client)
    assert sample(queued, "picpaygo_jobs_created_total") == 2
    assert sample(queued, "picpaygo_job_queue_depth") == 2
    assert sample(queued, "picpaygo_job_queue_oldest_age_seconds") >= 0
    assert sample(queued, "picpaygo_credits_total", movement="spent") == 2

    generator.outcomes.append(PermanentFailure(message="Refused."))
    assert (await processor.process_next()) is not None
    assert (await processor.process_next()) is not None

    text = await scrape(client)
    assert first
    assert sample(text, "picpaygo_job_queue_depth") == 0
    assert sample(text, "picpaygo_jobs_finished_total", outcome="succeeded") == 1
    assert sample(text, "picpaygo_jobs_finished_total", outcome="failed") == 1
    assert sample(text, "picpaygo_credits_total", movement="refunded") == 1
    assert sample(text, "picpaygo_generator_call_duration_seconds_count", outcome="generated") == 1
    assert sample(text, "picpaygo_generator_call_duration_seconds_count", outcome="permanent") == 1


async def test_purchases_and_sign_in_failures_are_counted(
    make_container: Callable[..., Container], open_client: OpenClient
) -> None:
    client = await open_client(make_container(AUTH_ATTEMPTS_PER_MINUTE="2"))
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    await client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    await client.post("/api/credits/checkout", json={"pack": 10})
    for _ in range(3):
        await client.post("/api/auth/login", json={"email": email, "password": "wrong password"})

    text = await scrape(client)

    assert sample(text, "picpaygo_credits_total", movement="purchased") == 10
    assert sample(text, "picpaygo_sign_in_failures_total", method="password") >= 1
    assert sample(text, "picpaygo_sign_in_throttled_total") >= 1


async def test_metrics_are_404_when_disabled(
    make_container: Callable[..., Container], open_client: OpenClient
) -> None:
    client = await open_client(make_container(METRICS_ENABLED="false"))

    response = await client.get("/metrics")

    assert response.status_code == 404
