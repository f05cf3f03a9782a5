"""One-shot benchmark of the job queue on PostgreSQL; writes its section of BENCHMARKS.md.

Run from the repository root, with the project's virtualenv (it needs httpx, Pillow and
psycopg, which the project depends on, and the fake OpenRouter of ``tests/support``)::

    .venv/bin/python bench/jobs.py

The image model is the fake OpenRouter server of the tests, running in this process on
loopback and answering every request at once with a small PNG, so what is measured is
the queue and the worker, not a model. In one run it:

1. creates a fresh database, runs ``picpaygo db migrate``, starts ``picpaygo serve``
   (one uvicorn process, JOB_WORKERS=0, so no worker inside the API) pointed at the
   fake, registers a user and grants it credits with ``picpaygo credits grant``;
2. for each worker concurrency asked for (4, 1 and 8 by default), with no worker
   running, queues K jobs through ``POST /api/generate`` from several concurrent
   clients (the API's job-creation rate), then starts one ``picpaygo worker
   --concurrency N`` and times the drain: from the first request the fake receives to
   the last job marked succeeded (the driver counts jobs by status every 50 ms); the
   CPU time of the worker, of PostgreSQL and of this process over the drain comes from
   /proc; the worker is stopped after each drain;
3. starts one worker, lets it go idle, then submits jobs at a fixed rate (open loop)
   and measures, per job, the delay from the job's ``created_at`` to the moment the
   fake received its photo (every photo is a unique JPEG, so a request is matched to
   its job by the photo's bytes);
4. replaces the block between ``<!-- jobs:begin -->`` and ``<!-- jobs:end -->`` in
   BENCHMARKS.md (appends it if absent) and leaves the rest of the file alone; the
   server and worker logs go to bench/last-run/jobs/;
5. stops the worker, the server and the fake and drops the database, also when
   something fails or on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import io
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import httpx
import psycopg
from PIL import Image

from adapters.postgres.repositories import CLAIM_NEXT_SQL

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path[:0] = [str(BENCH_DIR), str(REPO_ROOT / "tests")]

from run import (  # noqa: E402 - bench/ is put on sys.path just above
    COOKIE_NAME,
    PASSED_ENV,
    BenchError,
    ChildProcess,
    Database,
    Server,
    code_version,
    cpu_model,
    cpu_seconds,
    empty_log_dir,
    expect,
    fmt,
    free_port,
    jobs_block,
    load_average,
    log,
    percentile,
    run_as_script,
    with_jobs_block,
)

from entrypoints.settings import Settings, load_settings  # noqa: E402
from support.fake_openrouter import FakeOpenRouter  # noqa: E402 - tests/ on sys.path
from support.server import picpaygo_command  # noqa: E402

EMAIL = "jobs-bench@example.com"
PASSWORD = "bench-password-123"
GRANT = 1_000_000
FREE_CREDITS = 3
JOBS_CHANNEL = "picpaygo_jobs"
POLL_INTERVAL = 0.05  # seconds between two counts of the jobs by status
CATEGORY = "portraits"
# The worker's claim, as PostgresJobRepository.claim_next runs it; EXPLAIN ANALYZE runs
# it once, rolled back.
CLAIM_SQL = CLAIM_NEXT_SQL.format(columns="id")


# --------------------------------------------------------------------------- options


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--pg-host", default=os.environ.get("PGHOST", "127.0.0.1"))
    add("--pg-port", type=int, default=int(os.environ.get("PGPORT", "5432")))
    add("--pg-user", default=os.environ.get("PGUSER", "postgres"))
    add("--database", default="picpaygo_bench_jobs", help="dropped and re-created [%(default)s]")
    add("--jobs", type=int, default=2000, help="K, jobs queued for each drain [%(default)s]")
    add(
        "--concurrency",
        type=int,
        nargs="+",
        default=[4, 1, 8],
        help="picpaygo worker --concurrency, one drain each [%(default)s]",
    )
    add("--clients", type=int, default=8, help="concurrent clients queueing jobs [%(default)s]")
    add("--rate", type=float, default=20.0, help="jobs per second in the delay test [%(default)s]")
    add("--duration", type=float, default=20.0, help="seconds of the delay test [%(default)s]")
    add(
        "--delay-concurrency",
        type=int,
        default=4,
        help="worker concurrency in the delay test [%(default)s]",
    )
    add("--output", type=Path, default=REPO_ROOT / "BENCHMARKS.md")
    add("--log-dir", type=Path, default=BENCH_DIR / "last-run" / "jobs")
    return parser.parse_args()


# --------------------------------------------------------------------------- photos


def unique_jpeg(index: int) -> bytes:
    """A 64x64 JPEG whose 8x8 blocks spell ``index`` in black and white (one bit each).

    Whole 8x8 blocks of pure black or white survive JPEG compression, so two indexes
    never give the same bytes; the fake matches a request to its job by these bytes.
    """
    image = Image.new("RGB", (64, 64), (128, 128, 128))
    for bit in range(48):  # 48 bits; the last two rows of blocks stay grey
        x, y = bit % 8 * 8, bit // 8 * 8
        colour = (255, 255, 255) if index >> bit & 1 else (0, 0, 0)
        image.paste(colour, (x, y, x + 8, y + 8))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


class Photos:
    """Hands out unique photos, never the same one twice in a run."""

    def __init__(self) -> None:
        self._next = 0

    def take(self, count: int) -> list[bytes]:
        photos = [unique_jpeg(self._next + i) for i in range(count)]
        self._next += count
        if len({digest(p) for p in photos}) != count:
            raise BenchError("two generated photos came out identical")
        return photos


def digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# --------------------------------------------------------------------------- CPU


def machine_jiffies() -> tuple[int, int, int]:
    """(busy, steal, total) CPU ticks of the whole machine so far, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    busy = user + nice + system + irq + softirq
    return busy, steal, busy + idle + iowait + steal


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds used so far by the processes we care about."""

    at: float
    worker: float
    postgres: dict[int, float]  # by process id
    driver: float
    machine: tuple[int, int, int]

    @classmethod
    def take(cls, worker_pid: int, jobs: Jobs) -> CpuSnapshot:
        return cls(
            at=time.monotonic(),
            worker=cpu_seconds(worker_pid),
            postgres={pid: cpu_seconds(pid) for pid in jobs.postgres_pids()},
            driver=time.process_time(),
            machine=machine_jiffies(),
        )


@dataclass(frozen=True)
class CpuUse:
    """Shares of one core (1.0 = one core busy) over a window."""

    seconds: float
    worker: float
    postgres: float
    driver: float
    machine: float  # every process on the machine
    steal: float
    worker_s: float
    postgres_s: float

    @classmethod
    def between(cls, start: CpuSnapshot, end: CpuSnapshot) -> CpuUse:
        wall = end.at - start.at
        cores = os.cpu_count() or 1
        busy, steal, total = (e - s for e, s in zip(end.machine, start.machine, strict=True))
        # A backend that started during the window counts whole; one that ended is lost.
        postgres = sum(cpu - start.postgres.get(pid, 0.0) for pid, cpu in end.postgres.items())
        return cls(
            seconds=wall,
            worker=(end.worker - start.worker) / wall,
            postgres=postgres / wall,
            driver=(end.driver - start.driver) / wall,
            machine=cores * busy / total if total else 0.0,
            steal=cores * steal / total if total else 0.0,
            worker_s=end.worker - start.worker,
            postgres_s=postgres,
        )


# --------------------------------------------------------------------------- processes


class Worker(ChildProcess):
    """``picpaygo worker --concurrency N`` in a child process."""

    def __init__(self, env: dict[str, str], concurrency: int, log_path: Path) -> None:
        command = [*picpaygo_command(), "worker", "--concurrency", str(concurrency)]
        super().__init__(command, env, log_path)
        self.concurrency = concurrency

    @property
    def pid(self) -> int:
        if self.process is None:
            raise BenchError("the worker was not started")
        return self.process.pid

    def check_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            raise BenchError(f"the worker exited:\n{self.log_tail()}")


@dataclass(frozen=True)
class ClaimPlan:
    ms: float  # execution time reported by EXPLAIN ANALYZE
    rows_read: int  # the most rows a scan of jobs returned
    sorted: bool


class Jobs:
    """The driver's own connection to the benchmark database, to watch the jobs table."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)

    def close(self) -> None:
        self.conn.close()

    def by_status(self, ids: list[str]) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT status, count(*) FROM jobs WHERE id = ANY(%s::uuid[]) GROUP BY status",
            (ids,),
        ).fetchall()
        return {str(status): int(count) for status, count in rows}

    def unfinished(self) -> int:
        row = self.conn.execute("SELECT count(*) FROM jobs WHERE status <> 'succeeded'").fetchone()
        return int(row[0]) if row else 0

    def finished(self, ids: list[str]) -> tuple[float, int]:
        """The last ``updated_at`` (epoch seconds) of these jobs, and their claims in all."""
        row = self.conn.execute(
            "SELECT extract(epoch FROM max(updated_at))::float8, sum(attempts)::int "
            "FROM jobs WHERE id = ANY(%s::uuid[])",
            (ids,),
        ).fetchone()
        if row is None or row[0] is None:
            raise BenchError("the drained jobs are not in the database")
        return float(row[0]), int(row[1])

    def created_at(self, ids: list[str]) -> dict[str, float]:
        rows = self.conn.execute(
            "SELECT id::text, extract(epoch FROM created_at)::float8 FROM jobs "
            "WHERE id = ANY(%s::uuid[])",
            (ids,),
        ).fetchall()
        return {str(job_id): float(at) for job_id, at in rows}

    def postgres_pids(self) -> list[int]:
        """The server processes working for this database: its backends (not this
        connection's) and the shared background processes (WAL writer, checkpointer…)."""
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE (datname = current_database() OR datname IS NULL) "
            "AND pid <> pg_backend_pid()"
        ).fetchall()
        return [int(pid) for (pid,) in rows]

    def claim_plan(self) -> ClaimPlan:
        """EXPLAIN ANALYZE of one claim on the current queue, rolled back."""
        now = dt.datetime.now(dt.UTC)
        params = {"worker": "bench", "now": now, "lease_until": now + dt.timedelta(seconds=60)}
        with self.conn.transaction(force_rollback=True):
            row = self.conn.execute(
                ("EXPLAIN (ANALYZE, FORMAT JSON) " + CLAIM_SQL).encode(), params
            ).fetchone()
        if row is None:
            raise BenchError("EXPLAIN gave no plan")
        plan = row[0][0]
        nodes, rows_read = [], 0
        pending = [plan["Plan"]]
        while pending:
            node = pending.pop()
            nodes.append(node["Node Type"])
            if "Scan" in node["Node Type"] and node.get("Relation Name") == "jobs":
                rows_read = max(rows_read, int(node["Actual Rows"]))
            pending.extend(node.get("Plans", []))
        return ClaimPlan(float(plan["Execution Time"]), rows_read, "Sort" in nodes)

    def listeners(self) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'picpaygo' AND query = %s",
            (f"LISTEN {JOBS_CHANNEL}",),
        ).fetchone()
        return int(row[0]) if row else 0

    def wait_succeeded(self, ids: list[str], worker: Worker, timeout: float) -> None:
        """Count the jobs by status every 50 ms until all succeeded (BenchError on a failure)."""
        deadline = time.monotonic() + timeout
        while True:
            counts = self.by_status(ids)
            if counts.get("succeeded", 0) == len(ids):
                return
            if counts.get("failed"):
                raise BenchError(
                    f"{counts['failed']} job(s) failed; worker log:\n{worker.log_tail()}"
                )
            worker.check_alive()
            if time.monotonic() > deadline:
                raise BenchError(f"jobs not all done after {timeout:.0f} s: {counts}")
            time.sleep(POLL_INTERVAL)


# --------------------------------------------------------------------------- submitting


async def _submit(client: httpx.AsyncClient, photo: bytes) -> tuple[str, float]:
    began = time.perf_counter()
    response = await client.post(
        "/api/generate",
        data={"category": CATEGORY},
        files={"image": ("photo.jpg", photo, "image/jpeg")},
    )
    elapsed_ms = (time.perf_counter() - began) * 1000
    expect(response, 202, "queue a generation job")
    return str(response.json()["jobId"]), elapsed_ms


def _client(base_url: str, token: str, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    client = httpx.AsyncClient(base_url=base_url, timeout=30.0, limits=limits)
    client.cookies.set(COOKIE_NAME, token)
    return client


@dataclass
class Submitted:
    job_ids: list[str]  # in the order of the photos
    latencies_ms: list[float]
    seconds: float  # from the first request sent to the last answer
    send_seconds: float = 0.0  # open loop: from the first request sent to the last one

    @property
    def rate(self) -> float:
        return len(self.job_ids) / self.seconds


async def _queue_closed_loop(
    base_url: str, token: str, photos: list[bytes], clients: int
) -> Submitted:
    """``clients`` clients each send their next job as soon as the last one is answered."""
    job_ids = [""] * len(photos)
    latencies: list[float] = []
    indexes = iter(range(len(photos)))

    async def one_client(client: httpx.AsyncClient) -> None:
        for index in indexes:  # shared: each index goes to exactly one client
            job_ids[index], elapsed_ms = await _submit(client, photos[index])
            latencies.append(elapsed_ms)

    async with _client(base_url, token, clients) as client:
        began = time.perf_counter()
        await asyncio.gather(*(one_client(client) for _ in range(clients)))
        seconds = time.perf_counter() - began
    return Submitted(job_ids, latencies, seconds)


async def _queue_open_loop(
    base_url: str, token: str, photos: list[bytes], rate: float
) -> Submitted:
    """One job sent every 1/rate seconds, whether the earlier ones are answered or not."""
    async with _client(base_url, token, 64) as client:
        tasks = []
        began = time.perf_counter()
        for index, photo in enumerate(photos):
            delay = began + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_submit(client, photo)))
        send_seconds = time.perf_counter() - began
        results = await asyncio.gather(*tasks)
        seconds = time.perf_counter() - began
    return Submitted(
        [job_id for job_id, _ in results], [ms for _, ms in results], seconds, send_seconds
    )


# --------------------------------------------------------------------------- measurements


@dataclass
class Drain:
    concurrency: int
    jobs: int
    queued: Submitted
    api_cpu: float  # share of one core the API used while the jobs were queued
    startup_s: float  # worker spawned -> first request at the fake
    seconds: float  # first request at the fake -> last job succeeded (its updated_at)
    claims: int
    cpu: CpuUse
    plan: ClaimPlan  # one claim on the full queue, just before the worker started

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds


def measure_drain(
    *,
    concurrency: int,
    photos: list[bytes],
    base_url: str,
    token: str,
    clients: int,
    server_pid: int,
    env: dict[str, str],
    fake: FakeOpenRouter,
    jobs: Jobs,
    log_dir: Path,
) -> Drain:
    api_before, began = cpu_seconds(server_pid), time.monotonic()
    queued = asyncio.run(_queue_closed_loop(base_url, token, photos, clients))
    api_cpu = (cpu_seconds(server_pid) - api_before) / (time.monotonic() - began)
    log(
        f"queued {len(photos):,} jobs in {queued.seconds:.1f} s ({queued.rate:,.0f} jobs/s, "
        f"API CPU {api_cpu:.0%}); starting a worker with concurrency {concurrency}"
    )
    plan = jobs.claim_plan()
    seen = len(fake.requests)
    worker = Worker(env, concurrency, log_dir / f"worker-c{concurrency}.log")
    spawned = time.time()
    try:
        worker.start()
        deadline = time.monotonic() + 60
        while len(fake.requests) <= seen:
            worker.check_alive()
            if time.monotonic() > deadline:
                raise BenchError(f"the worker sent nothing in 60 s:\n{worker.log_tail()}")
            time.sleep(0.002)
        first = fake.requests[seen].received_at
        start = CpuSnapshot.take(worker.pid, jobs)
        jobs.wait_succeeded(queued.job_ids, worker, timeout=max(60.0, len(photos) / 5))
        end = CpuSnapshot.take(worker.pid, jobs)
        worker.check_alive()
    finally:
        worker.stop()
    last, claims = jobs.finished(queued.job_ids)
    return Drain(
        concurrency=concurrency,
        jobs=len(photos),
        queued=queued,
        api_cpu=api_cpu,
        startup_s=first - spawned,
        seconds=last - first,
        claims=claims,
        cpu=CpuUse.between(start, end),
        plan=plan,
    )


@dataclass
class PickUp:
    concurrency: int
    rate: float
    submitted: Submitted
    delays_ms: list[float]  # sorted
    claims: int
    idle_worker_cpu: float
    cpu: CpuUse


def measure_pickup(
    *,
    concurrency: int,
    photos: list[bytes],
    rate: float,
    base_url: str,
    token: str,
    env: dict[str, str],
    fake: FakeOpenRouter,
    jobs: Jobs,
    log_dir: Path,
    poll_seconds: float,
) -> PickUp:
    worker = Worker(env, concurrency, log_dir / f"worker-delay-c{concurrency}.log")
    listening = jobs.listeners()
    try:
        worker.start()
        deadline = time.monotonic() + 30
        while jobs.listeners() <= listening:
            worker.check_alive()
            if time.monotonic() > deadline:
                raise BenchError(f"the worker did not LISTEN within 30 s:\n{worker.log_tail()}")
            time.sleep(0.02)
        # LISTEN sends the workers to look once; let them find nothing and go idle,
        # waiting for a notification (or the poll).
        time.sleep(0.5)
        idle_start = CpuSnapshot.take(worker.pid, jobs)
        time.sleep(min(poll_seconds, 2.0) + 0.5)
        idle = CpuUse.between(idle_start, CpuSnapshot.take(worker.pid, jobs))
        log(f"worker idle and listening (idle CPU {idle.worker:.1%}); submitting at {rate:g}/s")
        seen = len(fake.requests)
        start = CpuSnapshot.take(worker.pid, jobs)
        submitted = asyncio.run(_queue_open_loop(base_url, token, photos, rate))
        jobs.wait_succeeded(submitted.job_ids, worker, timeout=60.0)
        end = CpuSnapshot.take(worker.pid, jobs)
        worker.check_alive()
    finally:
        worker.stop()
    job_of = {
        digest(photo): job_id for photo, job_id in zip(photos, submitted.job_ids, strict=True)
    }
    created = jobs.created_at(submitted.job_ids)
    received: dict[str, float] = {}
    for request in fake.requests[seen:]:
        job_id = job_of.get(digest(request.image))
        if job_id is None:
            raise BenchError("the fake received a photo that was not submitted in this test")
        received.setdefault(job_id, request.received_at)  # the first attempt
    missing = set(submitted.job_ids) - received.keys()
    if missing:
        raise BenchError(f"{len(missing)} job(s) never reached the fake")
    _, claims = jobs.finished(submitted.job_ids)
    delays = sorted((received[j] - created[j]) * 1000 for j in submitted.job_ids)
    return PickUp(
        concurrency=concurrency,
        rate=rate,
        submitted=submitted,
        delays_ms=delays,
        claims=claims,
        idle_worker_cpu=idle.worker,
        cpu=CpuUse.between(start, end),
    )


# --------------------------------------------------------------------------- set-up


def register(base_url: str, picpaygo: list[str], env: dict[str, str]) -> str:
    """Register the bench user, grant it credits; returns its session token."""
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        response = client.post("/api/auth/register", json={"email": EMAIL, "password": PASSWORD})
        expect(response, 201, "register the bench user")
        token = response.cookies.get(COOKIE_NAME)
        if not token:
            raise BenchError(f"register set no {COOKIE_NAME} cookie")
    grant = subprocess.run(
        [*picpaygo, "credits", "grant", EMAIL, str(GRANT), "--reason", "jobs bench"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if grant.returncode != 0:
        raise BenchError(f"picpaygo credits grant failed: {grant.stderr.strip()}")
    return token


def versions(db: Database) -> str:
    packages = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("litestar", "uvicorn", "psycopg", "httpx")
    )
    return (
        f"Python {platform.python_version()}, PostgreSQL {db.version()}, {packages}, "
        f"Linux {platform.release()}"
    )


# --------------------------------------------------------------------------- report


def pct(share: float) -> str:
    return f"{share:.0%}"


def where_time_goes(drains: list[Drain]) -> str:
    """A paragraph reading the drains' figures: CPU per job, the ceiling, the claim."""
    text = "**Where the time goes.** "
    one = next((d for d in drains if d.concurrency == 1), None)
    if one is not None:
        wall = 1000 / one.rate
        worker = one.cpu.worker_s * 1000 / one.jobs
        postgres = one.cpu.postgres_s * 1000 / one.jobs
        driver = one.cpu.driver * one.cpu.seconds * 1000 / one.jobs
        text += (
            f"With one worker a job took {wall:.1f} ms of wall time: {worker:.1f} ms of the "
            f"worker's CPU, {postgres:.1f} ms of PostgreSQL's, {driver:.1f} ms of the driver's "
            "(mostly the fake), and the rest waiting, since one worker's round trips to the "
            "database and to the fake follow one another. "
        )
    busiest = max(drains, key=lambda d: d.cpu.worker)
    text += (
        f"With concurrency {busiest.concurrency} the worker process used "
        f"{pct(busiest.cpu.worker)} of a core; one process runs one Python event loop, so "
        "near 100% the worker's own CPU (the database driver, asyncio, the HTTP client) is "
        "the ceiling, whatever the concurrency. "
    )
    first = drains[0]
    plan = first.plan
    how = "sorted them, " if plan.sorted and plan.rows_read > 2 else ""
    text += (
        f"One claim, run with EXPLAIN ANALYZE just before the first drain, read "
        f"{plan.rows_read:,} row{'' if plan.rows_read == 1 else 's'} of the "
        f"{first.jobs:,} queued jobs, {how}and took "
        f"{plan.ms:.2f} ms"
    )
    if plan.rows_read >= first.jobs / 2:
        text += (
            ": the claim looks at every due job to find the oldest, so its cost grows "
            "with the backlog and these rates depend on K."
        )
    else:
        text += (
            ": each kind of due job is read on its own partial index, oldest first, so a "
            "claim costs the same however long the queue is."
        )
    return text


def render(
    *,
    args: argparse.Namespace,
    command: str,
    started: dt.datetime,
    seconds: float,
    info: dict[str, str],
    settings: Settings,
    drains: list[Drain],
    pickup: PickUp,
) -> str:
    cores = info["cores"]
    by_concurrency = {d.concurrency: d for d in drains}
    base = by_concurrency.get(1)
    delays = pickup.delays_ms
    p50, p99 = percentile(delays, 50), percentile(delays, 99)
    over_poll = sum(1 for d in delays if d >= settings.jobs.poll_seconds * 1000 / 2)
    latencies = sorted(pickup.submitted.latencies_ms)
    lines = [
        "<!-- jobs:begin -->",
        "## Job queue: worker throughput and pick-up delay",
        "",
        "Written by its own run of `python bench/jobs.py` (from the repository root), not by "
        "the run described at the top of this file; `bench/run.py` keeps this section when "
        "it rewrites the file. The image model is the fake OpenRouter server of the tests "
        "(`tests/support/fake_openrouter.py`), in the driver process on loopback, answering "
        "every request at once with a small PNG (with `TCP_NODELAY` on its sockets: without "
        "it each answer's body waits about 40 ms for the worker's delayed ACK of its "
        "headers): these figures are the queue's and the "
        "worker's own costs, with no model time. With a real model a job takes seconds to "
        "a minute, and a worker's throughput is `GENERATOR_MAX_CONCURRENCY` ÷ the model's "
        "time per picture long before it reaches these numbers.",
        "",
        "**How.** A fresh database, `picpaygo serve` with `JOB_WORKERS=0` (no worker inside "
        "the API), one user holding granted credits. *Throughput*: with no worker running, "
        f"{args.jobs:,} jobs are queued through `POST /api/generate` (a unique 64x64 JPEG "
        f"each, {args.clients} concurrent clients; that gives the API's job-creation rate), "
        "then one `picpaygo worker --concurrency N` is started and the drain is timed from "
        "the first request the fake receives to the `updated_at` of the last job to "
        "succeed (the driver counts the jobs by status every 50 ms to know when they are "
        "all done); the worker is stopped, and the next concurrency gets its own "
        f"{args.jobs:,} fresh jobs. *Pick-up delay*: one worker is started and left idle "
        f"until its workers wait for a notification, then jobs are submitted at "
        f"{pickup.rate:g} per second for {args.duration:g} s (open loop: on schedule, "
        "whether earlier ones are answered or not), and each job's delay is the time from "
        "its `created_at` (set by the API before its transaction commits) to the moment the "
        "fake received that job's photo. Each photo is unique, so the fake's request is "
        "matched to its job by the photo's bytes. *CPU* is user + system time from "
        "/proc/<pid>/stat over the drain ÷ wall time (100% = one core): the worker process; "
        "PostgreSQL (the backends of the benchmark database, except the driver's own "
        "counting connection, and the shared background processes); the driver "
        "(the fake server, the counting, no submitting during a drain); and the whole "
        "machine from /proc/stat.",
        "",
        "**Machine.** "
        f"{cores} cores ({info['cpu']}), shared and noisy; the driver and the fake, the API, "
        "the worker and PostgreSQL all run on these same cores. Read the ratios, not the "
        f"absolutes. Load average (1, 5, 15 min) at start: {info['loadavg']}; at the end: "
        f"{info['loadavg_end']}.",
        "",
        f"- Command: `{command}`",
        f"- Code: {info['code']}",
        f"- Date: {started:%Y-%m-%d %H:%M} UTC (run took {seconds:.0f} s)",
        f"- Software: {info['software']}",
        "- Settings (API and worker): development profile, `LOG_LEVEL=WARNING`, "
        f"`DATABASE_POOL_SIZE={settings.database.pool_size}`, "
        f"`GENERATOR_MAX_CONCURRENCY={settings.policy.generator_concurrency}` (default), "
        f"`JOB_POLL_SECONDS={settings.jobs.poll_seconds:g}` (default), "
        f"`JOB_LEASE_SECONDS={settings.policy.job_lease_seconds:g}`, "
        f"`OPENROUTER_URL` = the fake; `picpaygo worker` without `--concurrency` would run "
        f"`JOB_WORKERS={Settings().job_workers}` workers",
        "",
        "### Throughput of one worker process",
        "",
        "| `--concurrency` | jobs | queued by the API, jobs/s (API CPU) | worker start-up s "
        "| drain s | **jobs/s** | ÷ concurrency 1 | ÷ API creation rate | worker CPU "
        "| PostgreSQL CPU | driver CPU | machine CPU (steal) | worker / PostgreSQL CPU ms per job "
        "| claims per job |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for drain in drains:
        cpu = drain.cpu
        lines.append(
            f"| {drain.concurrency} | {drain.jobs:,} | {drain.queued.rate:,.0f} "
            f"({pct(drain.api_cpu)}) | {drain.startup_s:.1f} | {drain.seconds:.2f} "
            f"| **{drain.rate:,.0f}** | "
            + (f"{drain.rate / base.rate:.2f}" if base else "n/a")
            + f" | {drain.rate / drain.queued.rate:.2f} | {pct(cpu.worker)} "
            f"| {pct(cpu.postgres)} | {pct(cpu.driver)} | {pct(cpu.machine)} ({pct(cpu.steal)}) "
            f"| {cpu.worker_s * 1000 / drain.jobs:.2f} / {cpu.postgres_s * 1000 / drain.jobs:.2f} "
            f"| {drain.claims / drain.jobs:.2f} |"
        )
    lines += [
        "",
        "*Worker start-up* is from spawning the process to the first request at the fake "
        "(imports, connection pool, LISTEN), and is not part of the drain. *Machine CPU* "
        f"counts every process on the machine (up to {int(cores) * 100}% here); *steal* is "
        "time the hypervisor gave to other guests. *Claims per job* is `attempts` summed "
        "over the drained jobs ÷ jobs: 1.00 means every job was claimed once, no retries or "
        "lease take-overs. Every concurrency above "
        f"{settings.policy.generator_concurrency} shares the process's "
        f"{settings.policy.generator_concurrency} generator slots "
        "(`GENERATOR_MAX_CONCURRENCY`): a worker takes a slot before it claims a job.",
        "",
        where_time_goes(drains),
        "",
        "### Delay from creation to start",
        "",
        f"| worker `--concurrency` | offered jobs/s | sent jobs/s | jobs | delay p50 ms "
        "| p99 ms | max ms | jobs over "
        f"{settings.jobs.poll_seconds / 2:g} s | `POST /api/generate` p50 / p99 ms "
        "| claims per job | worker CPU (idle before) | worker CPU ms per job |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {pickup.concurrency} | {pickup.rate:g} "
        f"| {(len(delays) - 1) / pickup.submitted.send_seconds:.1f} | {len(delays):,} "
        f"| {fmt(p50, 1)} | {fmt(p99, 1)} | {delays[-1]:.1f} | {over_poll} "
        f"| {fmt(percentile(latencies, 50), 1)} / {fmt(percentile(latencies, 99), 1)} "
        f"| {pickup.claims / len(delays):.2f} | {pct(pickup.cpu.worker)} "
        f"({pickup.idle_worker_cpu:.1%}) | {pickup.cpu.worker_s * 1000 / len(delays):.2f} |",
        "",
        f"`JOB_POLL_SECONDS` was {settings.jobs.poll_seconds:g} s (the default), so a job "
        "that waited for the poll instead of being woken by its `NOTIFY` would show a delay "
        "of up to that long; *jobs over* counts the delays of at least half of it. The "
        "delay covers the rest of the API's transaction after `created_at` is taken "
        "(storing the photo, the job row, COMMIT), the NOTIFY, waking the worker, the "
        "claim (an UPDATE … FOR UPDATE SKIP LOCKED and reading the photo) and sending the "
        "photo to the fake. The worker's CPU per job here "
        f"({pickup.cpu.worker_s * 1000 / len(delays):.2f} ms) compares with the drains' "
        f"({min(d.cpu.worker_s * 1000 / d.jobs for d in drains):.2f} to "
        f"{max(d.cpu.worker_s * 1000 / d.jobs for d in drains):.2f} ms): a notification wakes "
        "one idle worker, but a worker that finishes a job looks for another before it "
        "waits, which at this rate finds none, and each idle worker also polls every "
        "`JOB_POLL_SECONDS`; in a drain every claim finds a job.",
        "",
        "Reproduce with `python bench/jobs.py` from the repository root (the project's "
        "virtualenv; a PostgreSQL it may create and drop a database in, `--pg-host`, "
        "`--pg-port`, `--pg-user`, default `postgres@127.0.0.1:5432`). It takes under "
        "2 minutes; `--help` lists the knobs (jobs per drain, concurrencies, rate, duration). "
        "The server and worker logs are left in `bench/last-run/jobs/` (git-ignored).",
        "<!-- jobs:end -->",
    ]
    return "\n".join(lines)


def write_section(path: Path, block: str) -> None:
    """Put ``block`` in place of the file's job-queue section; the rest is left as it is."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        text = "# Benchmarks\n"
    updated = with_jobs_block(text, block)
    if jobs_block(updated) != block:
        raise BenchError(f"could not place the job-queue section in {path}")
    path.write_text(updated)


# --------------------------------------------------------------------------- main


def main() -> int:
    args = parse_args()
    started = dt.datetime.now(dt.UTC)
    run_started = time.monotonic()
    command = shlex.join(["python", "bench/jobs.py", *sys.argv[1:]])
    picpaygo = picpaygo_command()
    empty_log_dir(args.log_dir)
    db = Database(args.pg_host, args.pg_port, args.pg_user, args.database)
    info = {
        "cores": str(os.cpu_count()),
        "cpu": cpu_model(),
        "loadavg": load_average(),
        "code": code_version(),
    }
    fake = FakeOpenRouter()
    server: Server | None = None
    jobs: Jobs | None = None
    created = False
    try:
        fake.start()
        log(f"fake OpenRouter at {fake.url}; creating database {db.name}")
        db.create()
        created = True
        info["software"] = versions(db)
        # A minimal environment, so no stray setting of the caller's shell changes what is
        # measured; every setting not listed here is at its default.
        env = {key: value for key, value in os.environ.items() if key in PASSED_ENV}
        env |= {
            "PICPAYGO_ENV": "development",
            "DATABASE_URL": db.url(),
            "LOG_LEVEL": "WARNING",
            "DEFAULT_FREE_CREDITS": str(FREE_CREDITS),
            "PAYMENTS_MODE": "instant",
            "OPENROUTER_API_KEY": "bench-key",
            "OPENROUTER_URL": fake.url,
        }
        settings = load_settings(env)
        server_env = env | {"JOB_WORKERS": "0"}
        migrate = subprocess.run(
            [*picpaygo, "db", "migrate"], env=env, capture_output=True, text=True
        )
        if migrate.returncode != 0:
            raise BenchError(f"picpaygo db migrate failed: {migrate.stderr.strip()}")
        log(migrate.stdout.strip().replace("\n", "; "))

        server = Server(picpaygo[0], server_env, free_port(), args.log_dir / "server.log")
        server.command[:1] = picpaygo  # the console script, or python -c when there is none
        server_pid = server.start()
        server.wait_healthy()
        token = register(server.base_url, picpaygo, env)
        jobs = Jobs(db.url())
        log(f"server pid {server_pid} healthy on {server.base_url}; user registered")

        photos = Photos()
        drains = []
        for concurrency in args.concurrency:
            drain = measure_drain(
                concurrency=concurrency,
                photos=photos.take(args.jobs),
                base_url=server.base_url,
                token=token,
                clients=args.clients,
                server_pid=server_pid,
                env=env,
                fake=fake,
                jobs=jobs,
                log_dir=args.log_dir,
            )
            drains.append(drain)
            log(
                f"concurrency {concurrency}: {drain.jobs:,} jobs in {drain.seconds:.2f} s = "
                f"{drain.rate:,.0f} jobs/s; worker CPU {drain.cpu.worker:.0%}, PostgreSQL "
                f"{drain.cpu.postgres:.0%}, driver {drain.cpu.driver:.0%}, machine "
                f"{drain.cpu.machine:.0%}; claims {drain.claims:,}"
            )
            if jobs.unfinished():
                raise BenchError("jobs are left over after a drain")
            db.execute("VACUUM ANALYZE jobs")

        pickup = measure_pickup(
            concurrency=args.delay_concurrency,
            photos=photos.take(round(args.rate * args.duration)),
            rate=args.rate,
            base_url=server.base_url,
            token=token,
            env=env,
            fake=fake,
            jobs=jobs,
            log_dir=args.log_dir,
            poll_seconds=settings.jobs.poll_seconds,
        )
        delays = pickup.delays_ms
        log(
            f"delay created -> fake: p50 {fmt(percentile(delays, 50), 1)} ms, "
            f"p99 {fmt(percentile(delays, 99), 1)} ms, max {delays[-1]:.1f} ms "
            f"over {len(delays)} jobs"
        )

        info["loadavg_end"] = load_average()
        block = render(
            args=args,
            command=command,
            started=started,
            seconds=time.monotonic() - run_started,
            info=info,
            settings=settings,
            drains=drains,
            pickup=pickup,
        )
        write_section(args.output, block)
        (args.log_dir / "jobs-section.md").write_text(block + "\n")
        log(
            f"wrote the job-queue section of {args.output} ({time.monotonic() - run_started:.0f} s)"
        )
        return 0
    finally:
        if jobs is not None:
            jobs.close()
        if server is not None:
            log("stopping the server")
            server.stop()
        fake.stop()
        if created:
            log(f"dropping database {db.name}")
            try:
                db.drop()
            except psycopg.Error as exc:
                log(f"could not drop {db.name}: {exc}")


if __name__ == "__main__":
    run_as_script(main)
