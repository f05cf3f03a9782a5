"""``picpaygo serve`` and ``picpaygo worker`` processes on PostgreSQL, driven over real HTTP.

Every test starts its own processes on the run's throwaway database (``postgres_url``,
emptied after each test): the API survives a restart, several API processes and a
standalone worker share one database, new jobs wake a worker through LISTEN/NOTIFY,
and start-up migrates a fresh database only when told to.
"""

from __future__ import annotations

import io
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest
from PIL import Image

from adapters.postgres import available_migrations
from support.api import PASSWORD, checkout, credits_of, register, unique_email, wait_for_job
from support.images import jpeg_bytes
from support.postgres import applied_versions, throwaway_database
from support.server import (
    HOST,
    ServerProcess,
    answered_500,
    clean_environment,
    free_port,
    picpaygo_command,
    serving,
)
from support.worker import WorkerProcess, listening, running_worker

READY_DEADLINE_SECONDS = 20.0
POLL_SECONDS = 0.05
# With JOB_POLL_SECONDS=30, a job this quick can only have been started by a NOTIFY.
WAKE_UP_DEADLINE_SECONDS = 5.0


# --- helpers ----------------------------------------------------------------------------


def stop_worker(worker: WorkerProcess) -> str:
    """SIGTERM the worker, check it exits 0 without a traceback; its whole output."""
    code = worker.stop()
    log = worker.output()
    assert code == 0, log
    assert "Traceback" not in log, log
    return log


def assert_clean_log(server: ServerProcess) -> None:
    log = server.output(tail=None)
    assert not answered_500(log), log
    assert "Traceback" not in log, log


def upload(client: httpx.Client, category: str = "portraits") -> str:
    """Queue a generation from a real JPEG; the job id."""
    response = client.post(
        "/api/generate",
        data={"category": category},
        files={"image": ("me.jpg", jpeg_bytes(96, 72), "image/jpeg")},
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    job_id: str = response.json()["jobId"]
    return job_id


def png_of(response: httpx.Response) -> tuple[int, int]:
    """Check ``response`` carries a decodable PNG; its size."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.format == "PNG"
        image.load()
        return image.size


def wait_until(condition: Callable[[], bool], what: str, deadline_seconds: float) -> None:
    deadline = time.monotonic() + deadline_seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {deadline_seconds:g} s"
        time.sleep(POLL_SECONDS)


def backend_states(url: str) -> list[tuple[str, str]]:
    """(state, last query) of every PicPayGo connection to the database of ``url``."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT coalesce(state, ''), coalesce(query, '') FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = 'picpaygo' "
            "AND pid <> pg_backend_pid()"
        ).fetchall()
    return [(row[0], row[1]) for row in rows]


def all_idle(url: str) -> bool:
    """No PicPayGo connection is running a query or holding a transaction open."""
    return all(state == "idle" for state, _ in backend_states(url))


# --- one API process: every endpoint, and a restart --------------------------------------


def test_every_endpoint_works_on_postgres_and_the_data_survives_a_restart(
    postgres_url: str,
) -> None:
    env = {"DATABASE_URL": postgres_url, "GOOGLE_CLIENT_ID": "picpaygo-test.example.com"}
    email = unique_email()

    with serving(env) as first, httpx.Client(base_url=first.base_url, timeout=30.0) as client:
        health = client.get("/api/health")
        assert health.status_code == 200, health.text
        assert health.json() == {
            "status": "ok",
            "checks": {"database": "ok", "imageGenerator": "ok"},
        }
        google = client.get("/api/auth/google/config")
        assert google.status_code == 200, google.text
        assert google.json() == {"enabled": True, "clientId": "picpaygo-test.example.com"}

        assert credits_of(client) == {
            "credits": 3,
            "balance": 0,
            "freeCredits": 3,
            "authenticated": False,
        }
        user = register(client, email, name="Ada", surname="Lovelace")
        assert user["email"] == email
        assert (user["name"], user["surname"]) == ("Ada", "Lovelace")
        assert client.get("/api/auth/me").json()["user"] == user

        assert client.post("/api/auth/logout").status_code == 204
        assert client.get("/api/auth/me").status_code == 401
        wrong = client.post("/api/auth/login", json={"email": email, "password": "wrong one!"})
        assert wrong.status_code == 401, wrong.text
        logged_in = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert logged_in.status_code == 200, logged_in.text
        assert logged_in.json()["user"]["id"] == user["id"]
        token = client.cookies.get("picpaygo_session")
        assert token

        assert checkout(client, 5) == {
            "credits": 8,
            "balance": 5,
            "freeCredits": 3,
            "authenticated": True,
        }
        spent = client.post("/api/credits/consume", json={"amount": 4})  # 3 free, then 1 paid
        assert spent.status_code == 200, spent.text
        assert spent.json() == {"credits": 4, "balance": 4, "freeCredits": 0, "authenticated": True}
        assert client.post("/api/credits/consume", json={"amount": 5}).status_code == 402

        job_id = upload(client, "editorial")
        assert credits_of(client)["balance"] == 3  # charged with the upload
        job = wait_for_job(client, job_id)
        assert job["status"] == "succeeded", job
        assert job["jobId"] == job_id
        assert job["category"] == "editorial"
        assert job["error"] is None
        assert job["outputUrl"]
        picture = client.get(job["outputUrl"])
        size = png_of(picture)
        view = credits_of(client)
        assert_clean_log(first)

    # A new process on the same database: the session, the balance and the job are there,
    # and the network's free credits are not handed out a second time.
    with (
        serving(env) as second,
        httpx.Client(
            base_url=second.base_url, timeout=30.0, cookies={"picpaygo_session": token}
        ) as client,
    ):
        me = client.get("/api/auth/me")
        assert me.status_code == 200, me.text
        assert me.json()["user"] == user
        assert (
            credits_of(client)
            == view
            == {
                "credits": 3,
                "balance": 3,
                "freeCredits": 0,
                "authenticated": True,
            }
        )
        after = client.get(f"/api/generate/{job_id}")
        assert after.status_code == 200, after.text
        assert after.json() == job
        again = client.get(job["outputUrl"])
        assert png_of(again) == size
        assert again.content == picture.content

        assert client.post("/api/auth/logout").status_code == 204
        assert_clean_log(second)


# --- several processes on one database ----------------------------------------------------


@pytest.fixture
def two_api_processes(postgres_url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """API processes A and B, without job workers, on the same database."""
    env = {"DATABASE_URL": postgres_url, "JOB_WORKERS": "0", "AUTH_ATTEMPTS_PER_MINUTE": "3"}
    with serving(env) as a, serving(env) as b:
        yield a, b
        for server in (a, b):
            assert_clean_log(server)


def test_a_job_made_on_one_api_process_is_done_by_a_worker_and_seen_on_another(
    postgres_url: str, two_api_processes: tuple[ServerProcess, ServerProcess]
) -> None:
    a, b = two_api_processes
    with (
        httpx.Client(base_url=a.base_url, timeout=30.0) as on_a,
        httpx.Client(base_url=b.base_url, timeout=30.0) as on_b,
    ):
        user = register(on_a)
        # The session made on A works on B (and the other way round, once B logs out).
        on_b.cookies.set("picpaygo_session", on_a.cookies["picpaygo_session"])
        assert on_b.get("/api/auth/me").json()["user"] == user

        bought = checkout(on_b, 10)
        assert credits_of(on_a) == credits_of(on_b) == bought

        job_id = upload(on_a, "documentary")
        # Neither API process runs workers: without a worker process the job waits.
        assert on_b.get(f"/api/generate/{job_id}").json()["status"] == "queued"
        with running_worker({"DATABASE_URL": postgres_url}) as worker:
            job = wait_for_job(on_b, job_id)
            assert job["status"] == "succeeded", job
            png_of(on_b.get(job["outputUrl"]))
            assert on_a.get(f"/api/generate/{job_id}").json() == job
            assert worker.alive()
            stop_worker(worker)
        after = credits_of(on_b)
        assert (after["freeCredits"], after["balance"]) == (2, 10)  # free credits go first

        assert on_b.post("/api/auth/logout").status_code == 204
        assert on_a.get("/api/auth/me").status_code == 401  # the session is gone everywhere


def test_failed_logins_are_counted_across_api_processes(
    two_api_processes: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = two_api_processes
    email = unique_email()
    with (
        httpx.Client(base_url=a.base_url, timeout=30.0) as on_a,
        httpx.Client(base_url=b.base_url, timeout=30.0) as on_b,
    ):
        register(on_a, email)
        wrong = {"email": email, "password": "not the password"}
        # AUTH_ATTEMPTS_PER_MINUTE=3: two failures on A and one on B use up the allowance,
        # though neither process alone has seen three.
        for client in (on_a, on_b, on_a):
            response = client.post("/api/auth/login", json=wrong)
            assert response.status_code == 401, response.text

        right = {"email": email, "password": PASSWORD}
        for client in (on_b, on_a):
            refused = client.post("/api/auth/login", json=right)
            assert refused.status_code == 429, refused.text
            assert int(refused.headers["retry-after"]) >= 1
            assert refused.json()["detail"]


def test_concurrent_spending_through_two_api_processes_never_overdraws(
    two_api_processes: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = two_api_processes
    with httpx.Client(base_url=a.base_url, timeout=30.0) as on_a:
        register(on_a)
        assert on_a.post("/api/credits/consume", json={"amount": 3}).status_code == 200  # free
        assert on_a.post("/api/credits/checkout", json={"pack": 5}).status_code == 200
        cookies = {"picpaygo_session": on_a.cookies["picpaygo_session"]}

    start = threading.Barrier(20)

    def consume(base_url: str) -> int:
        with httpx.Client(base_url=base_url, timeout=30.0, cookies=cookies) as http:
            start.wait(timeout=30)
            return http.post("/api/credits/consume", json={"amount": 1}).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(pool.map(consume, [a.base_url, b.base_url] * 10))

    assert sorted(codes) == [200] * 5 + [402] * 15, codes
    with httpx.Client(base_url=b.base_url, timeout=30.0, cookies=cookies) as on_b:
        assert credits_of(on_b)["balance"] == 0


def test_one_email_registered_at_once_on_two_processes_gets_one_account(
    two_api_processes: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = two_api_processes
    email = unique_email()
    start = threading.Barrier(2)

    def register_on(base_url: str) -> int:
        with httpx.Client(base_url=base_url, timeout=30.0) as http:
            start.wait(timeout=30)
            body = {"email": email, "password": PASSWORD}
            return http.post("/api/auth/register", json=body).status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        codes = sorted(pool.map(register_on, [a.base_url, b.base_url]))
    assert codes == [201, 409], codes


# --- LISTEN/NOTIFY ----------------------------------------------------------------------


def test_a_new_job_wakes_an_idle_worker_at_once_through_notify(postgres_url: str) -> None:
    server_env = {"DATABASE_URL": postgres_url, "JOB_WORKERS": "0", "DEFAULT_FREE_CREDITS": "10"}
    worker_env = {"DATABASE_URL": postgres_url, "JOB_POLL_SECONDS": "30"}
    with (
        serving(server_env) as server,
        running_worker(worker_env) as worker,
        httpx.Client(base_url=server.base_url, timeout=30.0) as client,
    ):
        wait_until(lambda: listening(postgres_url), "the worker LISTENs", READY_DEADLINE_SECONDS)
        for _ in range(2):
            # The worker has had its look at the queue and sleeps for up to 30 s: only the
            # job's NOTIFY can get it going within a few seconds.
            wait_until(lambda: all_idle(postgres_url), "the worker is idle", READY_DEADLINE_SECONDS)
            created = time.monotonic()
            job_id = upload(client)
            job = wait_for_job(client, job_id, WAKE_UP_DEADLINE_SECONDS)
            assert job["status"] == "succeeded", job
            assert time.monotonic() - created < WAKE_UP_DEADLINE_SECONDS
        stop_worker(worker)
        assert_clean_log(server)


# --- schema at start-up -------------------------------------------------------------------


@pytest.mark.usefixtures("postgres_server")  # skips or fails when unreachable
def test_migrate_on_start_lets_several_servers_start_on_a_fresh_database() -> None:
    with throwaway_database(migrated=False) as url:
        env = {"DATABASE_URL": url, "DATABASE_MIGRATE_ON_START": "true", "JOB_WORKERS": "0"}
        servers = [ServerProcess(env), ServerProcess(env)]
        try:
            for server in servers:
                server.start()  # both at once: the advisory lock lets one migrate
            for server in servers:
                server.wait_ready()
            first, second = servers
            with (
                httpx.Client(base_url=first.base_url, timeout=30.0) as on_first,
                httpx.Client(base_url=second.base_url, timeout=30.0) as on_second,
            ):
                user = register(on_first)
                on_second.cookies.set("picpaygo_session", on_first.cookies["picpaygo_session"])
                assert on_second.get("/api/auth/me").json()["user"] == user
            for server in servers:
                assert_clean_log(server)
        finally:
            for server in servers:
                server.close()
        assert applied_versions(url) == [m.version for m in available_migrations()]


@pytest.mark.usefixtures("postgres_server")  # skips or fails when unreachable
@pytest.mark.parametrize("command", ["serve", "worker"])
def test_an_unmigrated_database_stops_start_up_with_one_line(command: str) -> None:
    args = [*picpaygo_command(), command]
    if command == "serve":
        args += ["--host", HOST, "--port", str(free_port())]
    with throwaway_database(migrated=False) as url:
        runs = {
            level: subprocess.run(  # noqa: S603 - our own console script
                args,
                env=clean_environment({"DATABASE_URL": url, "LOG_LEVEL": level}),
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            for level in ("INFO", "ERROR")
        }
        assert applied_versions_or_none(url) is None  # nothing was migrated behind our back

    for level, result in runs.items():
        assert result.returncode != 0, (level, result.stderr)
        assert "Traceback" not in result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        # The start-up log comes first at INFO; the refusal is one line, and the last.
        errors = [line for line in lines if "picpaygo db migrate" in line]
        assert errors == [lines[-1]], result.stderr
        assert "DATABASE_MIGRATE_ON_START" in errors[0]
        if level == "ERROR":
            assert len(lines) == 1, result.stderr


def applied_versions_or_none(url: str) -> list[int] | None:
    """The recorded migrations, or None when the database has no migrations table."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    return applied_versions(url) if row and row[0] else None
