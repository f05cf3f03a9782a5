"""SIGTERM to ``picpaygo serve`` on in-memory storage while the image model is holding
its answer: the process drains its own job within the grace, or hands it back past it,
before it exits."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from support.fake_openrouter import Answer, FakeOpenRouter
from support.images import jpeg_bytes
from support.server import ServerProcess, serving

KEY = "sk-or-drain"
DEADLINE_SECONDS = 20.0


@pytest.fixture
def fake() -> Iterator[FakeOpenRouter]:
    with FakeOpenRouter(api_key=KEY) as fake:
        yield fake


def stopped_at(log: str) -> int:
    """Where the log says the API process has ended its lifespan."""
    stopped = re.search(r"API process \d+ stopped", log)
    assert stopped, log
    return stopped.start()


def wait_for_output(server: ServerProcess, text: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while text not in server.output(tail=None):
        assert time.monotonic() < deadline, f"no {text!r} in\n{server.output()}"
        time.sleep(0.05)


def stop_mid_job(fake: FakeOpenRouter, grace: str, *, release: bool) -> tuple[int, str]:
    """Queue a job, SIGTERM the server while the model holds it; exit code and log."""
    fake.script(Answer.held())
    env = {
        "OPENROUTER_API_KEY": KEY,
        "OPENROUTER_URL": fake.url,
        "JOB_WORKERS": "1",
        "SHUTDOWN_GRACE_SECONDS": grace,
    }
    with serving(env) as server:
        response = httpx.post(
            f"{server.base_url}/api/generate",
            data={"category": "portraits"},
            files={"image": ("me.jpg", jpeg_bytes(), "image/jpeg")},
        )
        assert response.status_code == 202, response.text
        fake.wait_for_requests(1, timeout=DEADLINE_SECONDS)
        server.process.send_signal(signal.SIGTERM)
        wait_for_output(server, "running job(s) to finish")
        if release:
            fake.release()
        try:
            code = server.process.wait(timeout=DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"no exit after SIGTERM\n{server.output()}")
        server.stop()
        return code, server.output(tail=None)


def test_a_job_that_finishes_within_the_grace_completes_before_the_exit(
    fake: FakeOpenRouter,
) -> None:
    code, log = stop_mid_job(fake, "15", release=True)

    assert code == 0, log
    finished = log.index(" succeeded after attempt 1")
    assert finished < stopped_at(log), log
    assert "Traceback" not in log


def test_a_job_still_running_after_the_grace_is_handed_back_before_the_exit(
    fake: FakeOpenRouter,
) -> None:
    code, log = stop_mid_job(fake, "0.3", release=False)

    assert code == 0, log
    assert " handed_back after attempt 1" in log, log
    assert log.index("handed_back") < stopped_at(log), log
    assert "Traceback" not in log
