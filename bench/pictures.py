"""Picture downloads and database size: pictures in the database against pictures in an
S3-compatible store.

Downloads: one ``picpaygo serve`` process tree (Granian's main process and its API
process) on a fresh PostgreSQL database holds one finished job whose picture is
``--picture-mb`` MB of incompressible bytes, kept either in the database (``PICTURE_STORE``
unset) or in moto's S3 API on 127.0.0.1 (in this process, behind the tests' presigned-URL
gate). ``--downloads`` clients then fetch it at once with httpx: from the API itself
(200 with the bytes), or through the store (307 from the API, then GET of the presigned
URL from the store). The figures that matter are the API's: CPU time (user + system,
summed over its processes, over the downloads) and peak RSS (VmHWM, summed); the wall
time is the client's, from the first request to the last byte.

Database size: a fresh database gets ``--pictures`` pictures of ``--picture-kb`` KB, each
written the way the service writes an upload (the bytes through the picture store, the
record in ``images``), then ``VACUUM``; the figure is ``pg_database_size`` less that of
the empty database. The figures go to BENCHMARKS.md, between the ``pictures`` markers.

Usage (from the repository root, in the project's virtualenv): python bench/pictures.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
from common import machine_line, options, publish

from adapters.postgres import PostgresDatabase
from adapters.postgres.pictures import PostgresPictureStore
from adapters.s3 import S3Location, S3PictureStore
from picpaygo_core.ports import PictureStore
from support.postgres import opened, throwaway_database
from support.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Server, store_env
from support.server import serving

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def parse_args() -> argparse.Namespace:
    parser = options(__doc__)
    parser.add_argument("--downloads", type=int, default=200)
    parser.add_argument("--picture-mb", type=float, default=2.0)
    parser.add_argument("--pictures", type=int, default=1000)
    parser.add_argument("--picture-kb", type=int, default=256)
    return parser.parse_args()


def a_picture(size: int) -> bytes:
    return PNG_SIGNATURE + os.urandom(size - len(PNG_SIGNATURE))


def s3_store(server: S3Server, bucket: str) -> S3PictureStore:
    location = S3Location(
        bucket=bucket,
        endpoint_url=server.url,
        region=REGION,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
    )
    return S3PictureStore(location, url_ttl_seconds=300)


async def store_picture(url: str, store: PictureStore | None, key: str, data: bytes) -> None:
    """Write ``data`` as the service does (through ``store``, the database's own when
    None) and its record in ``images``."""
    async with opened(PostgresDatabase(url, pool_size=2)) as database:
        await (store or PostgresPictureStore(database)).put(key, data, "image/png")
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO images (id, key, size, content_type, created_at) "
            "VALUES (%s, %s, %s, 'image/png', now())",
            (uuid.uuid4(), key, len(data)),
        )


def finished_job(url: str, key: str) -> str:
    """An anonymous succeeded job whose output is the image record of ``key``."""
    job_id = key.removeprefix("outputs/").removesuffix(".png")
    with psycopg.connect(url) as conn:
        conn.execute(
            """
            INSERT INTO jobs (id, category, status, owner_id, client_network, credit_source,
                              input_image_id, output_image_id, error, attempts, created_at,
                              updated_at, available_at, refunded)
            SELECT %s, 'portraits', 'succeeded', NULL, '192.0.2.1', 'free', NULL, id, NULL,
                   1, now(), now(), now(), false
            FROM images WHERE key = %s
            """,
            (job_id, key),
        )
    return job_id


def process_tree(pid: int) -> list[psutil.Process]:
    parent = psutil.Process(pid)
    return [parent, *parent.children(recursive=True)]


def tree_cpu(pid: int) -> float:
    return sum(sum(p.cpu_times()[:2]) for p in process_tree(pid))


def tree_memory_mb(pid: int, field: str) -> float:
    """``field`` of /proc/<pid>/status (``VmRSS``: resident now, ``VmHWM``: its peak) of
    every process of the tree, summed, in MB."""
    total = 0
    for process in process_tree(pid):
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                total += int(line.split()[1])
    return total / 1024


async def download_all(base_url: str, path: str, count: int, size: int) -> tuple[float, int, int]:
    """``count`` concurrent downloads following redirects; (wall seconds, redirects seen,
    downloads that failed: any answer but 200 with the whole picture)."""
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120) as client:

        async def one() -> tuple[int, bool]:
            response = await client.get(path, follow_redirects=True)
            whole = response.status_code == 200 and len(response.content) == size
            return len(response.history), whole

        started = time.monotonic()
        answers = await asyncio.gather(*(one() for _ in range(count)))
        seconds = time.monotonic() - started
        return seconds, sum(r for r, _ in answers), sum(not whole for _, whole in answers)


def downloads(args: argparse.Namespace, s3: S3Server, mode: str) -> dict[str, Any]:
    size = int(args.picture_mb * 1024 * 1024)
    with throwaway_database(admin_url=args.pg) as url:
        env = {"DATABASE_URL": url, "JOB_WORKERS": "0", "LOG_LEVEL": "WARNING"}
        store = None
        if mode == "store":
            bucket = s3.new_bucket()
            env.update(store_env(s3.url, bucket))
            store = s3_store(s3, bucket)
        key = f"outputs/{uuid.uuid4()}.png"
        asyncio.run(store_picture(url, store, key, a_picture(size)))
        job_id = finished_job(url, key)
        with serving(env) as server:
            path = f"/api/generate/{job_id}/image"
            asyncio.run(download_all(server.base_url, path, 5, size))  # warm up
            rss_before = tree_memory_mb(server.process.pid, "VmRSS")
            cpu_before = tree_cpu(server.process.pid)
            seconds, redirects, failed = asyncio.run(
                download_all(server.base_url, path, args.downloads, size)
            )
            cpu = tree_cpu(server.process.pid) - cpu_before
            peak = tree_memory_mb(server.process.pid, "VmHWM")
    return {
        "mode": mode,
        "seconds": seconds,
        "cpu": cpu,
        "before": rss_before,
        "peak": peak,
        "redirects": redirects,
        "failed": failed,
    }


def database_size(args: argparse.Namespace, s3: S3Server, mode: str) -> dict[str, Any]:
    size = args.picture_kb * 1024
    with throwaway_database(admin_url=args.pg) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM")
            empty = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
        store = s3_store(s3, s3.new_bucket()) if mode == "store" else None

        async def fill() -> None:
            async with opened(PostgresDatabase(url, pool_size=4)) as database:
                target = store or PostgresPictureStore(database)
                for _ in range(args.pictures):
                    key = f"outputs/{uuid.uuid4()}.png"
                    data = a_picture(size)
                    await target.put(key, data, "image/png")
                    async with database.connection() as conn:
                        await conn.fetch_all(
                            b"INSERT INTO images (id, key, size, content_type, created_at) "
                            b"VALUES (%s, %s, %s, 'image/png', %s)",
                            (uuid.uuid4(), key, len(data), datetime.now(UTC)),
                        )

        asyncio.run(fill())
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM")
            full = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
    return {"mode": mode, "grown_mb": (full - empty) / (1024 * 1024)}


def main() -> int:
    args = parse_args()
    s3 = S3Server()
    try:
        fetched = [downloads(args, s3, mode) for mode in ("database", "store")]
        for result in fetched:
            print(result, flush=True)
        sizes = [database_size(args, s3, mode) for mode in ("database", "store")]
        for result in sizes:
            print(result, flush=True)
    finally:
        s3.close()
    names = {
        "database": "in the database (`PICTURE_STORE` unset): the API sends the bytes",
        "store": "in the store: the API answers 307, the client fetches the presigned URL",
    }
    lines = [
        f"- Command: `python bench/pictures.py --downloads {args.downloads} "
        f"--picture-mb {args.picture_mb:g} --pictures {args.pictures} "
        f"--picture-kb {args.picture_kb}` (the store is moto's S3 API on 127.0.0.1, in the "
        "benchmark's process: its CPU is not the API's)",
        f"- {machine_line()}",
        "",
        f"{args.downloads} concurrent downloads of one {args.picture_mb:g} MB picture "
        "(one `picpaygo serve` process tree, `JOB_WORKERS=0`):",
        "",
        "| picture | **API CPU s** | API CPU ms per download | API RSS MB before "
        "| **API peak RSS MB** | wall s (client) | redirects | failed (503) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {names[r['mode']]} | **{r['cpu']:.2f}** | {r['cpu'] * 1000 / args.downloads:.1f} "
        f"| {r['before']:.0f} | **{r['peak']:.0f}** | {r['seconds']:.2f} | {r['redirects']} "
        f"| {r['failed']} |"
        for r in fetched
    ]
    lines += [
        "",
        f"Database growth after {args.pictures:,} pictures of {args.picture_kb} KB "
        "(bytes through the picture store, records in `images`; after `VACUUM`):",
        "",
        "| pictures | **database grew by MB** | per picture KB |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {'in the database' if r['mode'] == 'database' else 'in the store'} "
        f"| **{r['grown_mb']:.1f}** | {r['grown_mb'] * 1024 / args.pictures:.2f} |"
        for r in sizes
    ]
    publish("pictures", "\n".join(lines), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
