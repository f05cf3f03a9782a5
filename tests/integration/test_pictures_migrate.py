"""Orphans and migration on PostgreSQL and moto's S3 API (on 127.0.0.1, never the network).

- A crash between a photo's object write and its job's commit leaves an object that no
  image names; the orphan sweep removes it once it is an hour old, and nothing else.
- ``picpaygo pictures migrate`` moves what the database holds to the store: killed with
  SIGKILL halfway and run again, it ends with every picture in the store, byte for byte,
  once each, and no copy left in the database.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self

import httpx
import psycopg
import pytest

from entrypoints.container import Container, running_resources
from picpaygo_core.errors import StorageUnavailable
from picpaygo_core.models import Caller
from picpaygo_core.ports import UnitOfWork, UnitOfWorkFactory
from picpaygo_core.services import GenerationService
from picpaygo_core.services.pictures import OrphanSweep
from support.api import register, wait_for_job
from support.fakes import FakeClock
from support.images import jpeg_bytes
from support.s3 import S3Server, store_env
from support.server import clean_environment, picpaygo_command, serving

PREFIX = "deploy/pictures"
NETWORK = "198.51.100.7"
PICTURES = 400
PICTURE_BYTES = 96 * 1024
DEADLINE_SECONDS = 60.0


class CrashingUnitOfWork:
    """A unit of work whose commit never reaches the database (the process died, or the
    database went away, between the photo's write and the job's commit)."""

    def __init__(self, inner: UnitOfWork) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    async def __aenter__(self) -> Self:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._inner.__aexit__(exc_type, exc, tb)

    async def commit(self) -> None:
        raise StorageUnavailable


@pytest.fixture
async def container(
    make_container: object, postgres_url: str, s3_server: S3Server
) -> AsyncIterator[Container]:
    bucket = s3_server.new_bucket()
    made: Container = make_container(  # type: ignore[operator]
        DATABASE_URL=postgres_url, **store_env(s3_server.url, bucket, PREFIX)
    )
    async with running_resources(made, listen=False):
        yield made


async def test_the_sweep_removes_the_object_of_a_job_that_never_committed(
    container: Container, s3_server: S3Server
) -> None:
    real: UnitOfWorkFactory = container.uow_factory()
    crashing = GenerationService(
        uow_factory=lambda: CrashingUnitOfWork(real()),  # type: ignore[arg-type,return-value]
        inspector=container.inspector(),
        pictures=container.pictures(),
        wakeup=container.wakeup(),
        clock=container.clock(),
        policy=container.policy(),
    )
    caller = Caller(user=None, client_network=NETWORK)
    with pytest.raises(StorageUnavailable):
        await crashing.create_job(caller, category="portraits", image=jpeg_bytes())
    kept = await container.generation_service().create_job(
        caller, category="portraits", image=jpeg_bytes()
    )
    bucket = container.settings().pictures.bucket
    assert bucket is not None
    before = set(s3_server.objects(bucket))
    assert len(before) == 2  # the orphan, and the photo of the job that was stored
    clock = FakeClock(datetime.now(UTC))
    sweep = OrphanSweep(uow_factory=real, pictures=container.pictures(), clock=clock)

    assert await sweep.sweep() == 0  # too young: its upload may still be committing
    clock.advance(minutes=61)
    assert await sweep.sweep() == 1

    assert set(s3_server.objects(bucket)) == {f"{PREFIX}/inputs/{kept.id}"}
    assert await sweep.sweep() == 0


def run_migrate(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script
        [*picpaygo_command(), "pictures", "migrate", "--json"],
        env=clean_environment(env),
        capture_output=True,
        text=True,
        timeout=DEADLINE_SECONDS,
        check=False,
    )


def database_pictures(url: str) -> dict[str, str]:
    """The database's picture objects: key -> sha256 of the bytes."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT key, data FROM picture_objects").fetchall()
    return {key: hashlib.sha256(data).hexdigest() for key, data in rows}


def seed_database_pictures(url: str, count: int) -> None:
    """``count`` pictures as the database store keeps them: records and bytes."""
    now = datetime.now(UTC) - timedelta(days=1)
    rows = []
    for _ in range(count):
        key = f"outputs/{uuid.uuid4()}.png"
        data = b"\x89PNG\r\n\x1a\n" + os.urandom(PICTURE_BYTES)
        rows.append((uuid.uuid4(), key, data, len(data), now))
    with psycopg.connect(url) as conn:
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO picture_objects (key, data, content_type, size, created_at) "
                "VALUES (%s, %s, 'image/png', %s, %s)",
                [(key, data, size, at) for _, key, data, size, at in rows],
            )
            cursor.executemany(
                "INSERT INTO images (id, key, size, content_type, created_at) "
                "VALUES (%s, %s, %s, 'image/png', %s)",
                [(image_id, key, size, at) for image_id, key, _, size, at in rows],
            )
        conn.commit()


def count_left(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM picture_objects").fetchone()
    assert row is not None
    return int(row[0])


def test_migrate_killed_halfway_and_run_again_moves_everything_once(
    postgres_url: str, s3_server: S3Server
) -> None:
    bucket = s3_server.new_bucket()
    database_only = {"DATABASE_URL": postgres_url, "DEFAULT_FREE_CREDITS": "3"}
    with serving(database_only) as server, httpx.Client(base_url=server.base_url) as client:
        register(client)
        job_id = client.post(
            "/api/generate",
            files={"image": ("photo.jpg", jpeg_bytes(), "image/jpeg")},
            data={"category": "portraits"},
        ).json()["jobId"]
        assert wait_for_job(client, job_id)["status"] == "succeeded"
        served = client.get(f"/api/generate/{job_id}/image").content
    seed_database_pictures(postgres_url, PICTURES)
    expected = database_pictures(postgres_url)
    assert len(expected) == PICTURES + 1
    env = {"DATABASE_URL": postgres_url, **store_env(s3_server.url, bucket, PREFIX)}

    with tempfile.TemporaryFile() as log:
        first = subprocess.Popen(  # noqa: S603 - our own console script
            [*picpaygo_command(), "pictures", "migrate"],
            env=clean_environment(env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + DEADLINE_SECONDS
        while count_left(postgres_url) > len(expected) // 2:
            assert first.poll() is None, "the migration ended before it could be stopped"
            assert time.monotonic() < deadline, "the migration made no progress"
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        log.seek(0)
        said = log.read().decode()
    left = count_left(postgres_url)
    assert 0 < left < len(expected)
    assert "moved 25 pictures" in said  # progress while it ran

    second = run_migrate(env)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["moved"] >= left
    again = run_migrate(env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"moved": 0, "bytes": 0, "mismatched": 0}

    assert count_left(postgres_url) == 0
    in_store = s3_server.objects(bucket)
    assert {
        key.removeprefix(f"{PREFIX}/"): hashlib.sha256(data).hexdigest()
        for key, data in in_store.items()
    } == expected  # every picture once, byte for byte, and nothing else
    with (
        serving(env) as server,
        httpx.Client(base_url=server.base_url, cookies=client.cookies) as signed_in,
    ):
        moved = signed_in.get(f"/api/generate/{job_id}/image")
        assert moved.status_code == 307
        assert httpx.get(moved.headers["location"]).content == served
