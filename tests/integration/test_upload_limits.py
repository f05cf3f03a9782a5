"""An oversized upload to ``picpaygo serve`` is 413, like any other body too large, in
every shape it can arrive in; nothing is charged and no job is made.

A body refused by its size is not read: the server answers while the client may still
be sending, then closes. The big uploads are sent over a plain socket that, like a
browser, stops sending when the server hangs up and then reads the answer (an HTTP
client that sends the whole body first would see only the closed connection).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import httpx
import pytest

from support.api import checkout, credits_of, register
from support.images import jpeg_bytes
from support.server import HOST, serving

LIMIT = 64 * 1024
BOUNDARY = "upload-limit-test"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def multipart(image: bytes) -> bytes:
    """A ``POST /api/generate`` body: the photo and the category."""
    return b"".join(
        [
            f"--{BOUNDARY}\r\n".encode(),
            b'Content-Disposition: form-data; name="category"\r\n\r\nportraits\r\n',
            f"--{BOUNDARY}\r\n".encode(),
            b'Content-Disposition: form-data; name="image"; filename="me.jpg"\r\n',
            b"Content-Type: image/jpeg\r\n\r\n",
            image,
            f"\r\n--{BOUNDARY}--\r\n".encode(),
        ]
    )


def photo_of(size: int) -> bytes:
    """A real JPEG padded with trailing bytes to ``size``."""
    photo = jpeg_bytes()
    return photo + b"\0" * (size - len(photo))


def pieces(data: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def chunked(body: bytes) -> Iterator[bytes]:
    """``body`` in HTTP/1.1 chunked transfer coding."""
    for piece in pieces(body):
        yield b"%x\r\n%s\r\n" % (len(piece), piece)
    yield b"0\r\n\r\n"


def post_upload(port: int, cookie: str, length_header: bytes, body: Iterator[bytes]) -> bytes:
    """``POST /api/generate`` over a plain socket: send until the server hangs up, then
    return the answer's head and body."""
    with socket.create_connection((HOST, port), timeout=30) as sock:
        head = (
            b"POST /api/generate HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            + f"Cookie: {cookie}\r\nContent-Type: {MULTIPART}\r\n".encode()
            + length_header
            + b"\r\n"
        )
        try:
            sock.sendall(head)
            for piece in body:
                sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and closed before the whole body was sent
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    return answer


Upload = Callable[[httpx.Client, int, str], int]


def with_a_content_length(_: httpx.Client, port: int, cookie: str) -> int:
    body = multipart(photo_of(20 * LIMIT))
    answer = post_upload(port, cookie, b"Content-Length: %d\r\n" % len(body), pieces(body))
    return status_of(answer)


def sent_chunked(_: httpx.Client, port: int, cookie: str) -> int:
    body = chunked(multipart(photo_of(20 * LIMIT)))
    return status_of(post_upload(port, cookie, b"Transfer-Encoding: chunked\r\n", body))


def a_photo_just_over_the_limit(client: httpx.Client, *_: object) -> int:
    # The whole body is within the limit plus the multipart envelope: it is read.
    return client.post(
        "/api/generate",
        files={"image": ("me.jpg", photo_of(LIMIT + 1), "image/jpeg")},
        data={"category": "portraits"},
    ).status_code


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    assert b'"status_code":' in answer, answer[:400]
    return int(answer.split(b" ", 2)[1])


UPLOADS: dict[str, Upload] = {
    "with a content length": with_a_content_length,
    "chunked": sent_chunked,
    "a photo just over the limit": a_photo_just_over_the_limit,
}


@pytest.mark.parametrize("shape", list(UPLOADS))
def test_an_oversized_upload_is_413_and_charges_nothing(shape: str) -> None:
    with (
        serving({"JOB_WORKERS": "0", "MAX_UPLOAD_BYTES": str(LIMIT)}) as server,
        httpx.Client(base_url=server.base_url, timeout=30) as client,
    ):
        register(client)
        checkout(client, 5)
        before = credits_of(client)
        cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())

        status = UPLOADS[shape](client, server.port, cookie)

        after = credits_of(client)
        jobs = client.get("/api/generate").json()["jobs"]

    assert status == 413
    assert after == before
    assert jobs == []


def test_an_oversized_upload_waiting_for_100_continue_is_413_at_once() -> None:
    with (
        serving({"JOB_WORKERS": "0", "MAX_UPLOAD_BYTES": str(LIMIT)}) as server,
        socket.create_connection((HOST, server.port), timeout=10) as sock,
    ):
        sock.sendall(
            b"POST /api/generate HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            + f"Content-Type: {MULTIPART}\r\nExpect: 100-continue\r\n".encode()
            + b"Content-Length: %d\r\n\r\n" % (20 * LIMIT)
        )
        answer = sock.recv(65536)

    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b'"status_code":413' in answer
