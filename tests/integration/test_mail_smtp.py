"""Mail through a real SMTP server (aiosmtpd on 127.0.0.1, in this process) from a real
``picpaygo serve`` on PostgreSQL: the links, their single use, forgotten passwords
answered alike for known and unknown emails, an SMTP outage, a refusal, and logs that
never carry a token."""

from __future__ import annotations

import json
import statistics
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from support.api import PASSWORD, register, unique_email
from support.mail import html_of, text_of, tokens_in
from support.postgres import throwaway_database, unreachable_reason
from support.server import ServerProcess, clean_environment, picpaygo_command, serving
from support.smtp import SmtpServer

PUBLIC_URL = "https://app.example"
MAIL_FROM = "PicPayGo <noreply@app.example>"
NEW_PASSWORD = "a brand new password"
SAMPLES = 20
MAX_DIFFERENCE_MS = 5.0
WARM_UP = "warm-up@example.com"
POLL_SECONDS = 0.05


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    reason = unreachable_reason()
    if reason is not None:
        pytest.skip(f"PostgreSQL is not reachable ({reason})")
    with throwaway_database() as url:
        yield url


@pytest.fixture(scope="module")
def server(smtp: SmtpServer, database_url: str) -> Iterator[ServerProcess]:
    env = {
        "DATABASE_URL": database_url,
        "MAIL_URL": smtp.url,
        "PUBLIC_URL": PUBLIC_URL,
        "MAIL_FROM": MAIL_FROM,
        "JOB_WORKERS": "1",
        "AUTH_ATTEMPTS_PER_MINUTE": "100000",
        "MAIL_RETRY_BASE_SECONDS": "0.2",
    }
    with serving(env) as running:
        yield running


@pytest.fixture(autouse=True)
def smtp_answers(smtp: SmtpServer) -> Iterator[None]:
    """Each test starts with the SMTP server up and accepting."""
    smtp.inbox.refuse_with = None
    yield
    smtp.inbox.refuse_with = None


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30.0) as http:
        yield http


def mailed(smtp: SmtpServer, recipient: str, kind: str, count: int = 1) -> list[str]:
    """The ``kind`` tokens of the first ``count`` mails to ``recipient`` carrying one."""
    deadline = time.monotonic() + 20.0
    while time.monotonic() < deadline:
        found = [t for m in smtp.inbox.to(recipient) for t in tokens_in(text_of(m), kind)]
        if len(found) >= count:
            return found
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"{count} {kind} mail(s) to {recipient} did not arrive")


def outbox(database_url: str) -> list[dict[str, Any]]:
    """What ``picpaygo mail outbox --json`` lists."""
    result = subprocess.run(  # noqa: S603 - our own console script
        [*picpaygo_command(), "mail", "outbox", "--json"],
        env=clean_environment({"DATABASE_URL": database_url}),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    listed: list[dict[str, Any]] = json.loads(result.stdout)
    return listed


def wait_listed(database_url: str, recipient: str, **expected: object) -> dict[str, Any]:
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        for entry in outbox(database_url):
            if entry["recipient"] == recipient and all(entry[k] == v for k, v in expected.items()):
                return entry
    raise AssertionError(f"no mail to {recipient} listed with {expected}")


def test_registration_mails_a_verification_link_that_works_once(
    client: httpx.Client, smtp: SmtpServer
) -> None:
    email = unique_email()
    register(client, email)
    [message] = smtp.inbox.wait_for(email)
    assert message["From"] == MAIL_FROM
    assert message["To"] == email
    assert message["Message-ID"]
    assert message["Date"]
    assert message.get_content_type() == "multipart/alternative"
    [token] = tokens_in(text_of(message), "verify")
    assert f"{PUBLIC_URL}/?verify={token}" in text_of(message)
    assert f"{PUBLIC_URL}/?verify={token}" in html_of(message)

    verified = client.post("/api/auth/email/verify", json={"token": token})
    assert verified.status_code == 200, verified.text
    assert verified.json()["user"]["emailVerified"] is True
    for token_sent in (token, "garbage-token"):
        again = client.post("/api/auth/email/verify", json={"token": token_sent})
        assert again.status_code == 400, again.text

    assert client.post("/api/auth/password/forgot", json={"email": email}).status_code == 202
    [reset_token] = mailed(smtp, email, "reset")
    wrong_purpose = client.post("/api/auth/email/verify", json={"token": reset_token})
    assert wrong_purpose.status_code == 400, wrong_purpose.text


def forgot_medians(
    client: httpx.Client, known: list[str], answers: set[tuple[int, bytes]]
) -> tuple[float, float]:
    """Median times (ms) of ``password/forgot`` for the ``known`` emails and as many
    unknown ones, asked in turn (known first, then unknown first, alternately)."""
    timings: dict[str, list[float]] = {"known": [], "unknown": []}
    for n, known_email in enumerate(known):
        pair = [("known", known_email), ("unknown", f"nobody-{uuid.uuid4().hex[:12]}@example.com")]
        for kind, email in pair if n % 2 == 0 else reversed(pair):
            started = time.perf_counter()
            response = client.post("/api/auth/password/forgot", json={"email": email})
            timings[kind].append(time.perf_counter() - started)
            answers.add((response.status_code, response.content))
    return (
        statistics.median(timings["known"]) * 1000,
        statistics.median(timings["unknown"]) * 1000,
    )


def test_forgot_answers_known_and_unknown_emails_alike_in_the_same_time(
    client: httpx.Client, smtp: SmtpServer
) -> None:
    known = [unique_email() for _ in range(SAMPLES)]
    for email in [*known, WARM_UP]:
        register(client, email)
    answers: set[tuple[int, bytes]] = set()
    forgot_medians(client, [WARM_UP] * 3, answers)  # connections and caches warm
    # A machine shared with other work adds noise of a few ms; a real difference (a
    # password hashed, a mail sent in the request) would show in every round.
    differences = []
    for _ in range(3):  # each known email is asked at most 3 times: its hourly limit
        known_ms, unknown_ms = forgot_medians(client, known, answers)
        differences.append(abs(known_ms - unknown_ms))
        print(  # the figures, for the report (pytest -s)
            f"password/forgot medians over {SAMPLES}: known {known_ms:.2f} ms, "
            f"unknown {unknown_ms:.2f} ms, difference {differences[-1]:.2f} ms"
        )
        if differences[-1] < MAX_DIFFERENCE_MS:
            break
    assert answers == {(202, b'{"sent":true}')}
    assert min(differences) < MAX_DIFFERENCE_MS
    for email in known:
        mailed(smtp, email, "reset")
    unknown_mail = [m for m in smtp.inbox.messages if m["To"].startswith("nobody-")]
    assert not unknown_mail


def test_a_reset_link_works_once_signs_in_and_ends_every_other_session(
    server: ServerProcess, client: httpx.Client, smtp: SmtpServer
) -> None:
    email = unique_email()
    register(client, email)
    with httpx.Client(base_url=server.base_url, timeout=30.0) as other:
        signed_in = other.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert signed_in.status_code == 200
        for _ in range(2):
            assert (
                client.post("/api/auth/password/forgot", json={"email": email}).status_code == 202
            )
        older, newer = mailed(smtp, email, "reset", count=2)

        body = {"token": older, "password": NEW_PASSWORD}
        assert client.post("/api/auth/password/reset", json=body).status_code == 400
        reset = client.post("/api/auth/password/reset", json={**body, "token": newer})
        assert reset.status_code == 200, reset.text
        assert reset.json()["user"]["emailVerified"] is True
        assert client.get("/api/auth/me").status_code == 200
        assert other.get("/api/auth/me").status_code == 401
        assert (
            client.post("/api/auth/password/reset", json={**body, "token": newer}).status_code
            == 400
        )
        old = other.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert old.status_code == 401
        new = other.post("/api/auth/login", json={"email": email, "password": NEW_PASSWORD})
        assert new.status_code == 200


def test_changing_the_password_ends_the_other_sessions(
    server: ServerProcess, client: httpx.Client
) -> None:
    email = unique_email()
    register(client, email)
    with httpx.Client(base_url=server.base_url, timeout=30.0) as other:
        assert (
            other.post("/api/auth/login", json={"email": email, "password": PASSWORD}).status_code
            == 200
        )
        wrong = client.post(
            "/api/auth/password",
            json={"currentPassword": "not it at all", "newPassword": NEW_PASSWORD},
        )
        assert wrong.status_code == 401
        changed = client.post(
            "/api/auth/password", json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
        )
        assert changed.status_code == 200, changed.text
        assert client.get("/api/auth/me").status_code == 200
        assert other.get("/api/auth/me").status_code == 401


def test_an_smtp_outage_loses_no_mail(
    client: httpx.Client, smtp: SmtpServer, database_url: str
) -> None:
    email = unique_email()
    register(client, email)
    smtp.inbox.wait_for(email)
    smtp.stop()
    try:
        started = time.perf_counter()
        response = client.post("/api/auth/password/forgot", json={"email": email})
        elapsed_ms = (time.perf_counter() - started) * 1000
        print(f"password/forgot with the SMTP server down: {elapsed_ms:.1f} ms")
        assert response.status_code == 202
        assert elapsed_ms < 100
        listed = wait_listed(database_url, email, status="queued")
        assert "token" not in json.dumps(listed).lower()
        assert wait_listed(database_url, email, status="queued")["attempts"] >= 1
    finally:
        smtp.start()
    mailed(smtp, email, "reset")


def test_a_5xx_answer_fails_the_mail_after_one_try(
    client: httpx.Client, smtp: SmtpServer, database_url: str
) -> None:
    email = unique_email()
    register(client, email)
    smtp.inbox.wait_for(email)
    smtp.inbox.refuse_with = "550 5.1.1 no such mailbox"
    assert client.post("/api/auth/password/forgot", json={"email": email}).status_code == 202
    failed = wait_listed(database_url, email, status="failed")
    assert failed["attempts"] == 1
    assert "550" in failed["lastError"]


def test_no_log_line_carries_a_mailed_token(
    server: ServerProcess, client: httpx.Client, smtp: SmtpServer
) -> None:
    email = unique_email()
    register(client, email)
    assert client.post("/api/auth/password/forgot", json={"email": email}).status_code == 202
    mailed(smtp, email, "reset")
    tokens = {
        token
        for message in smtp.inbox.messages
        for kind in ("verify", "reset")
        for token in tokens_in(text_of(message), kind)
    }
    log = server.output(tail=None)
    assert log
    assert not [token for token in tokens if token in log]


def test_users_delete_erases_an_account_the_running_server_then_refuses(
    client: httpx.Client, smtp: SmtpServer, database_url: str
) -> None:
    email = unique_email()
    register(client, email)
    result = subprocess.run(  # noqa: S603 - our own console script
        [*picpaygo_command(), "users", "delete", email, "--reason", "asked by mail", "--json"],
        env=clean_environment({"DATABASE_URL": database_url}),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout)["erased"] is True
    assert client.get("/api/auth/me").status_code == 401
    confirmation = smtp.inbox.wait_for(email, count=2)[-1]
    assert "forfeited" in text_of(confirmation)
