"""Jobs per second through one ``picpaygo worker`` process, and its CPU time per job.

A fresh database gets ``--jobs`` queued jobs (anonymous, each with its own photo row),
then one worker with ``JOB_WORKERS=<concurrency>`` drains them against the fake
OpenRouter of the tests (``tests/support/fake_openrouter.py``, in this process, answering
every request at once with a small PNG): the figures are the queue's and the worker's own
costs, with no model time. The rate is measured from the database's own timestamps: the
jobs finished between the first and the last success, divided by that time. CPU is the
worker process's user + system time over the drain. The figures go to BENCHMARKS.md,
between the ``jobs`` markers.

Usage (from the repository root, in the project's virtualenv): python bench/jobs.py
"""

from __future__ import annotations

import argparse
import time

import psycopg
from common import cpu_seconds, machine_line, options, publish

from support.fake_openrouter import FakeOpenRouter
from support.images import jpeg_bytes
from support.postgres import throwaway_database
from support.worker import running_worker

POLL_SECONDS = 0.05
WORKER = {"OPENROUTER_API_KEY": "bench", "LOG_LEVEL": "WARNING"}


def parse_args() -> argparse.Namespace:
    parser = options(__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4, 1, 8])
    return parser.parse_args()


def queue_jobs(url: str, count: int) -> None:
    """``count`` queued anonymous jobs, created a millisecond apart, each with a photo."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE jobs, images")
        conn.execute(
            """
            WITH photos AS (
                INSERT INTO images (id, data, content_type, created_at)
                SELECT gen_random_uuid(), %(photo)s, 'image/jpeg', now()
                FROM generate_series(1, %(n)s)
                RETURNING id
            )
            INSERT INTO jobs (id, category, status, owner_id, client_network, credit_source,
                              input_image_id, output_image_id, error, attempts, created_at,
                              updated_at, available_at, refunded)
            SELECT gen_random_uuid(), 'portraits', 'queued', NULL, '192.0.2.1', 'free', id,
                   NULL, NULL, 0, now() + row_number() OVER () * interval '1 ms', now(),
                   now(), false
            FROM photos
            """,
            {"photo": jpeg_bytes(), "n": count},
        )
        conn.execute("VACUUM ANALYZE jobs")


def drain(url: str, fake: FakeOpenRouter, concurrency: int, count: int) -> dict[str, float]:
    """Start a worker, wait until every job succeeded, stop it; the drain's figures."""
    env = {**WORKER, "DATABASE_URL": url, "OPENROUTER_URL": fake.url}
    env["JOB_WORKERS"] = str(concurrency)
    with running_worker(env) as worker, psycopg.connect(url, autocommit=True) as conn:

        def counted(status: str) -> int:
            row = conn.execute("SELECT count(*) FROM jobs WHERE status = %s", (status,))
            return int(row.fetchone()[0])  # type: ignore[index]

        deadline = time.monotonic() + 120
        while counted("queued") == count and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        cpu_start = cpu_seconds(worker.process.pid)
        while counted("succeeded") < count and time.monotonic() < deadline:
            if not worker.alive():
                raise RuntimeError("the worker died")  # its output is attached
            time.sleep(POLL_SECONDS)
        cpu_used = cpu_seconds(worker.process.pid) - cpu_start
        first, last, attempts = conn.execute(
            "SELECT extract(epoch FROM min(updated_at)), extract(epoch FROM max(updated_at)),"
            " sum(attempts) FROM jobs WHERE status = 'succeeded'"
        ).fetchone()  # type: ignore[misc]
    seconds = float(last - first)
    return {
        "concurrency": concurrency,
        "rate": (count - 1) / seconds,
        "seconds": seconds,
        "cpu_ms": cpu_used * 1000 / count,
        "cpu_share": cpu_used / seconds,
        "claims": float(attempts) / count,
    }


def main() -> int:
    args = parse_args()
    results = []
    with FakeOpenRouter() as fake, throwaway_database(admin_url=args.pg) as url:
        for concurrency in args.concurrency:
            queue_jobs(url, args.jobs)
            results.append(drain(url, fake, concurrency, args.jobs))
            print(results[-1], flush=True)
    lines = [
        f"- Command: `python bench/jobs.py` ({args.jobs:,} jobs per drain)",
        f"- {machine_line()}",
        "",
        "| `JOB_WORKERS` (concurrency) | jobs | drain s | **jobs/s** | worker CPU ms per job "
        "| worker CPU (100% = one core) | claims per job |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['concurrency']:.0f} | {args.jobs:,} | {r['seconds']:.2f} | **{r['rate']:,.0f}** "
        f"| {r['cpu_ms']:.2f} | {r['cpu_share']:.0%} | {r['claims']:.2f} |"
        for r in results
    ]
    publish("jobs", "\n".join(lines), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
