"""Pictures in an S3-compatible store, end to end: real ``picpaygo serve`` and ``picpaygo
worker`` processes on PostgreSQL, with ``PICTURE_STORE`` pointing at moto's S3 API on
127.0.0.1 (started by the test session; never the network), reached through a TCP proxy
that can take the store away and bring it back.

What users see (202, 307 to a presigned URL serving the same bytes, 404 for others, 503
when the store is down) is checked over HTTP; what is kept is checked in the bucket and
in every ``bytea`` column of the database.
"""

from __future__ import annotations

import contextlib
import io
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest

from support.api import PASSWORD, checkout, credits_of, register, wait_for_job
from support.images import jpeg_bytes
from support.s3 import S3Server, store_env
from support.server import ServerProcess, answered_500, serving
from support.tcp_proxy import TcpProxy
from support.worker import running_worker

PREFIX = "deploy/pictures"
PHOTO = jpeg_bytes(80, 60, (30, 90, 200))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
DEADLINE_SECONDS = 30.0
POLL_SECONDS = 0.05
FAST = {
    "JOB_POLL_SECONDS": "0.2",
    "JOB_RETRY_BASE_SECONDS": "0.5",
    "JOB_RETRY_MAX_SECONDS": "1",
    "JOB_MAX_ATTEMPTS": "20",
    "DEFAULT_FREE_CREDITS": "0",
}


@dataclass
class Stack:
    """The run's database, a bucket of its own, and the proxy in front of the S3 API."""

    postgres_url: str
    s3: S3Server
    bucket: str
    proxy: TcpProxy

    def env(self, **settings: str) -> dict[str, str]:
        endpoint = f"http://127.0.0.1:{self.proxy.port}"
        return {
            "DATABASE_URL": self.postgres_url,
            **store_env(endpoint, self.bucket, PREFIX),
            **FAST,
            **settings,
        }

    @contextlib.contextmanager
    def api(self, **settings: str) -> Iterator[tuple[ServerProcess, httpx.Client]]:
        """A ready ``picpaygo serve`` and a client that does not follow redirects."""
        with (
            serving(self.env(**settings)) as server,
            httpx.Client(base_url=server.base_url, timeout=30.0) as client,
        ):
            yield server, client
            log = server.output(tail=None)
            assert "Traceback" not in log, log
            assert not answered_500(log), log

    def objects(self) -> dict[str, bytes]:
        """The bucket's objects, by key relative to the prefix."""
        found = self.s3.objects(self.bucket, f"{PREFIX}/")
        return {key.removeprefix(f"{PREFIX}/"): data for key, data in found.items()}

    def count(self, table: str) -> int:
        with psycopg.connect(self.postgres_url) as conn:
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
        assert row is not None
        return int(row[0])

    def job_row(self, job_id: str) -> dict[str, Any]:
        with psycopg.connect(self.postgres_url) as conn:
            row = conn.execute(
                "SELECT status, attempts, refunded FROM jobs WHERE id = %s", (job_id,)
            ).fetchone()
        assert row is not None, f"no job {job_id}"
        return {"status": row[0], "attempts": row[1], "refunded": row[2]}


@pytest.fixture
def stack(postgres_url: str, s3_server: S3Server) -> Iterator[Stack]:
    with TcpProxy("127.0.0.1", s3_server.port) as proxy:
        yield Stack(postgres_url, s3_server, s3_server.new_bucket(), proxy)


def upload(client: httpx.Client) -> httpx.Response:
    return client.post(
        "/api/generate",
        files={"image": ("photo.jpg", PHOTO, "image/jpeg")},
        data={"category": "portraits"},
    )


def paying_user(client: httpx.Client) -> int:
    """Sign up and buy a pack; the balance it leaves."""
    register(client)
    balance: int = checkout(client, 5)["balance"]
    return balance


def picture_bytes_in_the_database(url: str) -> list[str]:
    """Every ``bytea`` column holding a value that starts like a PNG or JPEG file."""
    found = []
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type = 'bytea'"
        ).fetchall()
        for table, column in columns:
            row = conn.execute(
                f'SELECT count(*) FROM "{table}" WHERE position(%s in "{column}") > 0 '  # noqa: S608
                f'OR position(%s in "{column}") > 0',
                (PNG_SIGNATURE, JPEG_SIGNATURE),
            ).fetchone()
            if row and row[0]:
                found.append(f"{table}.{column}: {row[0]} values")
    return found


def test_pictures_live_in_the_store_and_are_fetched_from_it_with_a_presigned_url(
    stack: Stack,
) -> None:
    with stack.api() as (_, client):
        paying_user(client)
        created = upload(client)
        assert created.status_code == 202, created.text
        job_id = created.json()["jobId"]
        job = wait_for_job(client, job_id)
        assert job["status"] == "succeeded", job

        stored = stack.objects()
        assert list(stored) == [f"outputs/{job_id}.png"]  # the photo went with its job
        picture = stored[f"outputs/{job_id}.png"]
        assert picture.startswith(PNG_SIGNATURE)

        answer = client.get(f"/api/generate/{job_id}/image")
        assert answer.status_code == 307, answer.text
        assert answer.headers["cache-control"] == "no-store"
        location = answer.headers["location"]
        assert location.startswith(f"{stack.env()['S3_ENDPOINT_URL']}/{stack.bucket}/{PREFIX}/")
        query = parse_qs(urlsplit(location).query)
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
        assert query["X-Amz-Expires"] == ["300"]
        fetched = httpx.get(location)
        assert fetched.status_code == 200
        assert fetched.content == picture

        with httpx.Client(base_url=client.base_url) as stranger:
            register(stranger)
            refused = stranger.get(f"/api/generate/{job_id}/image")
            assert refused.status_code == 404
            assert "location" not in refused.headers
        anonymous = httpx.get(f"{client.base_url}/api/generate/{job_id}/image")
        assert anonymous.status_code == 404
        assert "location" not in anonymous.headers

        health = client.get("/api/health").json()
        assert health["checks"]["pictureStore"] == "ok", health
        assert stack.count("picture_objects") == 0
        assert picture_bytes_in_the_database(stack.postgres_url) == []

        export = client.get("/api/account/export")
        assert export.status_code == 200, export.text
        with zipfile.ZipFile(io.BytesIO(export.content)) as archive:
            assert archive.read(f"pictures/{job_id}.png") == picture
        erased = client.request("DELETE", "/api/account", json={"password": PASSWORD})
        assert erased.status_code == 204, erased.text
        assert stack.objects() == {}  # everything of the account went with it


def test_a_presigned_url_expires_after_picture_url_ttl_seconds(stack: Stack) -> None:
    ttl = 4
    with stack.api(PICTURE_URL_TTL_SECONDS=str(ttl)) as (_, client):
        paying_user(client)
        job_id = upload(client).json()["jobId"]
        assert wait_for_job(client, job_id)["status"] == "succeeded"
        location = client.get(f"/api/generate/{job_id}/image").headers["location"]
        first = httpx.get(location)

        query = parse_qs(urlsplit(location).query)
        assert query["X-Amz-Expires"] == [str(ttl)]
        signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ")
        expires_at = signed_at.replace(tzinfo=UTC).timestamp() + ttl
        assert first.status_code == 200
        # Bounded poll on the clock: refused once the TTL is over, never before.
        deadline = time.monotonic() + ttl + 10
        while (status := httpx.get(location).status_code) == 200:
            assert time.monotonic() < deadline, "the presigned URL never expired"
            time.sleep(0.1)
        assert status == 403
        assert time.time() >= expires_at


def test_an_upload_while_the_store_is_down_is_503_and_charges_nothing(stack: Stack) -> None:
    with stack.api() as (_, client):
        balance = paying_user(client)
        stack.proxy.cut()

        refused = upload(client)

        assert refused.status_code == 503, refused.text
        assert credits_of(client)["balance"] == balance
        assert stack.count("jobs") == 0
        assert stack.count("images") == 0
        health = client.get("/api/health")
        assert health.status_code == 200  # degraded: everything else still works
        assert health.json()["status"] == "degraded"
        assert "does not answer" in health.json()["checks"]["pictureStore"]

        stack.proxy.restore()
        accepted = upload(client)
        assert accepted.status_code == 202, accepted.text
        assert credits_of(client)["balance"] == balance - 1


def test_a_job_whose_worker_loses_the_store_is_retried_and_succeeds_once_it_is_back(
    stack: Stack,
) -> None:
    with stack.api(JOB_WORKERS="0") as (_, client):
        balance = paying_user(client)
        job_id = upload(client).json()["jobId"]
        stack.proxy.cut()
        with running_worker(stack.env()):
            deadline = time.monotonic() + DEADLINE_SECONDS
            while stack.job_row(job_id)["attempts"] < 2:  # an attempt failed, and another
                assert time.monotonic() < deadline, stack.job_row(job_id)
                time.sleep(POLL_SECONDS)
            assert stack.job_row(job_id)["status"] in ("queued", "running")
            stack.proxy.restore()
            job = wait_for_job(client, job_id)

        assert job["status"] == "succeeded", job
        assert stack.job_row(job_id)["refunded"] is False
        assert credits_of(client)["balance"] == balance - 1
        assert list(stack.objects()) == [f"outputs/{job_id}.png"]
