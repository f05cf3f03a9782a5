"""The log of a real ``picpaygo serve``: JSON lines, request ids, job outcomes, no secrets.

Canaries (a password, the session cookie, the OpenRouter key, the photo's bytes) go
through a full sign-up and generation against the fake OpenRouter; none of them may
appear anywhere in what the process printed.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from support.api import wait_for_job
from support.fake_openrouter import FakeOpenRouter
from support.images import jpeg_bytes
from support.server import ServerProcess, serving

CANARY_PASSWORD = "canary-password-7f3a9"
CANARY_KEY = "sk-or-canary-key-19be2"
PHOTO = jpeg_bytes(64, 48, (200, 30, 90))


@pytest.fixture
def fake() -> Iterator[FakeOpenRouter]:
    with FakeOpenRouter(api_key=CANARY_KEY) as fake:
        yield fake


def json_lines(server: ServerProcess) -> list[dict[str, Any]]:
    """Every line the server printed, each parsed as JSON (fails on a line that is not)."""
    lines = [line for line in server.output(tail=None).splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def wait_for_line(server: ServerProcess, what: str, **fields: object) -> dict[str, Any]:
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        for line in json_lines(server):
            if all(line.get(key) == value for key, value in fields.items()):
                return line
        time.sleep(0.05)
    raise AssertionError(f"no {what} line with {fields}\n{server.output()}")


def test_a_json_log_has_request_ids_access_and_job_lines_and_no_secret(
    fake: FakeOpenRouter,
) -> None:
    env = {"LOG_FORMAT": "json", "OPENROUTER_API_KEY": CANARY_KEY, "OPENROUTER_URL": fake.url}
    with serving(env) as server, httpx.Client(base_url=server.base_url, timeout=30) as client:
        registered = client.post(
            "/api/auth/register",
            json={"email": "canary@example.com", "password": CANARY_PASSWORD},
            headers={"X-Request-ID": "register-1"},
        )
        assert registered.status_code == 201, registered.text
        cookie = registered.cookies["picpaygo_session"]
        assert client.get("/api/auth/me").status_code == 200
        response = client.post(
            "/api/generate",
            data={"category": "portraits"},
            files={"image": ("me.jpg", PHOTO, "image/jpeg")},
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["jobId"]
        assert wait_for_job(client, job_id)["status"] == "succeeded"

        access = wait_for_line(server, "access", request_id="register-1")
        outcome = wait_for_line(server, "job outcome", job_id=job_id)
        log = server.output(tail=None)

    assert registered.headers["x-request-id"] == "register-1"
    assert access["route"] == "/api/auth/register"
    assert access["method"] == "POST"
    assert access["status"] == 201
    assert access["duration_ms"] >= 0
    assert outcome["outcome"] == "succeeded"
    assert outcome["attempts"] == 1
    assert outcome["duration_ms"] >= 0
    assert 'HTTP/1.1" 200' not in log  # the server's own access lines are off
    for canary in (
        CANARY_PASSWORD,
        cookie,
        CANARY_KEY,
        base64.b64encode(PHOTO).decode()[:40],
        PHOTO[:32].hex(),
    ):
        assert canary not in log


def test_the_servers_routine_start_up_and_stop_are_info_lines_in_the_log_format() -> None:
    with serving({"LOG_FORMAT": "json"}) as server:
        server.stop()
        lines = json_lines(server)

    server_lines = [line for line in lines if line["logger"].startswith("granian")]
    listening = [line for line in server_lines if f":{server.port}" in line["message"]]
    assert len(listening) == 1, lines
    assert len(server_lines) >= 4, lines  # starting, listening, ..., stopped
    assert {line["level"] for line in server_lines} == {"INFO"}, server_lines
    assert not [line for line in lines if "uvicorn" in line["logger"]], lines


def test_a_text_log_is_the_development_default_with_one_access_line_per_request() -> None:
    with serving({}) as server, httpx.Client(base_url=server.base_url, timeout=30) as client:
        response = client.get("/api/credits", headers={"X-Request-ID": "text-req-1"})
        assert response.status_code == 200
        deadline = time.monotonic() + 5.0
        while "text-req-1" not in server.output(tail=None) and time.monotonic() < deadline:
            time.sleep(0.05)
        lines = [line for line in server.output(tail=None).splitlines() if "text-req-1" in line]

    assert len(lines) == 1, lines
    assert "picpaygo.access: GET /api/credits 200 " in lines[0]
    assert "request_id=text-req-1" in lines[0]
