"""Connections ``picpaygo serve`` will not keep: header-slow ones are closed, the total is
bounded, and a client that leaves mid-body is one INFO line."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import httpx

from support.server import HOST, ServerProcess, serving

WAIT_SECONDS = 15.0


@contextlib.contextmanager
def half_sent_requests(server: ServerProcess, count: int) -> Iterator[list[socket.socket]]:
    """``count`` connections that sent the start of a request head and then nothing."""
    sockets = [socket.create_connection((HOST, server.port)) for _ in range(count)]
    try:
        for sock in sockets:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def closed_by_server(sock: socket.socket) -> bool:
    """Wait (up to ``WAIT_SECONDS``) for the server to close ``sock``; True if it did."""
    sock.settimeout(WAIT_SECONDS)
    try:
        return sock.recv(1024) == b""
    except (TimeoutError, ConnectionResetError):
        return False


def eventually_answered(server: ServerProcess) -> int:
    """The status of ``GET /api/health``, asked until it is not 503 (``WAIT_SECONDS``)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        status = httpx.get(f"{server.base_url}/api/health", timeout=10).status_code
        if status != 503 or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def test_a_connection_without_a_complete_request_head_is_closed() -> None:
    with (
        serving({"JOB_WORKERS": "0", "HEADER_TIMEOUT_SECONDS": "1"}) as server,
        half_sent_requests(server, 50) as slow,
    ):
        started = time.monotonic()
        closed = [closed_by_server(sock) for sock in slow]
        elapsed = time.monotonic() - started
        healthy = httpx.get(f"{server.base_url}/api/health", timeout=10).status_code
        log = server.output(tail=None)

    assert all(closed), f"{closed.count(False)} of 50 still open after {elapsed:.1f} s"
    assert healthy == 200
    assert "sent no complete request" in log


def test_the_number_of_connections_is_bounded() -> None:
    with serving({"JOB_WORKERS": "0", "MAX_CONNECTIONS": "5"}) as server:
        with half_sent_requests(server, 5):
            crowded = httpx.get(f"{server.base_url}/api/health", timeout=10)
        calm = eventually_answered(server)  # once the server has seen them go

    assert crowded.status_code == 503
    assert calm == 200


def test_a_client_leaving_mid_body_is_one_info_line() -> None:
    with serving({"JOB_WORKERS": "0"}) as server:
        with socket.create_connection((HOST, server.port)) as sock:
            sock.sendall(
                b"POST /api/auth/register HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                b'{"email": "ada@example.com", "pass'
            )
        lines: list[str] = []
        deadline = time.monotonic() + WAIT_SECONDS
        while not lines and time.monotonic() < deadline:
            log = server.output(tail=None)
            lines = [line for line in log.splitlines() if "disconnect" in line]
            time.sleep(0.05)
        log = server.output(tail=None)

    assert len(lines) == 1, log
    assert " INFO " in lines[0], lines
    assert "ERROR" not in log
    assert "Traceback" not in log
