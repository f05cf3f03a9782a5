"""The OpenRouter image generator end to end: real ``picpaygo serve`` and ``picpaygo
worker`` processes on PostgreSQL, talking to the fake OpenRouter over loopback HTTP.

Each test drives the public API with httpx (sign up, buy credits, upload a photo, follow
the job) while the fake answers as scripted: success, rate limits, server errors, a slow
model, moderation, a refused key, an empty account, and a worker killed mid-job. The
outcome is checked where users and operators see it (job status, picture, credits,
``/api/health``, the server log) and in the database (ledger, images, jobs).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from PIL import Image
from psycopg.rows import dict_row

from picpaygo_core.models import Category
from picpaygo_core.prompts import build_prompt
from support.api import checkout, credits_of, register, wait_for_job
from support.fake_openrouter import FAKE_PNG, Answer, FakeOpenRouter
from support.images import (
    carries_metadata,
    jpeg_bytes,
    photo_with_metadata_bytes,
    same_picture,
)
from support.server import ServerProcess, answered_500, serving
from support.worker import running_worker

RIGHT_KEY = "sk-or-v1-right"
WRONG_KEY = "sk-or-v1-wrong"
MODEL = "fake-vendor/restyler-1"
PACK = 5
JOB_DEADLINE_SECONDS = 20.0
LOG_DEADLINE_SECONDS = 5.0
POLL_SECONDS = 0.05
# A distinctive upload, so the bytes the fake receives can only be this photo.
PHOTO = jpeg_bytes(80, 60, (30, 90, 200))

# Short timings, so retries and lease take-overs happen within seconds.
FAST = {
    "JOB_POLL_SECONDS": "0.2",
    "JOB_RETRY_BASE_SECONDS": "0.2",
    "JOB_RETRY_MAX_SECONDS": "2",
    "JOB_MAX_ATTEMPTS": "3",
}


# --- the stack: database, fake OpenRouter, processes ----------------------------------


@dataclass
class Stack:
    """The run's database and a fake OpenRouter that accepts only ``RIGHT_KEY``."""

    postgres_url: str
    fake: FakeOpenRouter

    def env(self, **settings: str) -> dict[str, str]:
        """Settings for a server or worker on this stack; ``settings`` win.

        No free credits by default, so a signed-in user pays from the ledger.
        """
        return {
            "DATABASE_URL": self.postgres_url,
            "OPENROUTER_API_KEY": RIGHT_KEY,
            "OPENROUTER_URL": self.fake.url,
            "OPENROUTER_MODEL": MODEL,
            "DEFAULT_FREE_CREDITS": "0",
            **FAST,
            **settings,
        }

    @contextlib.contextmanager
    def api(self, **settings: str) -> Iterator[tuple[ServerProcess, httpx.Client]]:
        """A ready ``picpaygo serve`` and a client for it; its log must stay clean."""
        with (
            serving(self.env(**settings)) as server,
            httpx.Client(base_url=server.base_url, timeout=30.0) as client,
        ):
            yield server, client
            log = server.output(tail=None)
            assert "Traceback" not in log, log
            assert not answered_500(log), log

    def ledger_of_job(self, job_id: str) -> list[tuple[int, str]]:
        """(amount, reason) of every ledger entry of the job, oldest first."""
        with psycopg.connect(self.postgres_url) as conn:
            rows = conn.execute(
                "SELECT amount, reason FROM credit_ledger WHERE job_id = %s ORDER BY seq",
                (job_id,),
            ).fetchall()
        return [(row[0], row[1]) for row in rows]

    def job_row(self, job_id: str) -> dict[str, Any]:
        """The job's row: input and output image ids, attempts, refunded."""
        with psycopg.connect(self.postgres_url, row_factory=dict_row) as conn:
            row = conn.execute(
                "SELECT input_image_id, output_image_id, attempts, refunded "
                "FROM jobs WHERE id = %s",
                (job_id,),
            ).fetchone()
        assert row is not None, f"no job {job_id} in the database"
        return row

    def stored_images(self) -> dict[Any, tuple[bytes, str]]:
        """Every stored image: id -> (bytes, content type)."""
        with psycopg.connect(self.postgres_url) as conn:
            rows = conn.execute(
                "SELECT i.id, o.data, i.content_type FROM images i "
                "JOIN picture_objects o ON o.key = i.key"
            ).fetchall()
        return {row[0]: (bytes(row[1]), row[2]) for row in rows}


@pytest.fixture
def fake() -> Iterator[FakeOpenRouter]:
    with FakeOpenRouter(api_key=RIGHT_KEY) as fake:
        yield fake


@pytest.fixture
def stack(postgres_url: str, fake: FakeOpenRouter) -> Stack:
    return Stack(postgres_url, fake)


# --- helpers ----------------------------------------------------------------------------


def paying_user(client: httpx.Client) -> int:
    """Register and buy a pack (instant payments); the paid balance."""
    register(client)
    view = checkout(client, PACK)
    assert (view["balance"], view["freeCredits"]) == (PACK, 0), view
    balance: int = view["balance"]
    return balance


def upload(client: httpx.Client, category: str = "editorial") -> str:
    """Queue a generation of ``PHOTO``; the job id."""
    response = client.post(
        "/api/generate",
        data={"category": category},
        files={"image": ("me.jpg", PHOTO, "image/jpeg")},
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["jobId"]
    return job_id


def health(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/api/health")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_until(condition: Callable[[], bool], what: str, deadline_seconds: float) -> None:
    deadline = time.monotonic() + deadline_seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {deadline_seconds:g} s"
        time.sleep(POLL_SECONDS)


def error_lines(server: ServerProcess) -> list[str]:
    """The server's ERROR-level log lines."""
    return [line for line in server.output(tail=None).splitlines() if re.search(r"\bERROR\b", line)]


def assert_failed_and_refunded(stack: Stack, client: httpx.Client, job_id: str, before: int) -> str:
    """The job failed with a human message and its one charge was refunded; the message."""
    job = wait_for_job(client, job_id)
    assert job["status"] == "failed", job
    assert job["outputUrl"] is None, job
    error: str = job["error"]
    assert error, job
    assert "refunded" in error, error
    assert "OpenRouter answered" not in error, error  # the provider's words stay in the log
    assert stack.ledger_of_job(job_id) == [(-1, "generation"), (1, "refund")]
    assert credits_of(client)["balance"] == before
    return error


# --- success -----------------------------------------------------------------------------


def test_a_paid_editorial_job_sends_the_photo_to_the_model_and_serves_its_png(
    stack: Stack,
) -> None:
    with stack.api() as (_, client):
        before = paying_user(client)
        job_id = upload(client, "editorial")
        job = wait_for_job(client, job_id)

        assert job["status"] == "succeeded", job
        assert job["error"] is None
        picture = client.get(job["outputUrl"])
        assert picture.status_code == 200, picture.text
        assert picture.headers["content-type"] == "image/png"
        assert picture.content == FAKE_PNG
        assert credits_of(client)["balance"] == before - 1

    [sent] = stack.fake.requests
    assert sent.body["model"] == MODEL
    assert sent.body["modalities"] == ["image", "text"]
    assert sent.prompt == build_prompt(Category.EDITORIAL)
    assert sent.image_url.startswith("data:image/jpeg;base64,")
    assert same_picture(sent.image, PHOTO)  # re-encoded without metadata
    assert sent.headers["authorization"] == f"Bearer {RIGHT_KEY}"

    assert stack.ledger_of_job(job_id) == [(-1, "generation")]
    # The photo is gone once the job is done: only the output is stored.
    row = stack.job_row(job_id)
    assert row["input_image_id"] is None
    assert stack.stored_images() == {row["output_image_id"]: (FAKE_PNG, "image/png")}


def test_a_rate_limited_job_is_retried_after_retry_after_and_charged_once(stack: Stack) -> None:
    stack.fake.script(Answer.rate_limited("1"), Answer.success())
    with stack.api() as (_, client):
        before = paying_user(client)
        job_id = upload(client)
        job = wait_for_job(client, job_id)

        assert job["status"] == "succeeded", job
        assert client.get(job["outputUrl"]).content == FAKE_PNG
        assert credits_of(client)["balance"] == before - 1

    first, second = stack.fake.requests
    # Retry-After: 1 was honoured (the backoff alone would be at most 0.2 s).
    assert second.received_at - first.received_at >= 0.9
    assert stack.ledger_of_job(job_id) == [(-1, "generation")]
    assert stack.job_row(job_id)["attempts"] == 2


@pytest.mark.parametrize(
    "timeouts",
    [
        pytest.param({"JOB_TIMEOUT_SECONDS": "1.5"}, id="job-timeout"),
        pytest.param({"OPENROUTER_READ_TIMEOUT_SECONDS": "1"}, id="read-timeout"),
    ],
)
def test_a_model_slower_than_the_timeout_is_abandoned_and_retried(
    stack: Stack, timeouts: dict[str, str]
) -> None:
    stack.fake.script(Answer.slow(10), Answer.success())
    with stack.api(**timeouts) as (_, client):
        before = paying_user(client)
        started = time.monotonic()
        job_id = upload(client)
        job = wait_for_job(client, job_id)
        took = time.monotonic() - started

        assert job["status"] == "succeeded", job
        assert client.get(job["outputUrl"]).content == FAKE_PNG
        assert took < 6.0, f"the job took {took:.1f} s: the slow answer was waited for"
        assert credits_of(client)["balance"] == before - 1

    assert len(stack.fake.requests) == 2
    assert stack.ledger_of_job(job_id) == [(-1, "generation")]


# --- failures that refund ----------------------------------------------------------------


def test_three_server_errors_fail_the_job_and_refund_its_credit(stack: Stack) -> None:
    stack.fake.script(*[Answer.server_error(500)] * 3)  # a fourth attempt would succeed
    with stack.api() as (_, client):
        before = paying_user(client)
        job_id = upload(client)
        assert_failed_and_refunded(stack, client, job_id, before)

    assert len(stack.fake.requests) == 3
    assert stack.job_row(job_id)["input_image_id"] is None
    assert stack.stored_images() == {}


def test_a_moderated_photo_fails_at_once_with_the_content_policy_message(stack: Stack) -> None:
    stack.fake.script(Answer.moderated())
    with stack.api() as (_, client):
        before = paying_user(client)
        job_id = upload(client)
        error = assert_failed_and_refunded(stack, client, job_id, before)
        assert "The image was refused by the model's content policy" in error
        assert health(client)["status"] == "ok"  # the user's photo, not the operator's problem

    assert len(stack.fake.requests) == 1


def test_an_anonymous_failed_job_gives_the_free_credit_back(stack: Stack) -> None:
    stack.fake.script(*[Answer.server_error(500)] * 3)
    with stack.api(DEFAULT_FREE_CREDITS="3") as (_, client):
        start = credits_of(client)
        assert (start["authenticated"], start["freeCredits"]) == (False, 3), start
        job_id = upload(client)
        assert credits_of(client)["freeCredits"] == 2  # charged with the upload
        job = wait_for_job(client, job_id)

        assert job["status"] == "failed", job
        assert "refunded" in job["error"]
        assert credits_of(client) == start

    assert len(stack.fake.requests) == 3
    assert stack.ledger_of_job(job_id) == []  # free credits never touch the paid ledger


# --- operator problems: incidents --------------------------------------------------------


def test_a_refused_api_key_degrades_health_logs_once_and_clears_after_the_fix(
    stack: Stack,
) -> None:
    with stack.api(OPENROUTER_API_KEY=WRONG_KEY) as (server, client):
        before = paying_user(client)
        first = upload(client)
        assert_failed_and_refunded(stack, client, first, before)

        report = health(client)
        assert report["status"] == "degraded", report
        assert report["checks"]["database"] == "ok", report
        assert "API key" in report["checks"]["imageGenerator"], report
        assert "OPENROUTER_API_KEY" in report["checks"]["imageGenerator"], report
        wait_until(lambda: len(error_lines(server)) >= 1, "an ERROR line", LOG_DEADLINE_SECONDS)

        second = upload(client)
        assert_failed_and_refunded(stack, client, second, before)
        wait_until(
            lambda: f"job {second} failed" in server.output(tail=None),
            "the second job's failure is logged",
            LOG_DEADLINE_SECONDS,
        )
        [line] = error_lines(server)  # one per incident, not one per job
        assert "API key" in line, line

    assert stack.fake.requests == []  # the fake refused both before recording anything

    # The operator fixes the key; the incident, kept in the database, outlives the restart
    # and ends with the first picture made.
    with stack.api() as (server, client):
        assert health(client)["status"] == "degraded"
        register(client)
        checkout(client, PACK)
        job = wait_for_job(client, upload(client))
        assert job["status"] == "succeeded", job
        assert health(client) == {
            "status": "ok",
            "checks": {"database": "ok", "imageGenerator": "ok"},
        }
        assert error_lines(server) == []


def test_an_openrouter_account_out_of_credits_degrades_health(stack: Stack) -> None:
    stack.fake.script(Answer.out_of_credits())
    with stack.api() as (server, client):
        assert health(client)["status"] == "ok"
        before = paying_user(client)
        job_id = upload(client)
        assert_failed_and_refunded(stack, client, job_id, before)

        report = health(client)
        assert report["status"] == "degraded", report
        assert report["checks"]["database"] == "ok", report
        assert "out of credits" in report["checks"]["imageGenerator"], report
        wait_until(lambda: len(error_lines(server)) == 1, "an ERROR line", LOG_DEADLINE_SECONDS)

    assert len(stack.fake.requests) == 1  # an operator problem is not retried


# --- a worker dies mid-job ---------------------------------------------------------------


def test_a_worker_stopped_mid_job_hands_it_back_and_another_finishes_it_at_once(
    stack: Stack,
) -> None:
    stack.fake.script(Answer.held())  # then success
    # The lease (60 s) would hold the job far longer than the 5 s allowed here.
    worker_env = stack.env(SHUTDOWN_GRACE_SECONDS="0.5", JOB_LEASE_SECONDS="60")
    with stack.api(JOB_WORKERS="0") as (_, client):
        before = paying_user(client)
        with running_worker(worker_env) as a:
            job_id = upload(client)
            stack.fake.wait_for_requests(1, timeout=JOB_DEADLINE_SECONDS)
            with running_worker(worker_env) as b:
                wait_until(lambda: "started" in b.output(), "second worker up", 20.0)
                stopped_at = time.monotonic()
                a.process.send_signal(signal.SIGTERM)
                job = wait_for_job(client, job_id, deadline_seconds=5.0)
                took = time.monotonic() - stopped_at
                assert a.process.wait(timeout=10) == 0, a.output()
                assert job["status"] == "succeeded", (job, b.output())
            assert "handed_back" in a.output(), a.output()
        stack.fake.release()
        assert credits_of(client)["balance"] == before - 1

    assert took < 5.0
    assert len(stack.fake.requests) == 2
    assert stack.ledger_of_job(job_id) == [(-1, "generation")]
    row = stack.job_row(job_id)
    assert (row["attempts"], row["refunded"]) == (1, False)


def test_a_job_of_a_killed_worker_is_finished_by_another_and_charged_once(
    stack: Stack,
) -> None:
    stack.fake.script(Answer.held())  # then success
    worker_env = stack.env(JOB_LEASE_SECONDS="3")
    with stack.api(JOB_WORKERS="0") as (_, client):
        before = paying_user(client)
        with running_worker(worker_env) as a:
            job_id = upload(client)
            stack.fake.wait_for_requests(1, timeout=JOB_DEADLINE_SECONDS)
            os.kill(a.process.pid, signal.SIGKILL)
            assert a.process.wait(timeout=10) == -signal.SIGKILL
        stack.fake.release()
        assert client.get(f"/api/generate/{job_id}").json()["status"] == "running"

        with running_worker(worker_env) as b:
            job = wait_for_job(client, job_id)
            assert job["status"] == "succeeded", (job, b.output())
        assert client.get(job["outputUrl"]).content == FAKE_PNG
        assert credits_of(client)["balance"] == before - 1

    assert len(stack.fake.requests) == 2
    assert stack.ledger_of_job(job_id) == [(-1, "generation")]
    row = stack.job_row(job_id)
    assert (row["attempts"], row["refunded"], row["input_image_id"]) == (2, False, None)


# --- privacy -------------------------------------------------------------------------------


def test_a_photos_gps_and_camera_never_reach_the_model_or_storage(stack: Stack) -> None:
    photo = photo_with_metadata_bytes("JPEG", width=80, height=60, orientation=6)
    assert {"SecretCam", "Model X-42", "GPS", "orientation"} <= set(carries_metadata(photo))
    with stack.api(JOB_WORKERS="0") as (_, client):
        paying_user(client)
        response = client.post(
            "/api/generate",
            data={"category": "portraits"},
            files={"image": ("me.jpg", photo, "image/jpeg")},
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["jobId"]
        [(stored, content_type)] = stack.stored_images().values()  # before any worker ran
        with running_worker(stack.env()):
            job = wait_for_job(client, job_id)

    assert job["status"] == "succeeded", job
    assert content_type == "image/jpeg"
    assert carries_metadata(stored) == []
    [sent] = stack.fake.requests
    assert carries_metadata(sent.image) == []
    assert sent.image == stored
    with Image.open(io.BytesIO(sent.image)) as image:
        assert image.size == (60, 80)  # the orientation was applied to the pixels
