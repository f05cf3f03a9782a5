"""A fake OpenRouter: a real HTTP server on loopback that speaks the chat-completions
wire format for image generation, answers as scripted and records what it received.

Tests start it on a free port and point ``OPENROUTER_URL`` at ``fake.url``::

    with FakeOpenRouter() as fake:
        fake.script(Answer.rate_limited(retry_after="1"), Answer.success())
        ...
        assert fake.requests[0].body["model"] == "..."

Scripted answers are used in order, one per request; after them every request gets
``default`` (success unless told otherwise). For local runs of the service::

    python tests/support/fake_openrouter.py --port 8090 [--answer success]
    OPENROUTER_API_KEY=anything OPENROUTER_URL=http://127.0.0.1:8090/api/v1 picpaygo serve
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

API_PATH = "/api/v1"
COMPLETIONS_PATH = f"{API_PATH}/chat/completions"


def _fake_png() -> bytes:
    image = Image.new("RGB", (96, 120), (40, 180, 160))
    image.paste((250, 220, 60), (24, 30, 72, 90))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


FAKE_PNG = _fake_png()
"""The picture the fake returns on success (a real 96x120 PNG)."""


@dataclass(frozen=True)
class Answer:
    """One scripted reply: status, headers and JSON body (or raw bytes), after a delay.

    ``hold`` answers wait until ``FakeOpenRouter.release()`` (or the server stops).
    """

    status: int = 200
    body: Any = None
    raw: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    delay_seconds: float = 0.0
    hold: bool = False

    @staticmethod
    def success(image: bytes = FAKE_PNG, content_type: str = "image/png") -> Answer:
        """A completion carrying ``image`` as a base64 data URL."""
        url = f"data:{content_type};base64,{base64.b64encode(image).decode('ascii')}"
        return Answer(
            body=_completion({"images": [{"type": "image_url", "image_url": {"url": url}}]})
        )

    @staticmethod
    def rate_limited(retry_after: str = "1") -> Answer:
        return _error(429, "Rate limit exceeded", headers=(("Retry-After", retry_after),))

    @staticmethod
    def server_error(status: int = 500) -> Answer:
        return _error(status, "Internal Server Error")

    @staticmethod
    def provider_down(retry_after: str | None = None) -> Answer:
        headers = (("Retry-After", retry_after),) if retry_after else ()
        return _error(503, "No available model provider", headers=headers)

    @staticmethod
    def slow(seconds: float, then: Answer | None = None) -> Answer:
        """``then`` (success by default), sent only after ``seconds``."""
        answer = then or Answer.success()
        return Answer(answer.status, answer.body, answer.raw, answer.headers, seconds)

    @staticmethod
    def held(then: Answer | None = None) -> Answer:
        """``then`` (success by default), sent only once the test calls ``release()``."""
        answer = then or Answer.success()
        return Answer(answer.status, answer.body, answer.raw, answer.headers, 0.0, hold=True)

    @staticmethod
    def malformed_json() -> Answer:
        return Answer(raw=b'{"id": "gen-1", "choices": [{"message": ')

    @staticmethod
    def no_image() -> Answer:
        """A 200 whose message has text but no image (as when modalities are ignored)."""
        return Answer(body=_completion({"content": "Here is your picture!"}))

    @staticmethod
    def finish_error() -> Answer:
        return Answer(
            body=_completion(
                {"content": ""},
                finish_reason="error",
                error={"code": 502, "message": "Upstream model error"},
            )
        )

    @staticmethod
    def content_filter() -> Answer:
        return Answer(body=_completion({"content": ""}, finish_reason="content_filter"))

    @staticmethod
    def error_in_body(code: int, message: str = "Provider returned error") -> Answer:
        """A 200 whose body is an error object (the model failed after OpenRouter accepted)."""
        return Answer(body={"error": {"code": code, "message": message}})

    @staticmethod
    def bad_request() -> Answer:
        return _error(400, "Invalid image: could not process the input image")

    @staticmethod
    def unauthorized() -> Answer:
        return _error(401, "No auth credentials found")

    @staticmethod
    def out_of_credits() -> Answer:
        return _error(
            402,
            "Insufficient credits. Add more using https://openrouter.ai/credits",
            metadata={"limit_source": "openrouter_credits"},
        )

    @staticmethod
    def moderated() -> Answer:
        return _error(
            403,
            "Your chosen model requires moderation and your input was flagged",
            metadata={
                "reasons": ["sexual"],
                "flagged_input": "[image]",
                "provider_name": "fake-provider",
                "model_slug": "fake/model",
            },
        )


def _completion(message: dict[str, Any], finish_reason: str = "stop", **extra: Any) -> Any:
    return {
        "id": f"gen-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "fake/model",
        "choices": [
            {
                "index": 0,
                "finish_reason": finish_reason,
                "native_finish_reason": finish_reason.upper(),
                "message": {"role": "assistant", "content": None, **message},
                **extra,
            }
        ],
        "usage": {"prompt_tokens": 1290, "completion_tokens": 1290, "total_tokens": 2580},
    }


def _error(
    status: int,
    message: str,
    *,
    metadata: dict[str, Any] | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Answer:
    error: dict[str, Any] = {"code": status, "message": message}
    if metadata is not None:
        error["metadata"] = metadata
    return Answer(status=status, body={"error": error}, headers=headers)


@dataclass(frozen=True)
class ReceivedRequest:
    """What the fake was sent: path, headers (lower-case names) and the JSON body."""

    path: str
    headers: dict[str, str]
    body: Any
    received_at: float = field(default_factory=time.time)

    @property
    def prompt(self) -> str:
        """The text part of the user message."""
        return str(self._part("text")["text"])

    @property
    def image_url(self) -> str:
        """The ``image_url.url`` part of the user message (a data URL)."""
        return str(self._part("image_url")["image_url"]["url"])

    @property
    def image(self) -> bytes:
        """The bytes of the photo sent as a base64 data URL."""
        header, _, payload = self.image_url.partition(",")
        assert header.startswith("data:"), header
        assert header.endswith(";base64"), header
        return base64.b64decode(payload)

    def _part(self, kind: str) -> dict[str, Any]:
        for part in self.body["messages"][0]["content"]:
            if part.get("type") == kind:
                return dict(part)
        raise AssertionError(f"no {kind} part in the request")


class FakeOpenRouter:
    """The fake server. Thread-safe; usable from sync and async tests alike."""

    def __init__(
        self,
        *,
        default: Answer | None = None,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """``api_key``, when given, is checked like OpenRouter does (401 otherwise)."""
        self.default = default or Answer.success()
        self.api_key = api_key
        self._script: deque[Answer] = deque()
        self._requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._released = threading.Event()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL to use as ``OPENROUTER_URL``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{API_PATH}"

    def start(self) -> FakeOpenRouter:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenRouter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, *answers: Answer) -> None:
        """Answer the next requests with ``answers``, in order (then ``default``)."""
        with self._lock:
            self._script.extend(answers)

    def release(self) -> None:
        """Let every held answer go (and any later one: holds no longer wait)."""
        self._released.set()

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every completion request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[ReceivedRequest]:
        """Block until at least ``count`` requests arrived; AssertionError after ``timeout``."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self._requests) >= count, timeout):
                raise AssertionError(f"the fake got {len(self._requests)} of {count} requests")
            return list(self._requests)

    def _next_answer(self, request: ReceivedRequest) -> Answer:
        with self._arrived:
            self._requests.append(request)
            self._arrived.notify_all()
            return self._script.popleft() if self._script else self.default

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle's algorithm on, the body
            # would wait for the client's delayed ACK (about 40 ms per answer).
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: tests read ``fake.requests`` instead."""

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path != COMPLETIONS_PATH:
                    self._send(_error(404, f"Not found: {self.path}"))
                    return
                if fake.api_key is not None and (
                    self.headers.get("Authorization") != f"Bearer {fake.api_key}"
                ):
                    self._send(Answer.unauthorized())
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._send(_error(400, "Invalid JSON body"))
                    return
                headers = {name.lower(): value for name, value in self.headers.items()}
                answer = fake._next_answer(ReceivedRequest(self.path, headers, body))
                if answer.hold:
                    fake._released.wait()
                if answer.delay_seconds:
                    fake._stopping.wait(answer.delay_seconds)
                self._send(answer)

            def _send(self, answer: Answer) -> None:
                payload = answer.raw if answer.raw is not None else json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status, HTTPStatus(answer.status).phrase)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in answer.headers:
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timed out) first

        return Handler


def running_fake(**options: Any) -> Iterator[FakeOpenRouter]:
    """A started fake for the length of a ``with`` block (or a pytest fixture)."""
    with FakeOpenRouter(**options) as fake:
        yield fake


_ANSWERS = {
    "success": Answer.success,
    "rate-limited": Answer.rate_limited,
    "server-error": Answer.server_error,
    "malformed-json": Answer.malformed_json,
    "no-image": Answer.no_image,
    "out-of-credits": Answer.out_of_credits,
    "unauthorized": Answer.unauthorized,
    "moderated": Answer.moderated,
}


def main() -> None:
    """Serve the fake until interrupted, for running the service locally without a key."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--answer", choices=sorted(_ANSWERS), default="success")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    options = parser.parse_args()
    answer = _ANSWERS[options.answer]()
    if options.delay:
        answer = Answer.slow(options.delay, then=answer)
    with FakeOpenRouter(default=answer, port=options.port) as fake:
        print(f"fake OpenRouter at {fake.url} answering {options.answer}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
