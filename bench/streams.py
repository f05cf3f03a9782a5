"""Live progress: many open event streams on one API process, idle, and the delay from a
job's change to its event.

A fresh database gets ``--streams`` queued anonymous jobs; one ``picpaygo serve`` process
(no job workers) serves one stream per job, each from its own client network (sent in
``X-Forwarded-For`` from a trusted loopback proxy, so the 5-streams-per-caller limit
does not apply). With every stream open and its first event read, the API process's CPU
time and memory are taken over ``--idle`` seconds of quiet (keep-alive comments and the
re-read of each job at each one included). Then each job is changed in turn
(``UPDATE jobs SET status = 'running'`` in its own transaction, ``--gap`` seconds apart)
and the time from the commit to the event's arrival at its stream is recorded; finally
all jobs are marked succeeded and every stream must end. The figures go to
BENCHMARKS.md, between the ``streams`` markers.

Usage (from the repository root, in the project's virtualenv): python bench/streams.py
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx
import psutil
import psycopg
from common import cpu_seconds, machine_line, options, publish

from support.postgres import throwaway_database
from support.server import ServerProcess

SERVER = {"JOB_WORKERS": "0", "LOG_LEVEL": "WARNING", "TRUSTED_PROXIES": "127.0.0.1/32"}


def parse_args() -> argparse.Namespace:
    parser = options(__doc__)
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of quiet measured")
    parser.add_argument("--gap", type=float, default=0.02, help="seconds between changes")
    return parser.parse_args()


def queue_jobs(url: str, count: int) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            """
            INSERT INTO jobs (id, category, status, owner_id, client_network, credit_source,
                              input_image_id, output_image_id, error, attempts, created_at,
                              updated_at, available_at, refunded)
            SELECT gen_random_uuid(), 'portraits', 'queued', NULL, '192.0.2.1', 'free', NULL,
                   NULL, NULL, 0, now(), now(), now() + interval '1 day', false
            FROM generate_series(1, %s)
            RETURNING id
            """,
            (count,),
        ).fetchall()
    return [str(row[0]) for row in rows]


class Streams:
    """One reader task per job's stream; the arrival time of each event, by job."""

    def __init__(self, base_url: str, job_ids: list[str]) -> None:
        limits = httpx.Limits(max_connections=len(job_ids) + 10)
        self.client = httpx.AsyncClient(base_url=base_url, limits=limits, timeout=None)
        self.first = {job_id: asyncio.Event() for job_id in job_ids}
        self.arrived: dict[str, list[tuple[str, float]]] = {job_id: [] for job_id in job_ids}
        self.tasks = [asyncio.create_task(self.read(n, job_id)) for n, job_id in enumerate(job_ids)]

    async def read(self, n: int, job_id: str) -> None:
        forwarded = {"X-Forwarded-For": f"10.{n // 65536}.{n // 256 % 256}.{n % 256}"}
        url = f"/api/generate/{job_id}/events"
        async with self.client.stream("GET", url, headers=forwarded) as response:
            if response.status_code != 200:
                raise RuntimeError(f"stream {n}: {response.status_code}")
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    status = line.split('"status":"', 1)[1].split('"', 1)[0]
                    self.arrived[job_id].append((status, time.monotonic()))
                    self.first[job_id].set()

    async def all_open(self) -> None:
        await asyncio.gather(*(event.wait() for event in self.first.values()))

    async def ended(self) -> None:
        await asyncio.gather(*self.tasks)
        await self.client.aclose()


def api_process(server: ServerProcess) -> psutil.Process:
    """The process that serves requests (the server's child)."""
    (child,) = psutil.Process(server.process.pid).children()
    return child


async def measure(url: str, server: ServerProcess, args: argparse.Namespace) -> dict[str, float]:
    job_ids = queue_jobs(url, args.streams)
    process = api_process(server)
    rss_before = process.memory_info().rss
    opened_at = time.monotonic()
    streams = Streams(server.base_url, job_ids)
    await asyncio.wait_for(streams.all_open(), 120)
    open_seconds = time.monotonic() - opened_at

    await asyncio.sleep(2)  # let the opening settle before the quiet is measured
    cpu_start, idle_start = cpu_seconds(process.pid), time.monotonic()
    await asyncio.sleep(args.idle)
    idle_cpu = cpu_seconds(process.pid) - cpu_start
    idle_seconds = time.monotonic() - idle_start
    rss_open = process.memory_info().rss

    changed_at: dict[str, float] = {}
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for job_id in job_ids:
            await conn.execute(
                "UPDATE jobs SET status = 'running', updated_at = now() WHERE id = %s",
                (job_id,),
            )
            changed_at[job_id] = time.monotonic()
            await asyncio.sleep(args.gap)
        await asyncio.sleep(2)
        await conn.execute("UPDATE jobs SET status = 'succeeded', updated_at = now()")
    await asyncio.wait_for(streams.ended(), 120)

    delays = sorted(
        (at - changed_at[job_id]) * 1000
        for job_id in job_ids
        for status, at in streams.arrived[job_id]
        if status == "running"
    )
    if len(delays) != len(job_ids):
        raise RuntimeError(f"{len(delays)} of {len(job_ids)} changes arrived")
    return {
        "open_s": open_seconds,
        "cpu_share": idle_cpu / idle_seconds,
        "cpu_ms_per_stream_minute": idle_cpu * 1000 * 60 / idle_seconds / args.streams,
        "rss_before_mb": rss_before / 2**20,
        "rss_open_mb": rss_open / 2**20,
        "kb_per_stream": (rss_open - rss_before) / 1024 / args.streams,
        "p50": statistics.median(delays),
        "p99": delays[min(len(delays) - 1, round(len(delays) * 0.99))],
        "max": delays[-1],
        "listen": float(listen_connections(url)),
    }


def listen_connections(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'picpaygo' "
            "AND query LIKE 'LISTEN%%'"
        ).fetchone()
    return int(row[0]) if row else 0


def main() -> int:
    args = parse_args()
    with throwaway_database(admin_url=args.pg) as url:
        server = ServerProcess({**SERVER, "DATABASE_URL": url})
        try:
            server.start()
            server.wait_ready()
            result = asyncio.run(measure(url, server, args))
        finally:
            server.close()
    print(result, flush=True)
    r = result
    lines = [
        f"- Command: `python bench/streams.py --streams {args.streams} --idle {args.idle:g}`",
        f"- {machine_line()}",
        "",
        "| open streams | opened in s | LISTEN connections | idle API CPU (100% = one core) "
        "| CPU ms per stream-minute | RSS before → with streams | per stream "
        "| change → event p50 | p99 | max |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {args.streams} | {r['open_s']:.1f} | {r['listen']:.0f} | {r['cpu_share']:.1%} "
        f"| {r['cpu_ms_per_stream_minute']:.2f} | {r['rss_before_mb']:.0f} → "
        f"{r['rss_open_mb']:.0f} MB | {r['kb_per_stream']:.0f} KB "
        f"| **{r['p50']:.1f} ms** | **{r['p99']:.1f} ms** | {r['max']:.1f} ms |",
    ]
    publish("streams", "\n".join(lines), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
