"""Run the standalone job worker (``picpaygo worker``) in a subprocess, for tests.

``running_worker(env)`` starts a worker with ``env`` added to a clean copy of the
environment (see ``support/server.py``), and stops it on exit; a failure inside the
block gets the worker's output attached. The output goes to a temporary file, never a
pipe. ``listening(url)`` tells whether a PicPayGo process waits for new jobs (LISTEN)
on the database of ``url``.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from typing import IO

import psycopg

from support.server import clean_environment, picpaygo_command

# The channel on which new jobs are announced (NOTIFY) to the workers.
JOBS_CHANNEL = "picpaygo_jobs"


class WorkerProcess:
    """One ``picpaygo worker`` subprocess, its output in a temporary file."""

    def __init__(self, env: dict[str, str]) -> None:
        self._log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(  # noqa: S603 - our own console script
            [*picpaygo_command(), "worker"],
            env=clean_environment(env),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        self._log.flush()
        position = self._log.tell()
        try:
            self._log.seek(0)
            return self._log.read().decode("utf-8", errors="replace")
        finally:
            self._log.seek(position)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int:
        """SIGTERM and wait for the exit code (killed after 10 s)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def close(self) -> None:
        self.stop()
        self._log.close()


@contextlib.contextmanager
def running_worker(env: dict[str, str]) -> Iterator[WorkerProcess]:
    """A started ``picpaygo worker``; a failure in the block gets its output attached."""
    worker = WorkerProcess(env)
    try:
        yield worker
    except BaseException as exc:
        exc.add_note(f"--- picpaygo worker output ---\n{worker.output()}")
        raise
    finally:
        worker.close()


def listening(url: str) -> bool:
    """Some PicPayGo process LISTENs for new jobs on the database of ``url``."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'picpaygo' AND query = %s",
            (f"LISTEN {JOBS_CHANNEL}",),
        ).fetchone()
    return bool(row and row[0])
