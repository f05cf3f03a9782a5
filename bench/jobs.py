"""Worker CPU time per job through one ``picpaygo worker`` process, against a model
that takes a second.

A fresh database gets ``--jobs`` queued jobs (anonymous, each with its own photo row),
then one worker with ``JOB_WORKERS`` and ``GENERATOR_MAX_CONCURRENCY`` set to each
``--concurrency`` drains them against the fake OpenRouter of the tests
(``tests/support/fake_openrouter.py``, in this process), which answers every request with
a small PNG after ``--delay`` seconds, as a real model would after several. The figure
that matters is the worker's CPU time (user + system, over the drain) per job: what one
job costs the machine while the model works. The drain is timed from the first job
claimed to the last one succeeded (polled every 50 ms); its rate is bounded by
concurrency ÷ delay. The figures go to BENCHMARKS.md, between the ``jobs`` markers.

Usage (from the repository root, in the project's virtualenv): python bench/jobs.py
"""

from __future__ import annotations

import argparse
import time

import psycopg
from common import cpu_seconds, machine_line, options, publish

from support.fake_openrouter import Answer, FakeOpenRouter
from support.images import jpeg_bytes
from support.postgres import throwaway_database
from support.worker import running_worker

POLL_SECONDS = 0.05
WORKER = {"OPENROUTER_API_KEY": "bench", "LOG_LEVEL": "WARNING"}


def parse_args() -> argparse.Namespace:
    parser = options(__doc__)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--delay", type=float, default=1.0, help="the fake model's seconds")
    return parser.parse_args()


def queue_jobs(url: str, count: int) -> None:
    """``count`` queued anonymous jobs, created a millisecond apart, each with a photo."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE jobs, images, picture_objects")
        conn.execute(
            """
            WITH ids AS (
                SELECT gen_random_uuid() AS job_id, gen_random_uuid() AS image_id, n
                FROM generate_series(1, %(n)s) AS n
            ), objects AS (
                INSERT INTO picture_objects (key, data, content_type, size, created_at)
                SELECT 'inputs/' || job_id, %(photo)s, 'image/jpeg', octet_length(%(photo)s),
                       now()
                FROM ids
            ), photos AS (
                INSERT INTO images (id, key, size, content_type, created_at)
                SELECT image_id, 'inputs/' || job_id, octet_length(%(photo)s), 'image/jpeg', now()
                FROM ids
            )
            INSERT INTO jobs (id, category, status, owner_id, client_network, credit_source,
                              input_image_id, output_image_id, error, attempts, created_at,
                              updated_at, available_at, refunded)
            SELECT job_id, 'portraits', 'queued', NULL, '192.0.2.1', 'free', image_id,
                   NULL, NULL, 0, now() + n * interval '1 ms', now(), now(), false
            FROM ids
            """,
            {"photo": jpeg_bytes(), "n": count},
        )
        conn.execute("VACUUM ANALYZE jobs")


def drain(
    url: str, fake: FakeOpenRouter, concurrency: int, count: int, delay: float
) -> dict[str, float]:
    """Start a worker, wait until every job succeeded, stop it; the drain's figures."""
    env = {**WORKER, "DATABASE_URL": url, "OPENROUTER_URL": fake.url}
    env["JOB_WORKERS"] = env["GENERATOR_MAX_CONCURRENCY"] = str(concurrency)
    with running_worker(env) as worker, psycopg.connect(url, autocommit=True) as conn:

        def counted(status: str) -> int:
            row = conn.execute("SELECT count(*) FROM jobs WHERE status = %s", (status,))
            return int(row.fetchone()[0])  # type: ignore[index]

        deadline = time.monotonic() + 120 + count * delay / concurrency
        while counted("queued") == count and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        cpu_start, started = cpu_seconds(worker.process.pid), time.monotonic()
        while counted("succeeded") < count:
            if not worker.alive():
                raise RuntimeError("the worker died")  # its output is attached
            if time.monotonic() > deadline:
                raise RuntimeError(f"{counted('succeeded')} of {count} jobs done in time")
            time.sleep(POLL_SECONDS)
        cpu_used = cpu_seconds(worker.process.pid) - cpu_start
        seconds = time.monotonic() - started
        attempts = conn.execute("SELECT sum(attempts) FROM jobs").fetchone()[0]  # type: ignore[index]
    return {
        "concurrency": concurrency,
        "rate": count / seconds,
        "seconds": seconds,
        "cpu_ms": cpu_used * 1000 / count,
        "cpu_share": cpu_used / seconds,
        "claims": float(attempts) / count,
    }


def bound(concurrency: float, delay: float) -> str:
    """The most jobs per second ``concurrency`` calls of ``delay`` seconds allow."""
    return f"{concurrency / delay:g}" if delay else "∞"


def main() -> int:
    args = parse_args()
    results = []
    slow = Answer.slow(args.delay)
    with FakeOpenRouter(default=slow) as fake, throwaway_database(admin_url=args.pg) as url:
        for concurrency in args.concurrency:
            queue_jobs(url, args.jobs)
            results.append(drain(url, fake, concurrency, args.jobs, args.delay))
            print(results[-1], flush=True)
    lines = [
        f"- Command: `python bench/jobs.py --jobs {args.jobs} --delay {args.delay:g}` "
        f"(the fake model answers each call after {args.delay:g} s)",
        f"- {machine_line()}",
        "",
        "| `JOB_WORKERS` = `GENERATOR_MAX_CONCURRENCY` | jobs | drain s | jobs/s "
        "(at most concurrency ÷ delay) | **worker CPU ms per job** "
        "| worker CPU (100% = one core) | claims per job |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['concurrency']:.0f} | {args.jobs:,} | {r['seconds']:.1f} "
        f"| {r['rate']:.2f} (≤ {bound(r['concurrency'], args.delay)}) | **{r['cpu_ms']:.2f}** "
        f"| {r['cpu_share']:.1%} | {r['claims']:.2f} |"
        for r in results
    ]
    publish("jobs", "\n".join(lines), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
