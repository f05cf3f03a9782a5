"""The service as it is deployed: ``picpaygo serve`` in a subprocess, driven over real HTTP.

Most tests share one module-scoped server (many free credits, a small upload limit);
tests that need the default free credits of a client network, or that stop the
server, start a fresh one. Every client here connects from 127.0.0.1, so on one
server they all share the same free credits.
"""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from PIL import Image

from support.api import (
    PASSWORD,
    checkout,
    credits_of,
    follow_job,
    register,
    unique_email,
    wait_for_job,
)
from support.images import jpeg_bytes, pattern_png_bytes, png_bytes, text_bytes
from support.server import (
    HOST,
    ServerError,
    ServerProcess,
    answered_500,
    clean_environment,
    free_port,
    picpaygo_command,
    running_server,
    serving,
)

CATEGORIES = ("portraits", "editorial", "documentary")
STATUS_ORDER = ("queued", "running", "succeeded")
UPLOAD_LIMIT = 100_000
MODULE_ENV = {"DEFAULT_FREE_CREDITS": "200", "MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT)}
DEFAULT_FREE_CREDITS = 3


# --- fixtures and helpers -------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    """One server for the module; on the way out, its log must show no 500 and no traceback."""
    with serving(MODULE_ENV) as running:
        yield running
        log = running.output(tail=None)
    assert not answered_500(log), log
    assert "Traceback" not in log, log


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    """A fresh client (its own cookie jar) of the module server."""
    with httpx.Client(base_url=server.base_url, timeout=30.0) as http:
        yield http


@pytest.fixture
def new_client(server: ServerProcess) -> Iterator[Callable[[], httpx.Client]]:
    """Makes more clients of the module server, each with its own cookie jar."""
    clients: list[httpx.Client] = []

    def make() -> httpx.Client:
        http = httpx.Client(base_url=server.base_url, timeout=30.0)
        clients.append(http)
        return http

    yield make
    for http in clients:
        http.close()


def upload(
    client: httpx.Client,
    data: bytes,
    *,
    category: str = "portraits",
    filename: str = "me.jpg",
    content_type: str = "image/jpeg",
) -> httpx.Response:
    return client.post(
        "/api/generate",
        data={"category": category},
        files={"image": (filename, data, content_type)},
    )


def session_cookie_header(response: httpx.Response) -> str:
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith("picpaygo_")]
    assert len(headers) == 1, response.headers.get_list("set-cookie")
    return headers[0]


def cookie_attributes(set_cookie: str) -> dict[str, str]:
    """The attributes of a Set-Cookie header (after the name=value), lower-cased names."""
    attributes: dict[str, str] = {}
    for part in set_cookie.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        attributes[name.lower()] = value
    return attributes


def noise_png(side: int) -> bytes:
    """A valid PNG of random pixels: it barely compresses (about 3 bytes a pixel)."""
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def raw_exchange(port: int, request: bytes) -> bytes:
    """Send ``request`` bytes on a fresh connection and read until the server closes it."""
    received = b""
    with socket.create_connection((HOST, port), timeout=10) as sock:
        try:
            sock.sendall(request)
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionError:
            pass  # the server may hang up on garbage; what matters is what it answered
    return received


def raw_status(answer: bytes) -> int | None:
    """The status code of a raw HTTP answer, or None when the server sent nothing."""
    if not answer:
        return None
    match = re.match(rb"HTTP/1\.[01] (\d{3}) ", answer)
    assert match, answer[:200]
    return int(match.group(1))


def assert_still_serving(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10.0) as http:
        assert http.get("/api/health").status_code == 200


# --- accounts ---------------------------------------------------------------------------


def test_register_me_logout_me_with_a_session_cookie(server: ServerProcess) -> None:
    email = unique_email()
    with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
        registered = client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
        assert registered.status_code == 201, registered.text
        user = registered.json()["user"]
        assert user["email"] == email
        assert user["isGoogleAccount"] is False

        set_cookie = session_cookie_header(registered)
        attributes = cookie_attributes(set_cookie)
        assert "httponly" in attributes
        assert attributes.get("samesite", "").lower() == "lax"
        assert attributes.get("path") == "/"
        assert "secure" not in attributes  # development profile: plain HTTP works
        token = client.cookies.get("picpaygo_session")
        assert token

        me = client.get("/api/auth/me")
        assert me.status_code == 200, me.text
        assert me.json()["user"]["id"] == user["id"]

        logout = client.post("/api/auth/logout")
        assert logout.status_code == 204
        cleared = cookie_attributes(session_cookie_header(logout))
        assert cleared.get("max-age") == "0" or "expires" in cleared

        after = client.get("/api/auth/me")
        assert after.status_code == 401, after.text
        assert after.json()["status_code"] == 401

    # The session is gone on the server too, not only from the cookie jar.
    with httpx.Client(
        base_url=server.base_url, timeout=30.0, cookies={"picpaygo_session": token}
    ) as replay:
        assert replay.get("/api/auth/me").status_code == 401


def test_logout_without_a_session_is_fine(client: httpx.Client) -> None:
    assert client.post("/api/auth/logout").status_code == 204


def test_registering_a_taken_email_in_another_case_is_a_conflict(client: httpx.Client) -> None:
    email = unique_email()
    register(client, email)
    again = client.post("/api/auth/register", json={"email": email.upper(), "password": PASSWORD})
    assert again.status_code == 409, again.text


def test_wrong_password_and_unknown_email_get_the_same_401(
    client: httpx.Client, new_client: Callable[[], httpx.Client]
) -> None:
    email = unique_email()
    register(client, email)
    stranger = new_client()

    wrong_password = stranger.post(
        "/api/auth/login", json={"email": email, "password": "not the password"}
    )
    unknown_email = stranger.post(
        "/api/auth/login", json={"email": unique_email(), "password": "not the password"}
    )

    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.content == unknown_email.content
    assert wrong_password.json()["detail"]
    assert not wrong_password.headers.get_list("set-cookie")

    right = stranger.post("/api/auth/login", json={"email": email.upper(), "password": PASSWORD})
    assert right.status_code == 200, right.text
    assert stranger.get("/api/auth/me").json()["user"]["email"] == email


# --- credits ----------------------------------------------------------------------------


def test_anonymous_clients_get_the_free_credits_and_spend_them_first() -> None:
    with running_server({}) as base_url, httpx.Client(base_url=base_url, timeout=30.0) as client:
        assert credits_of(client) == {
            "credits": DEFAULT_FREE_CREDITS,
            "balance": 0,
            "freeCredits": DEFAULT_FREE_CREDITS,
            "authenticated": False,
        }

        register(client)
        assert checkout(client, 5) == {
            "credits": 8,
            "balance": 5,
            "freeCredits": 3,
            "authenticated": True,
        }

        spent = client.post("/api/credits/consume", json={"amount": 1})
        assert spent.status_code == 200, spent.text
        assert spent.json() == {"credits": 7, "balance": 5, "freeCredits": 2, "authenticated": True}

        spent = client.post("/api/credits/consume", json={"amount": 3})
        assert spent.status_code == 200, spent.text
        assert spent.json() == {"credits": 4, "balance": 4, "freeCredits": 0, "authenticated": True}

        assert client.post("/api/credits/consume").json()["credits"] == 3  # default amount 1


def test_without_credits_consume_and_generate_are_402_and_spend_nothing() -> None:
    with running_server({}) as base_url, httpx.Client(base_url=base_url, timeout=30.0) as client:
        assert client.post("/api/credits/consume", json={"amount": 4}).status_code == 402
        assert credits_of(client)["freeCredits"] == DEFAULT_FREE_CREDITS  # all or nothing

        assert client.post("/api/credits/consume", json={"amount": 3}).status_code == 200
        refused = client.post("/api/credits/consume", json={"amount": 1})
        assert refused.status_code == 402, refused.text
        assert refused.json()["status_code"] == 402

        no_credit = upload(client, jpeg_bytes())
        assert no_credit.status_code == 402, no_credit.text

        # A signed-in user without a paid balance cannot spend either.
        register(client)
        assert client.post("/api/credits/consume").status_code == 402
        assert upload(client, jpeg_bytes()).status_code == 402
        assert credits_of(client) == {
            "credits": 0,
            "balance": 0,
            "freeCredits": 0,
            "authenticated": True,
        }

        # Once paid for, the same upload goes through and is charged to the balance.
        assert client.post("/api/credits/checkout", json={"pack": 5}).status_code == 200
        created = upload(client, jpeg_bytes())
        assert created.status_code == 202, created.text
        assert credits_of(client)["balance"] == 4


def test_checkout_packs_add_to_the_balance(client: httpx.Client) -> None:
    register(client)
    free = credits_of(client)["freeCredits"]

    balance = 0
    for pack in (5, 10, 20):
        bought = checkout(client, pack)
        balance += pack
        assert bought == {
            "credits": free + balance,
            "balance": balance,
            "freeCredits": free,
            "authenticated": True,
        }

    for pack in (0, 1, 7, 15, 25, 100, -5):
        refused = client.post("/api/credits/checkout", json={"pack": pack})
        assert refused.status_code == 422, (pack, refused.text)
    assert credits_of(client)["balance"] == 35


def test_anonymous_checkout_is_401(client: httpx.Client) -> None:
    response = client.post("/api/credits/checkout", json={"pack": 5})
    assert response.status_code == 401, response.text


# --- generation -------------------------------------------------------------------------


@pytest.mark.parametrize("category", CATEGORIES)
@pytest.mark.parametrize(
    ("filename", "content_type", "make"),
    [
        ("me.jpg", "image/jpeg", lambda: jpeg_bytes(96, 72)),
        ("me.png", "image/png", lambda: pattern_png_bytes(96, 72)),
    ],
    ids=["jpeg", "png"],
)
def test_an_upload_becomes_a_picture(
    client: httpx.Client,
    category: str,
    filename: str,
    content_type: str,
    make: Callable[[], bytes],
) -> None:
    before = credits_of(client)["freeCredits"]
    created = upload(
        client, make(), category=category, filename=filename, content_type=content_type
    )
    assert created.status_code == 202, created.text
    assert created.json()["status"] == "queued"
    job_id = created.json()["jobId"]
    assert credits_of(client)["freeCredits"] == before - 1  # charged with the upload

    job, statuses = follow_job(client, job_id)

    assert job["status"] == "succeeded", job
    assert set(statuses) <= set(STATUS_ORDER), statuses
    positions = [STATUS_ORDER.index(status) for status in statuses]
    assert positions == sorted(positions), statuses
    assert job["jobId"] == job_id
    assert job["category"] == category
    assert job["error"] is None
    assert job["outputUrl"]

    picture = client.get(job["outputUrl"])
    assert picture.status_code == 200
    assert picture.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(picture.content)) as image:
        assert image.format == "PNG"
        image.load()
        assert image.width > 0
        assert image.height > 0


def test_a_text_file_is_415_and_costs_nothing(client: httpx.Client) -> None:
    before = credits_of(client)
    response = upload(client, text_bytes(), filename="notes.txt", content_type="text/plain")
    assert response.status_code == 415, response.text
    # Declaring an image content type does not help: the bytes decide.
    disguised = upload(client, text_bytes(), filename="me.jpg", content_type="image/jpeg")
    assert disguised.status_code == 415, disguised.text
    assert credits_of(client) == before


def test_a_bad_category_is_422(client: httpx.Client) -> None:
    response = upload(client, jpeg_bytes(), category="cubism")
    assert response.status_code == 422, response.text


def test_an_image_over_the_upload_limit_is_413_and_costs_nothing(client: httpx.Client) -> None:
    before = credits_of(client)
    # Far over the limit: refused while the body is read.
    far_over = noise_png(320)
    assert len(far_over) > 3 * UPLOAD_LIMIT
    response = upload(client, far_over, filename="big.png", content_type="image/png")
    assert response.status_code == 413, response.text
    # Just over the limit (inside the multipart allowance): refused by the size rule.
    just_over = noise_png(200)
    assert UPLOAD_LIMIT < len(just_over) < 2 * UPLOAD_LIMIT
    response = upload(client, just_over, filename="big.png", content_type="image/png")
    assert response.status_code == 413, response.text
    assert response.json()["status_code"] == 413
    assert credits_of(client) == before


def test_a_20_mb_body_is_413_and_the_server_keeps_going(
    client: httpx.Client, server: ServerProcess
) -> None:
    body = b"\0" * (20 * 1024 * 1024)
    response = upload(client, body, filename="huge.png", content_type="image/png")
    assert response.status_code == 413, response.text

    def chunks() -> Iterator[bytes]:
        for _ in range(200):
            yield b"x" * 100_000

    streamed = client.post(
        "/api/generate",
        content=chunks(),
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert streamed.status_code == 413, streamed.text

    json_body = client.post(
        "/api/auth/login",
        content=b'{"email": "' + b"a" * (20 * 1024 * 1024) + b'"}',
        headers={"content-type": "application/json"},
    )
    assert json_body.status_code == 413, json_body.text

    assert server.alive()
    assert client.get("/api/health").status_code == 200
    assert upload(client, jpeg_bytes()).status_code == 202


def test_another_users_job_is_404(
    client: httpx.Client, new_client: Callable[[], httpx.Client]
) -> None:
    register(client)
    created = upload(client, jpeg_bytes())
    assert created.status_code == 202, created.text
    job_id = created.json()["jobId"]
    job = wait_for_job(client, job_id)
    assert job["status"] == "succeeded"
    assert client.get(f"/api/generate/{job_id}/image").status_code == 200

    other = new_client()
    register(other)
    anonymous = new_client()
    for stranger in (other, anonymous):
        for path in (f"/api/generate/{job_id}", f"/api/generate/{job_id}/image"):
            response = stranger.get(path)
            assert response.status_code == 404, (path, response.text)
    # Indistinguishable from a job that does not exist.
    missing = other.get(f"/api/generate/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert other.get(f"/api/generate/{job_id}").content == missing.content


def test_unknown_and_malformed_job_ids_are_404(client: httpx.Client) -> None:
    for job_id in (str(uuid.uuid4()), "not-a-uuid", "0" * 200):
        assert client.get(f"/api/generate/{job_id}").status_code == 404
        assert client.get(f"/api/generate/{job_id}/image").status_code == 404


# --- hostile requests: never a 500 ------------------------------------------------------


def test_a_10000_character_email_is_refused_without_a_500(client: httpx.Client) -> None:
    email = "a" * 9_990 + "@example.com"
    registered = client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert registered.status_code == 422, registered.text
    logged_in = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert logged_in.status_code == 401, logged_in.text


@pytest.mark.parametrize(
    "path",
    ["/api/auth/register", "/api/auth/login", "/api/credits/consume", "/api/credits/checkout"],
)
@pytest.mark.parametrize("body", [b"{", b'{"email": ', b"\x00\x01", b"[[[[[[[[", b"nul"])
def test_malformed_json_is_400(client: httpx.Client, path: str, body: bytes) -> None:
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["status_code"] == 400


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"--xyz--\r\n",
        b"no multipart at all",
        b'--xyz\r\nContent-Disposition: form-data; name="image"; filename="a"\r\n\r\ntrunc',
    ],
    ids=["empty", "no-parts", "garbage", "truncated"],
)
def test_malformed_multipart_is_4xx(client: httpx.Client, body: bytes) -> None:
    response = client.post(
        "/api/generate",
        content=body,
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert 400 <= response.status_code < 500, response.text


@pytest.mark.parametrize("size", [100_000, 1_000_000])
def test_huge_headers_are_431(server: ServerProcess, size: int) -> None:
    try:
        with httpx.Client(base_url=server.base_url, timeout=30.0) as http:
            status: int | None = http.get("/api/health", headers={"x-huge": "h" * size}).status_code
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
        status = None  # the server answered and hung up before the head was all sent
    assert status in (None, 431)
    assert_still_serving(server.base_url)


def test_a_thousand_headers_are_431(client: httpx.Client, server: ServerProcess) -> None:
    headers = [(f"x-header-{n}", f"value-{n}") for n in range(1000)]
    response = client.get("/api/credits", headers=headers)
    assert response.status_code == 431, response.text
    assert_still_serving(server.base_url)


@pytest.mark.parametrize("method", ["BREW", "PROPFIND", "TRACE", "CONNECT"])
def test_an_unknown_method_is_4xx(client: httpx.Client, method: str) -> None:
    response = client.request(method, "/api/health")
    assert 400 <= response.status_code < 500, response.text


@pytest.mark.parametrize(
    "path",
    [
        "/api/generate/%ff%fe%00",
        "/api/generate/%c0%ae%c0%ae/image",
        "/api/generate/%%%25zz",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/api/auth/me%00",
        "/api/%E2%82",
        "/api/credits?%ff=%fe&&=%%",
    ],
)
def test_percent_encoded_garbage_in_the_path_is_4xx(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code < 500, response.text
    if "?" not in path:
        assert response.status_code == 404, response.text


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /api/health HTTP/9.9 extra\r\nHost: x\r\n\r\n",
        b"G(T /api/health HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /api/%zz\xff HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /api/health\r\n\r\n",
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(64)),
    ],
    ids=[
        "garbage",
        "bad-version",
        "bad-method-token",
        "raw-bytes-in-path",
        "no-version",
        "bad-content-length",
        "tls-hello",
    ],
)
def test_a_broken_request_line_is_refused_without_a_5xx(
    server: ServerProcess, request_bytes: bytes
) -> None:
    status = raw_status(raw_exchange(server.port, request_bytes))
    assert status is None or 400 <= status < 500, status
    assert_still_serving(server.base_url)


def test_a_well_formed_raw_request_works(server: ServerProcess) -> None:
    # The raw-socket helper itself is sound: a correct request gets a 200.
    answer = raw_exchange(
        server.port, b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert raw_status(answer) == 200
    assert answer.endswith(b'"ok","checks":{"storage":"ok","imageGenerator":"ok"}}')


def multipart_category(part_headers: bytes, value: bytes) -> bytes:
    """A multipart body with a ``category`` part as given and a valid PNG ``image``."""
    return (
        b'--xyz\r\nContent-Disposition: form-data; name="category"\r\n'
        + part_headers
        + b"\r\n"
        + value
        + b'\r\n--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
        + b"Content-Type: image/png\r\n\r\n"
        + png_bytes()
        + b"\r\n--xyz--\r\n"
    )


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/auth/register"])
def test_a_json_body_that_is_not_utf8_is_400(client: httpx.Client, path: str) -> None:
    body = '{"email": "\xe9@example.com", "password": "password123"}'.encode("latin-1")
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text


def test_a_multipart_field_that_is_not_utf8_is_400(client: httpx.Client) -> None:
    response = client.post(
        "/api/generate",
        content=multipart_category(b"", b"\xff\xfeportraits"),
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert response.status_code == 400, response.text


@pytest.fixture(scope="module")
def odd_input_server() -> Iterator[str]:
    """A server of its own for bodies that once crashed the decoders (regression tests)."""
    with running_server({}) as base_url:
        yield base_url


def test_a_multipart_field_with_an_unknown_charset_is_400(odd_input_server: str) -> None:
    body = multipart_category(b"Content-Type: text/plain; charset=bogus\r\n", b"portraits")
    with httpx.Client(base_url=odd_input_server, timeout=30.0) as http:
        response = http.post(
            "/api/generate",
            content=body,
            headers={"content-type": "multipart/form-data; boundary=xyz"},
        )
    assert response.status_code == 400, response.text


@pytest.mark.parametrize(
    "body",
    [b"[" * 1000, b'{"email": ' + b"[" * 1000 + b"]" * 1000 + b', "password": "x"}'],
    ids=["open", "closed"],
)
def test_deeply_nested_json_is_400(odd_input_server: str, body: bytes) -> None:
    with httpx.Client(base_url=odd_input_server, timeout=30.0) as http:
        response = http.post(
            "/api/auth/login", content=body, headers={"content-type": "application/json"}
        )
    assert 400 <= response.status_code < 500, response.text


# --- documentation ----------------------------------------------------------------------


def test_the_api_documentation_is_served(client: httpx.Client) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<html" in page.text.lower()

    schema = client.get("/api/docs/openapi.json")
    assert schema.status_code == 200
    assert "json" in schema.headers["content-type"]
    document = schema.json()
    assert document["openapi"].startswith("3.")
    for path in ("/api/auth/register", "/api/credits", "/api/generate", "/api/health"):
        assert any(p.rstrip("/") == path for p in document["paths"]), path


# --- process behaviour ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("JOB_WORKERS", "abc"),
        ("MAX_UPLOAD_BYTES", "-5"),
        ("PICPAYGO_ENV", "staging"),
        ("SESSION_COOKIE_SECURE", "maybe"),
    ],
)
def test_a_malformed_setting_stops_start_up_with_one_line(name: str, value: str) -> None:
    command = [*picpaygo_command(), "serve", "--host", HOST, "--port", str(free_port())]
    result = subprocess.run(  # noqa: S603 - our own console script
        command,
        env=clean_environment({name: value}),
        capture_output=True,
        timeout=30,
        check=False,
    )
    stderr = result.stderr.decode("utf-8", errors="replace")
    assert result.returncode != 0, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert name in lines[0]
    assert "Traceback" not in stderr


def test_start_up_announces_each_development_fallback_once(server: ServerProcess) -> None:
    log = server.output(tail=None)
    start_up = log.split("API process", 1)[0]
    assert start_up.lower().count("in-memory storage") == 1, start_up
    assert start_up.lower().count("offline image generator") == 1, start_up
    assert start_up.count("DATABASE_URL") == 1, start_up
    assert start_up.count("OPENROUTER_API_KEY") == 1, start_up


def stop_with_sigterm(env: dict[str, str]) -> tuple[int, str]:
    """Start a server, queue a job, send SIGTERM; the exit code and the whole log."""
    with serving(env) as server:
        with httpx.Client(base_url=server.base_url, timeout=30.0) as http:
            assert upload(http, jpeg_bytes()).status_code == 202  # work in the queue
        server.process.send_signal(signal.SIGTERM)
        try:
            code = server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"no exit within 10 s of SIGTERM\n{server.output()}")
        server.stop()  # records the exit code; nothing is left to stop
        return code, server.output(tail=None)


def test_sigterm_shuts_the_server_down_gracefully_with_exit_code_0() -> None:
    code, log = stop_with_sigterm({})
    assert code == 0, log
    assert re.search(r"INFO picpaygo.server: API process \d+ stopped", log), log
    assert "Traceback" not in log


def api_processes(log: str, state: str) -> set[int]:
    """The process ids of the API processes the log says are ``ready`` or ``stopped``."""
    return {int(pid) for pid in re.findall(rf"API process (\d+) {state}", log)}


def served_requests(metrics: str, route: str) -> float:
    """The sum of ``picpaygo_http_requests_total`` for ``route`` in a /metrics text."""
    pattern = rf'^picpaygo_http_requests_total\{{[^}}]*route="{re.escape(route)}"[^}}]*\}} (\S+)$'
    return sum(float(value) for value in re.findall(pattern, metrics, re.M))


def test_workers_2_share_the_traffic_and_metrics_count_both(
    postgres_url: str, tmp_path: Path
) -> None:
    env = {
        "DATABASE_URL": postgres_url,
        "JOB_WORKERS": "0",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    with serving(env, command=[*picpaygo_command(), "serve", "--workers", "2"]) as server:
        deadline = time.monotonic() + 20
        while server.output(tail=None).count("Started worker-") < 2:
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.05)
        api = psutil.Process(server.process.pid).children()
        clients = [httpx.Client(base_url=server.base_url) for _ in range(40)]
        answers = [client.get("/api/health/live").status_code for client in clients]
        held = [
            sum(
                c.status == "ESTABLISHED" and c.laddr.port == server.port
                for c in process.net_connections()
            )
            for process in api
        ]
        for client in clients:
            client.close()
        counted = [
            served_requests(httpx.get(f"{server.base_url}/metrics").text, "/api/health/live")
            for _ in range(4)
        ]
        code = server.stop()
        log = server.output(tail=None)

    assert len(api) == 2, log
    assert answers == [200] * 40
    assert all(held), held  # both processes took connections
    assert counted == [40.0] * 4  # whichever process answered /metrics
    assert code == 0, log
    assert api_processes(log, "ready") == api_processes(log, "stopped") == {p.pid for p in api}
    assert "Traceback" not in log


def test_running_server_reports_a_server_that_cannot_start() -> None:
    with pytest.raises(ServerError, match="JOB_WORKERS"), running_server({"JOB_WORKERS": "x"}):
        pass  # pragma: no cover - never reached


def test_the_health_check_says_ok(client: httpx.Client) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["checks"] == {"storage": "ok", "imageGenerator": "ok"}
