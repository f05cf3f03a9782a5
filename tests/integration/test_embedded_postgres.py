"""The embedded PostgreSQL server (``DATABASE_URL`` unset): real processes, real server.

Each test has a data directory of its own (``PICPAYGO_DATA_DIR``), so each starts its
own server; it is stopped when its last user detaches. The directories are made in the
temporary folder itself rather than pytest's (which pytest makes private to root again
at each session start, while under root the server runs as another user).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest

from adapters.postgres import available_migrations
from adapters.postgres.embedded import EmbeddedPostgres
from adapters.postgres.storage import PostgresStorage
from entrypoints.container import Container, running_resources
from support.api import PASSWORD, checkout, credits_of, register, wait_for_job
from support.builders import a_user
from support.images import jpeg_bytes
from support.server import ServerProcess, clean_environment, picpaygo_command, serving

ContainerFactory = Callable[..., Container]
COMMAND_TIMEOUT_SECONDS = 120
EMBEDDED_START_SECONDS = 60.0


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A fresh data directory for an embedded server; removed after the test."""
    path = Path(tempfile.mkdtemp(prefix="picpaygo-embedded-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def embedded_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a process on the embedded server in ``data_dir``."""
    return {"DATABASE_URL": "", "PICPAYGO_DATA_DIR": str(data_dir), **extra}


def postmaster_pid(data_dir: Path) -> int | None:
    """The pid of the server running on ``data_dir``, or None."""
    try:
        return int((data_dir / "postgres" / "postmaster.pid").read_text().split("\n", 1)[0])
    except FileNotFoundError:
        return None


def picpaygo(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script
        [*picpaygo_command(), *args],
        env=clean_environment(embedded_env(data_dir)),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )


def embedded_server(data_dir: Path, **extra: str) -> ServerProcess:
    return ServerProcess(embedded_env(data_dir, **extra))


# --- the storage family -------------------------------------------------------------------


async def test_unset_database_url_wires_the_postgres_adapters_to_a_migrated_embedded_server(
    make_container: ContainerFactory, data_dir: Path
) -> None:
    container = make_container(**embedded_env(data_dir))
    storage = container.storage()
    assert isinstance(storage, PostgresStorage)
    assert isinstance(storage.server, EmbeddedPostgres)
    user = a_user()

    async with running_resources(container, listen=True):
        async with container.uow_factory()() as uow:
            await uow.users.add(user)
            await uow.commit()
        async with container.uow_factory()() as uow:
            assert await uow.users.find_by_id(user.id) == user
        with psycopg.connect(storage.server.url) as conn:
            versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]
        assert sorted(versions) == [m.version for m in available_migrations()]

    assert postmaster_pid(data_dir) is None


def test_attachments_share_one_server_that_stops_with_the_last(data_dir: Path) -> None:
    first, second = EmbeddedPostgres(data_dir), EmbeddedPostgres(data_dir)

    first.attach()
    pid = postmaster_pid(data_dir)
    second.attach()
    assert postmaster_pid(data_dir) == pid
    first.detach()
    with psycopg.connect(second.url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    second.detach()

    assert pid is not None
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert postmaster_pid(data_dir) is None


def shared_memory_ids() -> set[int]:
    """The ids of every System V shared memory segment of the machine."""
    lines = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    return {int(line.split()[1]) for line in lines}


def test_a_killed_user_and_a_killed_server_leave_nothing_that_stops_the_next_start(
    data_dir: Path,
) -> None:
    holder = subprocess.Popen(  # noqa: S603 - this interpreter
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path;"
            "from adapters.postgres.embedded import EmbeddedPostgres;"
            "EmbeddedPostgres(Path(sys.argv[1])).attach(); print('up', flush=True);"
            "time.sleep(600)",
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "up"
        pid = postmaster_pid(data_dir)
        assert pid is not None
        segment = int(
            (data_dir / "postgres" / "postmaster.pid").read_text().splitlines()[6].split()[1]
        )
        postmaster = psutil.Process(pid)
        children = postmaster.children(recursive=True)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        postmaster.send_signal(signal.SIGKILL)
        psutil.wait_procs([postmaster, *children], timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert (data_dir / "postgres" / "postmaster.pid").exists()  # left behind by the kill

    again = EmbeddedPostgres(data_dir)
    again.attach()
    try:
        with psycopg.connect(again.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        again.detach()

    assert postmaster_pid(data_dir) is None
    assert segment not in shared_memory_ids()


# --- the service, as a new user runs it ---------------------------------------------------


def test_serve_keeps_its_data_shares_it_with_the_cli_and_a_second_server(data_dir: Path) -> None:
    first = embedded_server(data_dir)
    second = embedded_server(data_dir)
    try:
        first.start()
        first.wait_ready(EMBEDDED_START_SECONDS)
        with httpx.Client(base_url=first.base_url, timeout=30.0) as http:
            user = register(http)
            assert checkout(http, 5)["balance"] == 5
            created = http.post(
                "/api/generate",
                files={"image": ("me.jpg", jpeg_bytes(), "image/jpeg")},
                data={"category": "portraits"},
            )
            assert created.status_code == 202, created.text
            job = wait_for_job(http, created.json()["jobId"])
            assert job["status"] == "succeeded", job
            picture = http.get(job["outputUrl"]).content

            granted = picpaygo(data_dir, "credits", "grant", user["email"], "10", "--reason", "t")
            assert granted.returncode == 0, granted.stderr
            assert credits_of(http)["balance"] == 15  # 5 bought, 10 granted (a free one spent)

        second.start()
        second.wait_ready(EMBEDDED_START_SECONDS)
        with httpx.Client(base_url=second.base_url, timeout=30.0) as http:
            signed_in = http.post(
                "/api/auth/login", json={"email": user["email"], "password": PASSWORD}
            )
            assert signed_in.status_code == 200, signed_in.text
        assert first.stop() == 0
        assert second.stop() == 0
        assert postmaster_pid(data_dir) is None

        with (
            serving(embedded_env(data_dir)) as again,
            httpx.Client(base_url=again.base_url, timeout=30.0) as http,
        ):
            signed_in = http.post(
                "/api/auth/login", json={"email": user["email"], "password": PASSWORD}
            )
            assert signed_in.status_code == 200, signed_in.text
            assert credits_of(http)["balance"] == 15
            assert http.get(f"/api/generate/{job['jobId']}").json()["status"] == "succeeded"
            assert http.get(job["outputUrl"]).content == picture
    finally:
        first.close()
        second.close()
    assert postmaster_pid(data_dir) is None


def test_the_cli_alone_starts_the_embedded_server_and_stops_it_after(data_dir: Path) -> None:
    migrated = picpaygo(data_dir, "db", "migrate", "--json")
    refused = picpaygo(data_dir, "credits", "show", "nobody@example.com")

    assert migrated.returncode == 0, migrated.stderr
    assert refused.returncode == 1
    # The data directory, named once, then the one line of the refusal.
    named, error = refused.stderr.splitlines()
    assert str(data_dir) in named
    assert "nobody@example.com" in error
    assert str(data_dir) not in error
    assert postmaster_pid(data_dir) is None
    assert os.listdir(data_dir)


def test_each_command_on_the_embedded_database_names_its_directory_once(data_dir: Path) -> None:
    migrated = picpaygo(data_dir, "db", "migrate", "--json")
    shown = picpaygo(data_dir, "payments", "list", "--json")

    for result in (migrated, shown):
        assert result.returncode == 0, result.stderr
        [line] = result.stderr.splitlines()
        assert str(data_dir) in line
        assert "PICPAYGO_DATA_DIR" in line
    assert json.loads(shown.stdout) == []


def test_a_command_run_from_another_folder_creates_no_database_and_says_where_it_looked(
    data_dir: Path,
) -> None:
    elsewhere = data_dir / "elsewhere"
    elsewhere.mkdir()
    env = clean_environment({"DATABASE_URL": ""})

    result = subprocess.run(  # noqa: S603 - our own console script
        [*picpaygo_command(), "credits", "show", "ada@example.com"],
        env=env,
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )

    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert str(elsewhere / ".picpaygo") in line
    assert "PICPAYGO_DATA_DIR" in line
    assert os.listdir(elsewhere) == []
