"""HTTP calls that many tests make to a running service: sign up, credits, a job.

Each helper checks the status code it needs (with the body as the message) and returns
the JSON it got; ``follow_job`` and ``wait_for_job`` poll a job until it is finished.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

PASSWORD = "correct horse battery staple"
JOB_DEADLINE_SECONDS = 30.0
POLL_SECONDS = 0.05


def unique_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


def register(client: httpx.Client, email: str | None = None, **extra: str) -> dict[str, Any]:
    """Register (a fresh email unless ``email``) with ``PASSWORD``; the user as returned."""
    response = client.post(
        "/api/auth/register",
        json={"email": email or unique_email(), "password": PASSWORD, **extra},
    )
    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()["user"]
    return user


def credits_of(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/api/credits")
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


CREDITS_FIELDS = ("credits", "balance", "freeCredits", "authenticated")


def checkout(client: httpx.Client, pack: int) -> dict[str, Any]:
    """Buy a pack of credits with instant payments; the credits view that comes back
    (the ``CreditsResponse`` fields of the answer, once its purchase fields are checked)."""
    response = client.post("/api/credits/checkout", json={"pack": pack})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "completed", body
    assert body["checkoutUrl"] is None, body
    assert isinstance(body["purchaseId"], str), body
    return {name: body[name] for name in CREDITS_FIELDS}


def follow_job(
    client: httpx.Client, job_id: str, deadline_seconds: float = JOB_DEADLINE_SECONDS
) -> tuple[dict[str, Any], list[str]]:
    """Poll the job until it is finished, at most ``deadline_seconds``.

    Returns its last state and every status seen, in order.
    """
    deadline = time.monotonic() + deadline_seconds
    statuses: list[str] = []
    while True:
        response = client.get(f"/api/generate/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        statuses.append(job["status"])
        if job["status"] in ("succeeded", "failed"):
            return job, statuses
        assert time.monotonic() < deadline, (
            f"job {job_id} not finished within {deadline_seconds:g} s; statuses {statuses[-5:]}"
        )
        time.sleep(POLL_SECONDS)


def wait_for_job(
    client: httpx.Client, job_id: str, deadline_seconds: float = JOB_DEADLINE_SECONDS
) -> dict[str, Any]:
    """Poll the job until it is finished, at most ``deadline_seconds``; its last state."""
    job, _ = follow_job(client, job_id, deadline_seconds)
    return job
