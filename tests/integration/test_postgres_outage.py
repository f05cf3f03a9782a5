"""The database going away under a running ``picpaygo serve`` and ``picpaygo worker``.

The real PostgreSQL server is shared with other tests, so it is never stopped: the
processes here reach it through a ``TcpProxy`` (``support/tcp_proxy.py``), and the
proxy is cut (every connection reset, new ones refused) or stalled (connections stay
open, nothing gets through), then restored. What the service must show: 503s with a
JSON ``detail`` within a bounded time (never a 500, never a hang), a health check that
names the database, recovery without a restart, and no half-written credit change.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest

from support.api import PASSWORD, unique_email, wait_for_job
from support.images import jpeg_bytes
from support.server import ServerProcess, answered_500, serving
from support.tcp_proxy import TcpProxy
from support.worker import WorkerProcess, listening, running_worker

DATABASE_TIMEOUT = "1"
# A request while the database is away must be answered well within this.
ANSWER_WITHIN_SECONDS = 5.0
RECOVERY_DEADLINE_SECONDS = 20.0
POLL_SECONDS = 0.05


# --- helpers ----------------------------------------------------------------------------


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[TcpProxy]:
    """A proxy to the test database's server, forwarding until the test cuts it."""
    with TcpProxy.to_database(postgres_url) as running:
        yield running


def proxied_env(proxy: TcpProxy, postgres_url: str, **extra: str) -> dict[str, str]:
    """Settings for a process that reaches the test database through ``proxy``."""
    return {
        "DATABASE_URL": proxy.url(postgres_url),
        "DATABASE_TIMEOUT_SECONDS": DATABASE_TIMEOUT,
        **extra,
    }


class Waited(Exception):
    """A test's set-up condition never came true (not what a test is about)."""


def wait_until(condition: Callable[[], bool], what: str, deadline_seconds: float) -> None:
    deadline = time.monotonic() + deadline_seconds
    while not condition():
        if time.monotonic() > deadline:
            raise Waited(f"{what}: not within {deadline_seconds:g} s")
        time.sleep(POLL_SECONDS)


def healthy(base_url: str) -> bool:
    try:
        with httpx.Client(base_url=base_url, timeout=10.0) as http:
            return http.get("/api/health").status_code == 200
    except httpx.TransportError:
        return False


def upload(client: httpx.Client) -> httpx.Response:
    return client.post(
        "/api/generate",
        data={"category": "portraits"},
        files={"image": ("me.jpg", jpeg_bytes(), "image/jpeg")},
    )


def ledger_of(url: str, user_id: str) -> tuple[int, list[tuple[int, str]]]:
    """The user's balance and ledger (amount, reason), oldest first, read directly."""
    with psycopg.connect(url) as conn:
        balance = conn.execute(
            "SELECT balance FROM credits WHERE user_id = %s", (user_id,)
        ).fetchone()
        entries = conn.execute(
            "SELECT amount, reason FROM credit_ledger WHERE user_id = %s ORDER BY seq",
            (user_id,),
        ).fetchall()
    assert balance is not None
    return balance[0], [(row[0], row[1]) for row in entries]


def job_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM jobs").fetchone()
    assert row is not None
    return int(row[0])


class Timed:
    """One request made while the database is away: what came back, and how fast."""

    def __init__(self, name: str, response: httpx.Response | None, seconds: float) -> None:
        self.name = name
        self.response = response
        self.seconds = seconds

    def __repr__(self) -> str:
        answer = "no answer" if self.response is None else self.response.status_code
        body = "" if self.response is None else self.response.text[:200]
        return f"{self.name}: {answer} after {self.seconds:.2f} s {body}"


def timed(
    base_url: str, name: str, method: str, path: str, cookies: dict[str, str], **kwargs: Any
) -> Timed:
    """Make one request on a fresh connection; a client-side timeout is no answer."""
    started = time.monotonic()
    try:
        with httpx.Client(
            base_url=base_url, timeout=ANSWER_WITHIN_SECONDS, cookies=cookies
        ) as http:
            response: httpx.Response | None = http.request(method, path, **kwargs)
    except httpx.TimeoutException:
        response = None
    return Timed(name, response, time.monotonic() - started)


# Requests that charge: after a 503 the charge may have gone through, so without an
# Idempotency-Key the answer must not invite a retry.
CHARGING = frozenset({"consume", "checkout", "generate"})


def assert_503(result: Timed) -> None:
    """A prompt 503 with the usual JSON error body, and a Retry-After where a retry is safe."""
    assert result.response is not None, result
    assert result.response.status_code == 503, result
    assert result.seconds < ANSWER_WITHIN_SECONDS, result
    body = result.response.json()
    assert body["status_code"] == 503, result
    assert isinstance(body["detail"], str), result
    assert body["detail"], result
    if result.name in CHARGING:
        assert "retry-after" not in result.response.headers, result
    else:
        assert int(result.response.headers["retry-after"]) >= 1, result


def assert_no_traceback(log: str) -> None:
    assert "Traceback" not in log, log
    assert not answered_500(log), log


# --- the database is cut, then restored ---------------------------------------------------


def test_a_cut_database_means_prompt_503s_and_everything_recovers_after(
    proxy: TcpProxy, postgres_url: str
) -> None:
    server_env = proxied_env(proxy, postgres_url, JOB_WORKERS="0", DEFAULT_FREE_CREDITS="0")
    worker_env = proxied_env(proxy, postgres_url, JOB_POLL_SECONDS="0.5")
    email = unique_email()
    with (
        serving(server_env) as server,
        running_worker(worker_env) as worker,
        httpx.Client(base_url=server.base_url, timeout=30.0) as client,
    ):
        registered = client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
        assert registered.status_code == 201, registered.text
        user_id = registered.json()["user"]["id"]
        cookies = {"picpaygo_session": client.cookies["picpaygo_session"]}
        assert client.post("/api/credits/checkout", json={"pack": 20}).status_code == 200
        assert client.post("/api/credits/consume", json={"amount": 1}).status_code == 200
        created = upload(client)
        assert created.status_code == 202, created.text
        first_job = created.json()["jobId"]
        assert wait_for_job(client, first_job)["status"] == "succeeded"
        before_balance, before_ledger = ledger_of(postgres_url, user_id)
        assert before_balance == 18
        jobs_before = job_count(postgres_url)

        proxy.cut()
        assert proxy.open_connections == 0

        base = server.base_url
        login = {"email": email, "password": PASSWORD}
        requests: list[tuple[str, str, str, dict[str, str], dict[str, Any]]] = [
            ("credits, anonymous", "GET", "/api/credits", {}, {}),
            ("credits, signed in", "GET", "/api/credits", cookies, {}),
            ("login", "POST", "/api/auth/login", {}, {"json": login}),
            ("me", "GET", "/api/auth/me", cookies, {}),
            ("consume", "POST", "/api/credits/consume", cookies, {"json": {"amount": 1}}),
            ("checkout", "POST", "/api/credits/checkout", cookies, {"json": {"pack": 5}}),
            ("register", "POST", "/api/auth/register", {}, {"json": {**login, "email": "x@y.io"}}),
            ("job status", "GET", f"/api/generate/{first_job}", cookies, {}),
            ("job image", "GET", f"/api/generate/{first_job}/image", cookies, {}),
        ]
        # All at once: several requests waiting for the pool must each still get an answer.
        with ThreadPoolExecutor(max_workers=len(requests) + 1) as pool:
            answers = [
                pool.submit(timed, base, name, method, path, jar, **kwargs)
                for name, method, path, jar, kwargs in requests
            ]
            generate = pool.submit(
                timed,
                base,
                "generate",
                "POST",
                "/api/generate",
                cookies,
                data={"category": "portraits"},
                files={"image": ("me.jpg", jpeg_bytes(), "image/jpeg")},
            )
            results = [answer.result() for answer in answers] + [generate.result()]
        for result in results:
            assert_503(result)

        health = timed(base, "health", "GET", "/api/health", {})
        assert health.response is not None, health
        assert health.response.status_code == 503, health
        assert health.seconds < ANSWER_WITHIN_SECONDS, health
        assert health.response.json()["status"] != "ok"
        checks = health.response.json()["checks"]
        assert list(checks) == ["database", "imageGenerator"], checks
        assert checks["imageGenerator"] == "unknown while the storage is unreachable"
        assert checks["database"] != "ok"
        assert "database" in checks["database"]
        # What needs no database still works.
        google = client.get("/api/auth/google/config")
        assert google.status_code == 200, google.text

        assert worker.alive(), worker.output()
        proxy.restore()

        # No restart: the same processes recover by themselves.
        wait_until(lambda: healthy(base), "healthy again", RECOVERY_DEADLINE_SECONDS)
        with httpx.Client(base_url=base, timeout=30.0, cookies=cookies) as signed_in:
            me = signed_in.get("/api/auth/me")
            assert me.status_code == 200, me.text
            assert me.json()["user"]["id"] == user_id
            assert signed_in.get("/api/credits").json()["balance"] == before_balance
            relogin = httpx.post(f"{base}/api/auth/login", json=login, timeout=30.0)
            assert relogin.status_code == 200, relogin.text
            spent = signed_in.post("/api/credits/consume", json={"amount": 1})
            assert spent.status_code == 200, spent.text
            assert spent.json()["balance"] == before_balance - 1

            # The worker lived through it and takes a job queued after the restore.
            queued = upload(signed_in)
            assert queued.status_code == 202, queued.text
            job = wait_for_job(signed_in, queued.json()["jobId"])
            assert job["status"] == "succeeded", job
            assert signed_in.get(job["outputUrl"]).status_code == 200

        # Nothing tried during the outage was half-done: only the two later changes count.
        balance, ledger = ledger_of(postgres_url, user_id)
        assert ledger == [*before_ledger, (-1, "consume"), (-1, "generation")]
        assert balance == before_balance - 2 == sum(amount for amount, _ in ledger)
        assert job_count(postgres_url) == jobs_before + 1

        server_log = server.output(tail=None)
        answered_503 = re.findall(r"picpaygo\.access: [A-Z]+ \S+ 503 ", server_log)
        assert len(answered_503) >= len(results) + 1, server_log
        assert_no_traceback(server_log)

        code = worker.stop()
        worker_log = worker.output()
        assert code == 0, worker_log
        assert_no_traceback(worker_log)


def test_a_server_started_while_the_database_is_away_serves_503s_then_recovers(
    proxy: TcpProxy, postgres_url: str
) -> None:
    proxy.cut()
    server = ServerProcess(proxied_env(proxy, postgres_url, JOB_WORKERS="0"))
    try:
        server.start()

        def health_is_503() -> bool:
            if not server.alive():
                raise Waited(f"the server died:\n{server.output()}")
            try:
                return httpx.get(f"{server.base_url}/api/health", timeout=10.0).status_code == 503
            except httpx.TransportError:
                return False

        wait_until(health_is_503, "the server answers 503", RECOVERY_DEADLINE_SECONDS)
        credits = timed(server.base_url, "credits", "GET", "/api/credits", {})
        assert_503(credits)

        proxy.restore()
        wait_until(lambda: healthy(server.base_url), "healthy", RECOVERY_DEADLINE_SECONDS)
        with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
            registered = client.post(
                "/api/auth/register", json={"email": unique_email(), "password": PASSWORD}
            )
            assert registered.status_code == 201, registered.text
            assert client.get("/api/auth/me").status_code == 200
        assert_no_traceback(server.output(tail=None))
    except BaseException as exc:
        exc.add_note(f"--- picpaygo serve output ---\n{server.output()}")
        raise
    finally:
        server.close()


# --- the database stops answering (connections open, nothing comes back) -------------------


def test_a_stalled_database_still_means_a_prompt_503(proxy: TcpProxy, postgres_url: str) -> None:
    with serving(proxied_env(proxy, postgres_url, JOB_WORKERS="0")) as server:
        with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
            assert client.get("/api/credits").status_code == 200  # the pool has connections
        proxy.stall()
        try:
            result = timed(server.base_url, "credits", "GET", "/api/credits", {})
        finally:
            proxy.restore()  # let the stuck request finish before the server stops
        assert_503(result)


# --- the job listener after repeated outages -------------------------------------------------


def listener_failures(worker: WorkerProcess) -> int:
    return sum("listener" in line for line in worker.output().splitlines())


def test_after_repeated_outages_a_new_job_still_starts_promptly(
    proxy: TcpProxy, postgres_url: str
) -> None:
    server_env = {"DATABASE_URL": postgres_url, "JOB_WORKERS": "0", "DEFAULT_FREE_CREDITS": "10"}
    worker_env = proxied_env(proxy, postgres_url, JOB_POLL_SECONDS="30")
    with (
        serving(server_env) as server,
        running_worker(worker_env) as worker,
        httpx.Client(base_url=server.base_url, timeout=30.0) as client,
    ):
        wait_until(lambda: listening(postgres_url), "the worker listens", RECOVERY_DEADLINE_SECONDS)
        # A first outage, long enough for the listener to fail (and back off) four times:
        # without the reset its next delay would be 8 s.
        proxy.cut()
        wait_until(lambda: listener_failures(worker) >= 4, "four listener failures", 20.0)
        proxy.restore()
        wait_until(lambda: listening(postgres_url), "listening again", RECOVERY_DEADLINE_SECONDS)
        failures = listener_failures(worker)

        # Much later, a blip: the connection drops and the database is back at once.
        proxy.cut()
        wait_until(lambda: listener_failures(worker) > failures, "the listener noticed", 15.0)
        proxy.restore()
        started = time.monotonic()
        created = upload(client)
        assert created.status_code == 202, created.text
        job = wait_for_job(client, created.json()["jobId"])
        took = time.monotonic() - started
        assert job["status"] == "succeeded", job
        # With the backoff back at its 0.5 s start, the new LISTEN (and the look at the
        # queue that comes with it) is well under this, even with the pool's own reconnect
        # backoff (about 1 s); with the grown delay it would be 8 s.
        assert took < 5.0, f"the job waited {took:.1f} s\n{worker.output()}"
