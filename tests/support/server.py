"""Run the real service (``picpaygo serve``) in a subprocess, for tests over real HTTP.

``running_server(env)`` is the usual entry: it starts the server on a free loopback
port with ``env`` added to a clean copy of the environment, waits until
``GET /api/health`` answers 200, yields the base URL, and stops the server on exit.
``ServerProcess`` is the same thing by hand, for tests that look at the output or the
exit code.

The server's stdout and stderr go to a temporary file (never a pipe, which would
block the server once full). When the server dies early, or the block inside
``running_server`` raises, the output is attached to the exception; tests that fail
while a server runs get it as a report section (see ``tests/integration/conftest.py``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

import httpx

HOST = "127.0.0.1"
# Variables that would switch the service to real infrastructure; never inherited.
SCRUBBED_VARIABLES = (
    "DATABASE_URL",
    "PICPAYGO_DATA_DIR",
    "OPENROUTER_API_KEY",
    "GOOGLE_CLIENT_ID",
    "PICTURE_STORE",
    "S3_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)
STARTUP_DEADLINE_SECONDS = 20.0
POLL_INTERVAL_SECONDS = 0.05
STOP_GRACE_SECONDS = 10.0
OUTPUT_TAIL_CHARS = 20_000

# Servers started and not yet stopped, so a failing test can show what they said.
LIVE_SERVERS: set[ServerProcess] = set()


# The access line of a request answered 500: "picpaygo.access: GET /api/credits 500 1.2ms".
_ACCESS_500 = re.compile(r"picpaygo\.access: [A-Z]+ \S+ 500 |\"status\": 500\b")


def answered_500(log: str) -> bool:
    """True when the server log has the access line of a request answered with 500."""
    return _ACCESS_500.search(log) is not None


class ServerError(RuntimeError):
    """The server did not start, or died while a test used it."""


def picpaygo_command() -> list[str]:
    """How to run the ``picpaygo`` console script of the running interpreter's env."""
    beside_python = Path(sys.executable).parent / "picpaygo"
    if beside_python.exists():
        return [str(beside_python)]
    on_path = shutil.which("picpaygo")
    if on_path:
        return [on_path]
    return [sys.executable, "-c", "from entrypoints.cli import main; main()"]


def clean_environment(env: Mapping[str, str]) -> dict[str, str]:
    """``os.environ`` without the infrastructure variables, plus ``env``.

    Storage is in memory unless ``env`` sets ``DATABASE_URL`` (blank: the embedded server);
    so is mail, unless it sets ``MAIL_URL``.
    """
    environ = {k: v for k, v in os.environ.items() if k not in SCRUBBED_VARIABLES}
    environ["PYTHONUNBUFFERED"] = "1"
    environ["DATABASE_URL"] = "memory://"
    # Mail stays in the process (no .eml files in the working directory) unless asked.
    environ["MAIL_URL"] = "memory://"
    environ.update(env)
    return environ


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """One ``picpaygo serve`` subprocess on a free loopback port.

    ``command`` runs another server instead (one taking ``--host`` and ``--port`` and
    answering ``GET /api/health``, as the benchmark's reference stack does), in ``cwd``.
    """

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        command: Sequence[str] | None = None,
        cwd: str | None = None,
    ) -> None:
        self.env = dict(env or {})
        self.command = list(command or [*picpaygo_command(), "serve"])
        self.cwd = cwd
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self._log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self._process: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None

    @property
    def process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise ServerError("the server was not started")
        return self._process

    def start(self) -> None:
        """Launch the server (does not wait for it to be ready)."""
        command = [*self.command, "--host", HOST, "--port", str(self.port)]
        self._process = subprocess.Popen(  # noqa: S603 - our own console script
            command,
            cwd=self.cwd,
            env=clean_environment(self.env),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        LIVE_SERVERS.add(self)

    def wait_ready(self, deadline_seconds: float = STARTUP_DEADLINE_SECONDS) -> None:
        """Poll ``GET /api/health`` until it answers 200; ``ServerError`` if it never does."""
        deadline = time.monotonic() + deadline_seconds
        last_problem = "no answer yet"
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise ServerError(
                        f"picpaygo serve exited with code {self.process.returncode} "
                        f"before it was ready\n{self.output()}"
                    )
                try:
                    response = client.get("/api/health")
                except httpx.TransportError as exc:
                    last_problem = repr(exc)
                else:
                    if response.status_code == 200:
                        return
                    last_problem = f"health answered {response.status_code}: {response.text}"
                time.sleep(POLL_INTERVAL_SECONDS)
        raise ServerError(
            f"picpaygo serve was not ready within {deadline_seconds:g} s "
            f"({last_problem})\n{self.output()}"
        )

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, grace_seconds: float = STOP_GRACE_SECONDS) -> int:
        """SIGTERM, wait up to ``grace_seconds``, then kill; returns the exit code."""
        process = self.process
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=grace_seconds)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.returncode = process.returncode
        LIVE_SERVERS.discard(self)
        return process.returncode

    def output(self, tail: int | None = OUTPUT_TAIL_CHARS) -> str:
        """What the server printed so far (stdout and stderr interleaved)."""
        self._log.flush()
        position = self._log.tell()
        try:
            self._log.seek(0)
            text = self._log.read().decode("utf-8", errors="replace")
        finally:
            self._log.seek(position)
        if tail is not None and len(text) > tail:
            return "[...]\n" + text[-tail:]
        return text

    def close(self) -> None:
        """Stop the server if it still runs, and drop the output file."""
        if self._process is not None and self.returncode is None:
            self.stop()
        LIVE_SERVERS.discard(self)
        self._log.close()


@contextlib.contextmanager
def serving(
    env: Mapping[str, str] | None = None,
    *,
    command: Sequence[str] | None = None,
    cwd: str | None = None,
) -> Iterator[ServerProcess]:
    """A started and ready ``ServerProcess`` (``command`` and ``cwd`` as there); stopped
    (and its output dropped) on exit.

    An exception from the block gets the server's output attached as a note; a server
    that died during the block raises ``ServerError`` with its output.
    """
    server = ServerProcess(env, command=command, cwd=cwd)
    try:
        server.start()
        server.wait_ready()
        try:
            yield server
        except BaseException as exc:
            exc.add_note(f"--- picpaygo serve output ---\n{server.output()}")
            raise
        if server.returncode is None and not server.alive():
            raise ServerError(
                f"picpaygo serve died during the test (exit code {server.process.returncode})"
                f"\n{server.output()}"
            )
    finally:
        server.close()


@contextlib.contextmanager
def running_server(env: Mapping[str, str] | None = None) -> Iterator[str]:
    """The base URL of a ready ``picpaygo serve`` run with ``env``; stopped on exit."""
    with serving(env) as server:
        yield server.base_url
