"""``picpaygo serve`` started while its database is unreachable: one line saying so,
the port bound at once, readiness 503; readiness 200 within 2 s of the database's return.
"""

from __future__ import annotations

import re
import time

import httpx

from support.server import ServerProcess
from support.tcp_proxy import TcpProxy

DEADLINE_SECONDS = 20.0
BOUND_WITHIN_SECONDS = 5.0  # the interpreter's own start-up included
READY_WITHIN_SECONDS = 2.0


def first_answer(client: httpx.Client, path: str, started: float) -> tuple[float, int]:
    """Seconds from ``started`` until ``path`` answers at all, and the status it gave."""
    while True:
        try:
            response = client.get(path)
        except httpx.TransportError:
            assert time.monotonic() - started < DEADLINE_SECONDS, f"{path} never answered"
            time.sleep(0.02)
            continue
        return time.monotonic() - started, response.status_code


def test_a_server_without_its_database_binds_at_once_and_is_ready_soon_after_it_returns(
    postgres_url: str,
) -> None:
    with TcpProxy.to_database(postgres_url) as proxy:
        proxy.cut()
        server = ServerProcess(
            {
                "DATABASE_URL": proxy.url(postgres_url),
                "DATABASE_TIMEOUT_SECONDS": "2",
                "JOB_WORKERS": "1",
            }
        )
        try:
            started = time.monotonic()
            server.start()
            with httpx.Client(base_url=server.base_url, timeout=5.0) as client:
                bound_after, live = first_answer(client, "/api/health/live", started)
                assert live == 200
                assert client.get("/api/health/ready").status_code == 503
                assert client.get("/api/health").status_code == 503

                proxy.restore()
                restored = time.monotonic()
                while client.get("/api/health/ready").status_code != 200:
                    assert time.monotonic() - restored < DEADLINE_SECONDS, server.output()
                    time.sleep(0.05)
                ready_after = time.monotonic() - restored
            log = server.output(tail=None)
        finally:
            server.close()

    assert bound_after < BOUND_WITHIN_SECONDS, (bound_after, log)
    assert ready_after < READY_WITHIN_SECONDS, (ready_after, log)
    lines = log.splitlines()
    about_the_database = [line for line in lines if re.search(r"(ERROR|WARNING) .*database", line)]
    assert len(about_the_database) == 1, log
    assert "unreachable at start-up" in about_the_database[0]
    messages = [line.split(" ", 1)[1] for line in lines if "picpaygo.access" not in line]
    assert len(messages) == len(set(messages)), log  # no line twice
    assert "psycopg.pool" not in log
    assert "Traceback" not in log
