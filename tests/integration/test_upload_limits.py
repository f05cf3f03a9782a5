"""An oversized upload to ``picpaygo serve`` is 413, like any other body too large, in
every shape it can arrive in; nothing is charged and no job is made."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from support.api import checkout, credits_of, register
from support.images import jpeg_bytes
from support.server import HOST, serving

LIMIT = 64 * 1024
BOUNDARY = "upload-limit-test"


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


def in_chunks(body: bytes) -> Iterator[bytes]:
    """The body as a stream: httpx sends it chunked, without a Content-Length."""
    for start in range(0, len(body), 16 * 1024):
        yield body[start : start + 16 * 1024]


def expecting_continue(port: int, body_size: int) -> bytes:
    """A request head announcing ``body_size`` bytes and waiting for 100 Continue."""
    with socket.create_connection((HOST, port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/generate HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Type: multipart/form-data; boundary=" + BOUNDARY.encode() + b"\r\n"
            b"Expect: 100-continue\r\n" + b"Content-Length: %d\r\n\r\n" % body_size
        )
        return sock.recv(65536)


SHAPES = {
    "with a content length": lambda c: c.post(
        "/api/generate",
        content=multipart(photo_of(20 * LIMIT)),
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    ),
    "chunked": lambda c: c.post(
        "/api/generate",
        content=in_chunks(multipart(photo_of(20 * LIMIT))),
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    ),
    "a photo just over the limit": lambda c: c.post(
        "/api/generate",
        files={"image": ("me.jpg", photo_of(LIMIT + 1), "image/jpeg")},
        data={"category": "portraits"},
    ),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_an_oversized_upload_is_413_and_charges_nothing(shape: str) -> None:
    with (
        serving({"JOB_WORKERS": "0", "MAX_UPLOAD_BYTES": str(LIMIT)}) as server,
        httpx.Client(base_url=server.base_url, timeout=30) as client,
    ):
        register(client)
        checkout(client, 5)
        before = credits_of(client)

        response = SHAPES[shape](client)

        after = credits_of(client)
        jobs = client.get("/api/generate").json()["jobs"]

    assert response.status_code == 413, response.text
    assert response.json()["status_code"] == 413
    assert after == before
    assert jobs == []


def test_an_oversized_upload_waiting_for_100_continue_is_413_at_once() -> None:
    with serving({"JOB_WORKERS": "0", "MAX_UPLOAD_BYTES": str(LIMIT)}) as server:
        answer = expecting_continue(server.port, 20 * LIMIT)

    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b'"status_code":413' in answer
