"""One-shot benchmark of the PicPayGo API on PostgreSQL; writes BENCHMARKS.md.

Run from anywhere, with the project's virtualenv (it needs httpx, Pillow and psycopg,
which the project depends on, plus ``wrk`` and ``pgbench`` on PATH)::

    .venv/bin/python bench/run.py

In one run, on one server configuration, it:

1. creates a fresh database, runs ``picpaygo db migrate`` and starts ``picpaygo serve``
   (one uvicorn process, JOB_WORKERS=0, LOG_LEVEL=WARNING, a fixed pool size) on a free
   port, and waits for ``GET /api/health``;
2. registers a user, grants it credits with ``picpaygo credits grant``, creates one
   generation job and spends the client network's free credits (so that every
   measured consume takes the paid path, as the pgbench script does);
3. runs wrk with the same settings against the trivial endpoint (the framework ceiling)
   and four database-backed endpoints;
4. runs pgbench with the same SQL as those endpoints, one client per pool connection
   (the database ceiling);
5. measures ``GET /api/credits`` without and with a concurrent, fixed-rate load of
   logins (a light rate, then the rate asked for);
6. samples the API process's RSS and thread count from /proc throughout;
7. writes BENCHMARKS.md, keeping the job-queue section bench/jobs.py wrote there;
   raw reports go to bench/last-run/;
8. stops the server and drops the database, also when something fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from PIL import Image

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
WRK_SCRIPT = BENCH_DIR / "wrk.lua"
SQL_DIR = BENCH_DIR / "sql"
COOKIE_NAME = "picpaygo_session"
BENCH_EMAIL = "bench@example.com"
LOGIN_EMAIL = "login-bench@example.com"
PASSWORD = "bench-password-123"
GRANT = 1_000_000
FREE_CREDITS = 3  # DEFAULT_FREE_CREDITS, set explicitly for the server
NETWORK = "127.0.0.1"  # every client here connects over IPv4 loopback
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PGPASSWORD", "PGPASSFILE")


# BENCHMARKS.md's section from bench/jobs.py sits between these; this script keeps it.
JOBS_BEGIN = "<!-- jobs:begin -->"
JOBS_END = "<!-- jobs:end -->"


class BenchError(Exception):
    """Something the run cannot go on without; the message says what."""


# --------------------------------------------------------------------------- options


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--pg-host", default=os.environ.get("PGHOST", "127.0.0.1"))
    add("--pg-port", type=int, default=int(os.environ.get("PGPORT", "5432")))
    add("--pg-user", default=os.environ.get("PGUSER", "postgres"))
    add("--database", default="picpaygo_bench", help="dropped and re-created [%(default)s]")
    add("--pool-size", type=int, default=10, help="DATABASE_POOL_SIZE and pgbench -c")
    add("--threads", type=int, default=2, help="wrk -t [%(default)s]")
    add("--connections", type=int, default=32, help="wrk -c [%(default)s]")
    add("--duration", type=int, default=15, help="seconds per measurement [%(default)s]")
    add("--warmup", type=int, default=2, help="seconds of warm-up per endpoint [%(default)s]")
    add("--login-rate", type=float, default=20.0, help="logins per second [%(default)s]")
    add(
        "--light-login-rate",
        type=float,
        default=5.0,
        help="a second, lighter login load; 0 to skip [%(default)s]",
    )
    add("--output", type=Path, default=REPO_ROOT / "BENCHMARKS.md")
    add("--log-dir", type=Path, default=BENCH_DIR / "last-run")
    return parser.parse_args()


# --------------------------------------------------------------------------- helpers


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_tools() -> dict[str, str]:
    missing = {
        "wrk": "apt-get install wrk",
        "pgbench": "apt-get install postgresql-contrib (or postgresql-client)",
    }
    found = {}
    for tool, hint in missing.items():
        path = shutil.which(tool)
        if path is None:
            raise BenchError(f"{tool} is not on PATH; install it with: {hint}")
        found[tool] = path
    picpaygo = Path(sys.executable).parent / "picpaygo"
    if not picpaygo.exists():
        which = shutil.which("picpaygo")
        if which is None:
            raise BenchError(
                "the picpaygo command is not installed; run this with the project's "
                "virtualenv python (pip install -e .)"
            )
        picpaygo = Path(which)
    found["picpaygo"] = str(picpaygo)
    return found


def first_line(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def code_version() -> str:
    """The commit measured, and whether src/ differed from it."""
    head = first_line(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"])
    status = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "src"],
        capture_output=True,
        text=True,
    )
    if status.returncode != 0:
        return "unknown (not a git checkout)"
    dirty = status.stdout.strip()
    return f"commit {head}" + (
        f", with uncommitted changes in src/ ({len(dirty.splitlines())} files)" if dirty else ""
    )


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def load_average() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "unknown"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc/<pid>/stat."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Argon2Cost:
    wall_ms: float
    cpu_ms: float
    params: str


def argon2_cost(rounds: int = 3) -> Argon2Cost:
    """What one verify costs here, with the parameters of the app's hasher."""
    import argon2

    from adapters.passwords.argon2_hasher import MEMORY_COST_KIB, PARALLELISM, TIME_COST

    hasher = argon2.PasswordHasher(
        time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM
    )
    stored = hasher.hash(PASSWORD)
    hasher.verify(stored, PASSWORD)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        hasher.verify(stored, PASSWORD)
    return Argon2Cost(
        wall_ms=(time.perf_counter() - wall) * 1000 / rounds,
        cpu_ms=(time.process_time() - cpu) * 1000 / rounds,
        params=f"t={hasher.time_cost}, m={hasher.memory_cost // 1024} MiB, p={hasher.parallelism}",
    )


def hashing_threads() -> int:
    from adapters.passwords.argon2_hasher import default_hashing_threads

    return default_hashing_threads()


def tiny_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 120, 40)).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


# --------------------------------------------------------------------------- RSS


class RssSampler(threading.Thread):
    """Reads VmRSS (and thread count) of a process every ``interval`` s; peaks per phase."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.phase = "start-up"
        self.peaks: dict[str, int] = {}
        self.threads: dict[str, int] = {}
        self._stop_event = threading.Event()

    def _status(self) -> dict[str, int]:
        values = {}
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("VmRSS", "Threads"):
                    values[key] = int(value.split()[0])
        except (OSError, ValueError):
            return {}
        return values

    def read_kib(self) -> int | None:
        return self._status().get("VmRSS")

    def run(self) -> None:
        while not self._stop_event.is_set():
            status, phase = self._status(), self.phase
            if "VmRSS" in status:
                self.peaks[phase] = max(self.peaks.get(phase, 0), status["VmRSS"])
            if "Threads" in status:
                self.threads[phase] = max(self.threads.get(phase, 0), status["Threads"])
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=2)

    @property
    def peak(self) -> int:
        return max(self.peaks.values(), default=0)


# --------------------------------------------------------------------------- database


@dataclass
class Database:
    host: str
    port: int
    user: str
    name: str

    def url(self, name: str | None = None) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{name or self.name}"

    def _admin(self, statement: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(statement.encode())

    def create(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._admin(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def execute(self, statement: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(statement.encode())

    def version(self) -> str:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "unknown"


# --------------------------------------------------------------------------- server


class ChildProcess:
    """A ``picpaygo`` command in a child process; its output goes to a log file."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.command = command
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> int:
        with self.log_path.open("wb") as log_file:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        return self.process.pid

    def stop(self) -> None:
        """SIGTERM and wait (killed after 15 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


class Server(ChildProcess):
    """``picpaygo serve`` (one uvicorn process) in a child process."""

    def __init__(self, picpaygo: str, env: dict[str, str], port: int, log_path: Path) -> None:
        command = [picpaygo, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        super().__init__(command, env, log_path)
        self.base_url = f"http://127.0.0.1:{port}"

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise BenchError(f"the server exited at start-up:\n{self.log_tail()}")
            try:
                response = httpx.get(f"{self.base_url}/api/health", timeout=2.0)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise BenchError(f"the server was not healthy within {timeout:.0f}s ({last})")

    def children(self) -> list[int]:
        if self.process is None:
            return []
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        with contextlib.suppress(OSError):
            return [int(pid) for pid in path.read_text().split()]
        return []


# --------------------------------------------------------------------------- data


@dataclass
class Fixture:
    cookie: str
    token_hash: str
    user_id: str
    job_id: str
    free_spent: int


def prepare_data(base_url: str, picpaygo: str, env: dict[str, str]) -> Fixture:
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        response = client.post(
            "/api/auth/register", json={"email": BENCH_EMAIL, "password": PASSWORD}
        )
        expect(response, 201, "register the bench user")
        token = response.cookies.get(COOKIE_NAME)
        if not token:
            raise BenchError(f"register set no {COOKIE_NAME} cookie")
        user_id = response.json()["user"]["id"]

        grant = subprocess.run(
            [picpaygo, "credits", "grant", BENCH_EMAIL, str(GRANT), "--reason", "bench"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if grant.returncode != 0:
            raise BenchError(f"picpaygo credits grant failed: {grant.stderr.strip()}")

        response = client.post(
            "/api/generate",
            data={"category": "portraits"},
            files={"image": ("bench.jpg", tiny_jpeg(), "image/jpeg")},
        )
        expect(response, 202, "create a generation job")
        job_id = response.json()["jobId"]

        # Spend what is left of the network's free credits, so that every measured
        # consume takes the paid path (the one the pgbench script reproduces).
        response = client.get("/api/credits")
        expect(response, 200, "read the credits")
        free_left = int(response.json()["freeCredits"])
        if free_left:
            response = client.post("/api/credits/consume", json={"amount": free_left})
            expect(response, 200, "spend the free credits")
        response = client.get("/api/credits")
        body = response.json()
        if body["freeCredits"] != 0 or body["balance"] < GRANT - 10:
            raise BenchError(f"unexpected credits after set-up: {body}")

        response = client.post(
            "/api/auth/register", json={"email": LOGIN_EMAIL, "password": PASSWORD}
        )
        expect(response, 201, "register the login-load user")
        client.cookies.clear()
        response = client.post("/api/auth/login", json={"email": LOGIN_EMAIL, "password": PASSWORD})
        expect(response, 200, "log in")

        # One request per measured endpoint, to fail now rather than under load.
        client.cookies.clear()
        expect(client.get("/api/auth/google/config"), 200, "GET /api/auth/google/config")
        client.cookies.set(COOKIE_NAME, token)
        for path in ("/api/auth/me", "/api/credits", f"/api/generate/{job_id}"):
            expect(client.get(path), 200, f"GET {path}")
    return Fixture(
        cookie=f"{COOKIE_NAME}={token}",
        token_hash=hashlib.sha256(token.encode()).hexdigest(),
        user_id=user_id,
        job_id=job_id,
        free_spent=free_left,
    )


def expect(response: httpx.Response, status: int, what: str) -> None:
    if response.status_code != status:
        raise BenchError(
            f"could not {what}: {response.status_code} (wanted {status}) {response.text[:300]}"
        )


# --------------------------------------------------------------------------- wrk


@dataclass
class WrkResult:
    name: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    server_cpu: float  # share of one core the API process used during the run


def run_wrk(
    args: argparse.Namespace,
    base_url: str,
    name: str,
    path: str,
    *,
    method: str = "GET",
    body: str = "",
    cookie: str = "",
    duration: int | None = None,
    save: bool = True,
    server_pid: int = 0,
) -> WrkResult:
    seconds = duration if duration is not None else args.duration
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(WRK_SCRIPT),
        base_url + path,
    ]
    env = os.environ | {"BENCH_METHOD": method, "BENCH_BODY": body, "BENCH_COOKIE": cookie}
    cpu_before, began = cpu_seconds(server_pid), time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 60)
    server_cpu = (cpu_seconds(server_pid) - cpu_before) / (time.monotonic() - began)
    output = done.stdout + done.stderr
    if save:
        (args.log_dir / f"wrk-{name}.txt").write_text(shlex.join(command) + "\n\n" + output)
    match = re.search(r"^BENCH_RESULT (\{.*\})$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or match is None:
        raise BenchError(f"wrk failed for {path} (exit {done.returncode}):\n{output}")
    data = json.loads(match.group(1))
    non_2xx_line = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    non_2xx = int(non_2xx_line.group(1)) if non_2xx_line else data["errors"]["status"]
    errors = data["errors"]
    elapsed = data["duration_us"] / 1e6
    latency = data["latency_us"]
    return WrkResult(
        name=name,
        requests=data["requests"],
        seconds=elapsed,
        rps=data["requests"] / elapsed,
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        max_ms=latency["max"] / 1000,
        non_2xx=non_2xx,
        socket_errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        server_cpu=server_cpu,
    )


# --------------------------------------------------------------------------- pgbench


@dataclass
class PgbenchResult:
    name: str
    tps: float
    latency_avg_ms: float
    p50_ms: float | None
    p99_ms: float | None
    transactions: int
    failed: int


def run_pgbench(
    args: argparse.Namespace, db: Database, name: str, script: Path, variables: dict[str, str]
) -> PgbenchResult:
    prefix = args.log_dir / f"pgbench-{name}"
    for stale in args.log_dir.glob(f"pgbench-{name}.*"):
        stale.unlink()
    command = [
        "pgbench",
        "-h",
        db.host,
        "-p",
        str(db.port),
        "-U",
        db.user,
        "-n",
        "-M",
        "prepared",
        "-c",
        str(args.pool_size),
        "-j",
        "2",
        "-T",
        str(args.duration),
        "-f",
        str(script),
        "--log",
        f"--log-prefix={prefix}",
    ]
    for key, value in variables.items():
        command += ["-D", f"{key}={value}"]
    command.append(db.name)
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=args.duration + 60, cwd=args.log_dir
    )
    output = done.stdout + done.stderr
    (args.log_dir / f"pgbench-{name}.txt").write_text(shlex.join(command) + "\n\n" + output)
    tps = re.search(r"^tps = ([\d.]+)", output, re.MULTILINE)
    avg = re.search(r"^latency average = ([\d.]+) ms", output, re.MULTILINE)
    count = re.search(r"number of transactions actually processed: (\d+)", output)
    failed = re.search(r"number of failed transactions: (\d+)", output)
    if done.returncode != 0 or tps is None or avg is None:
        raise BenchError(f"pgbench failed for {script.name} (exit {done.returncode}):\n{output}")
    latencies = sorted(pgbench_latencies(args.log_dir, f"pgbench-{name}."))
    for log_file in args.log_dir.glob(f"pgbench-{name}.*"):
        if log_file.suffix != ".txt":
            log_file.unlink()
    return PgbenchResult(
        name=name,
        tps=float(tps.group(1)),
        latency_avg_ms=float(avg.group(1)),
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        transactions=int(count.group(1)) if count else len(latencies),
        failed=int(failed.group(1)) if failed else 0,
    )


def pgbench_latencies(directory: Path, prefix: str) -> Iterator[float]:
    """Per-transaction latencies (ms) from pgbench --log files (3rd field, microseconds)."""
    for path in directory.glob(prefix + "*"):
        if path.suffix == ".txt":
            continue
        with path.open() as lines:
            for line in lines:
                fields = line.split()
                if len(fields) >= 3 and fields[2].isdigit():
                    yield int(fields[2]) / 1000


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    index = min(len(values) - 1, max(0, round(pct / 100 * len(values)) - 1))
    return values[index]


# --------------------------------------------------------------------------- login load


@dataclass
class LoginLoad:
    """Open-loop logins: one started every 1/rate seconds, whatever the others are doing."""

    base_url: str
    rate: float
    max_in_flight: int = 64
    statuses: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    completed_at: list[float] = field(default_factory=list)  # successful logins only
    skipped: int = 0
    in_flight_at_stop: int = 0
    started_at: float = 0.0
    stopped_at: float = 0.0

    def __post_init__(self) -> None:
        self._stop_event = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop_event.set()
        self._thread.join(timeout=60)

    async def _main(self) -> None:
        limits = httpx.Limits(max_connections=self.max_in_flight)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30.0, limits=limits) as client:
            tasks: set[asyncio.Task[None]] = set()
            self.started_at = time.perf_counter()
            sent = 0
            while not self._stop_event.is_set():
                due = self.started_at + sent / self.rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent += 1
                if len(tasks) >= self.max_in_flight:
                    self.skipped += 1
                    continue
                task = asyncio.create_task(self._login(client))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            self.stopped_at = time.perf_counter()
            self.in_flight_at_stop = len(tasks)
            if tasks:
                await asyncio.gather(*tasks)

    async def _login(self, client: httpx.AsyncClient) -> None:
        began = time.perf_counter()
        try:
            response = await client.post(
                "/api/auth/login",
                json={"email": LOGIN_EMAIL, "password": PASSWORD},
            )
            status = str(response.status_code)
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        finished = time.perf_counter()
        self.latencies_ms.append((finished - began) * 1000)
        self.statuses[status] += 1
        if status == "200":
            self.completed_at.append(finished)

    @property
    def achieved_rate(self) -> float:
        """Successful logins completed while the load ran, per second."""
        window = self.stopped_at - self.started_at
        done = sum(1 for t in self.completed_at if t <= self.stopped_at)
        return done / window if window > 0 else 0.0


# --------------------------------------------------------------------------- report


ENDPOINTS = (
    # name, method, path template, body, cookie?, units of work, round trips, pgbench script
    ("trivial", "GET", "/api/auth/google/config", "", False, 0, 0, None),
    ("me", "GET", "/api/auth/me", "", True, 1, 3, "me.sql"),
    ("credits", "GET", "/api/credits", "", True, 2, 7, "credits.sql"),
    ("job", "GET", "/api/generate/{job_id}", "", True, 2, 6, "job.sql"),
    ("consume", "POST", "/api/credits/consume", '{"amount": 1}', True, 2, 10, "consume.sql"),
)


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def write_report(
    args: argparse.Namespace,
    *,
    command: str,
    started: dt.datetime,
    finished: dt.datetime,
    env_info: dict[str, str],
    fixture: Fixture,
    http: dict[str, WrkResult],
    pg: dict[str, PgbenchResult],
    baseline: WrkResult,
    login_runs: list[tuple[LoginLoad, WrkResult]],
    argon2: Argon2Cost,
    children: list[int],
    rss_idle_kib: int,
    rss_ready_kib: int,
    rss: RssSampler,
) -> str:
    trivial = http["trivial"]
    noise = abs(http["credits"].rps - baseline.rps) / max(http["credits"].rps, baseline.rps)
    lines = [
        "# Benchmarks",
        "",
        "Throughput and latency of the PicPayGo API on PostgreSQL, next to two ceilings: "
        "the framework's (the same app answering an endpoint that touches no database) "
        "and the database's (pgbench running the same SQL as each endpoint). "
        "Every figure below comes from one run of the command below; the file is written "
        "by that run.",
        "",
        "**Machine.** "
        f"{env_info['cores']} cores ({env_info['cpu']}), shared and noisy; the load "
        "generators (wrk, pgbench, the login client), PostgreSQL and the API all run on "
        "these same cores. Absolute figures will move from run to run and machine to "
        "machine: read the ratios, not the absolutes. "
        f"Load average (1, 5, 15 min) at start: {env_info['loadavg']}; at the end: "
        f"{env_info['loadavg_end']}.",
        "",
        f"- Command: `{command}` (from the repository root)",
        f"- Code: {env_info['code']}",
        f"- Date: {started:%Y-%m-%d %H:%M} UTC (run took "
        f"{(finished - started).total_seconds():.0f} s)",
        f"- Software: Python {env_info['python']}, {env_info['postgres']}, {env_info['wrk']}, "
        f"{env_info['pgbench']}, {env_info['kernel']}",
        f"- Server: `picpaygo serve --workers 1` (one uvicorn process), "
        f"`DATABASE_POOL_SIZE={args.pool_size}`, `JOB_WORKERS=0`, `LOG_LEVEL=WARNING`, "
        "development profile, fresh database after `picpaygo db migrate`",
        f"- HTTP load: `wrk -t{args.threads} -c{args.connections} -d{args.duration}s "
        f"--latency` per endpoint, after a {args.warmup} s warm-up with the same settings; "
        "signed-in requests carry the session cookie of a user holding "
        f"{GRANT:,} granted credits",
        f"- Database load: `pgbench -n -M prepared -c {args.pool_size} -j 2 "
        f"-T {args.duration}` with the scripts in `bench/sql/` (one client per pool "
        "connection); p50/p99 from `--log`",
        "",
        "## HTTP endpoints",
        "",
        "| endpoint | DB units of work / round trips | req/s | p50 ms | p99 ms "
        "| non-2xx | socket errors | API CPU | req/s ÷ framework ceiling |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, method, path, _body, _cookie, units, trips, _script in ENDPOINTS:
        result = http[name]
        shown = path.replace("{job_id}", "{id}")
        label = f"`{method} {shown}`" + (" (framework ceiling)" if name == "trivial" else "")
        lines.append(
            f"| {label} | {units} / {trips} | {result.rps:,.0f} | {fmt(result.p50_ms)} "
            f"| {fmt(result.p99_ms)} | {result.non_2xx:,} | {result.socket_errors:,} "
            f"| {result.server_cpu:.0%} | {result.rps / trivial.rps:.2f} |"
        )
    lines += [
        "",
        "*Round trips* counts every message exchange with PostgreSQL a request makes, read "
        "from the code: each unit of work sends BEGIN, its statements, and ROLLBACK or "
        "COMMIT (the pool probes a connection with an empty query only when it has been "
        "idle for over a second, which does not happen under load). "
        "`GET /api/auth/google/config` reads only the configured Google client id: "
        "no caller lookup, no database. *API CPU* is the API process's user + system CPU "
        "time during the run ÷ wall time (100% = one core; one Python process cannot use "
        "much more than one core).",
        "",
        "**Noise gauge.** `GET /api/credits` was measured twice with identical settings, in "
        f"the table above and in the *none* row of the login section: {http['credits'].rps:,.0f} "
        f"and {baseline.rps:,.0f} req/s, p99 {fmt(http['credits'].p99_ms)} and "
        f"{fmt(baseline.p99_ms)} ms ({noise:.0%} apart in req/s). Treat differences of that "
        "order as noise.",
        "",
        "**Consume contends on one row.** Every measured consume debits the same user, so "
        "they queue on that user's `credits` row: the conditional UPDATE holds the row lock "
        "until COMMIT, which the app sends two statements (and an event-loop turn each) "
        "later, and each COMMIT waits for a WAL flush. The pgbench script is bound the "
        "same way. Consumes by many different users would not queue like this.",
        "",
        "## Database ceiling (pgbench, same SQL)",
        "",
        "| endpoint | pgbench script | tps | latency avg ms | p50 ms | p99 ms "
        "| failed | endpoint req/s ÷ pgbench tps |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, method, path, _body, _cookie, _units, _trips, script in ENDPOINTS:
        if script is None:
            continue
        result = pg[name]
        shown = path.replace("{job_id}", "{id}")
        lines.append(
            f"| `{method} {shown}` | `bench/sql/{script}` | {result.tps:,.0f} "
            f"| {fmt(result.latency_avg_ms, 3)} | {fmt(result.p50_ms, 3)} "
            f"| {fmt(result.p99_ms, 3)} | {result.failed:,} "
            f"| {http[name].rps / result.tps:.2f} |"
        )
    lines += [
        "",
        "Each script holds one pgbench transaction per HTTP request: the same statements "
        "(copied from `src/adapters/postgres/repositories.py`) in the same transactions "
        "(BEGIN … ROLLBACK for reads, … COMMIT for the consume), with the real session "
        "hash, user id, job id and client network (`127.0.0.1`). One difference: the ledger "
        "entry's id is `gen_random_uuid()` where the app sends a fresh uuid4.",
        "",
        f"## `GET /api/credits` under {args.login_rate:g} logins per second",
        "",
        "Back-to-back wrk runs on `GET /api/credits` with the settings above: without "
        "logins, then while a client in the driver process starts a `POST /api/auth/login` "
        "(correct password, so one Argon2id verify each) at a fixed rate, open loop, from "
        "2 s before wrk starts until it ends"
        + (
            f" (first {args.light_login_rate:g}/s, then the {args.login_rate:g}/s asked for)"
            if args.light_login_rate > 0
            else ""
        )
        + ". *Achieved* counts the logins answered 200 while the load ran, per second; "
        "*backlog* the logins still unanswered when it stopped; *not sent* the logins the "
        "client skipped because 64 were already waiting for an answer (its cap), so the "
        "offered rate fell short of the target by that much.",
        "",
        "| login load | logins achieved/s | login answers | backlog | login p50 / p99 ms "
        "| credits req/s | credits p50 ms | credits p99 ms | credits max ms | credits non-2xx "
        "| socket errors | API CPU | credits p99 ÷ without |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| none | - | - | - | - | {baseline.rps:,.0f} | {fmt(baseline.p50_ms)} "
        f"| {fmt(baseline.p99_ms)} | {fmt(baseline.max_ms)} | {baseline.non_2xx:,} "
        f"| {baseline.socket_errors:,} | {baseline.server_cpu:.0%} | 1.00 |",
    ]
    for logins, loaded in login_runs:
        latencies = sorted(logins.latencies_ms)
        answers = ", ".join(f"{code}: {n:,}" for code, n in sorted(logins.statuses.items()))
        if logins.skipped:
            answers += f"; {logins.skipped:,} not sent"
        lines.append(
            f"| {logins.rate:g}/s | {logins.achieved_rate:.1f} | {answers or 'none'} "
            f"| {logins.in_flight_at_stop} "
            f"| {fmt(percentile(latencies, 50), 0)} / {fmt(percentile(latencies, 99), 0)} "
            f"| {loaded.rps:,.0f} | {fmt(loaded.p50_ms)} | {fmt(loaded.p99_ms)} "
            f"| {fmt(loaded.max_ms)} | {loaded.non_2xx:,} | {loaded.socket_errors:,} "
            f"| {loaded.server_cpu:.0%} | {loaded.p99_ms / baseline.p99_ms:.2f} |"
        )
    lines += [
        "",
        f"For scale: one Argon2id verify with the app's parameters ({argon2.params}, "
        "OWASP's recommendation) took "
        f"{argon2.wall_ms:.0f} ms and {argon2.cpu_ms:.0f} ms of CPU on this machine "
        "(measured by the driver, idle server), so "
        f"{args.login_rate:g} logins/s ask for about "
        f"{args.login_rate * argon2.cpu_ms / 1000:.2f} cores of hashing, "
        f"out of {env_info['cores']}. The app hashes on {hashing_threads()} thread(s) of "
        "its own (all cores but one), so the event loop keeps a core whatever the login "
        "rate; each verify in flight holds "
        f"{argon2.params.split('m=')[1].split(',')[0]} of memory (see RSS below).",
        "",
        "## Memory (RSS of the API process, from /proc/<pid>/status VmRSS)",
        "",
        "| when | RSS MiB | threads (peak) |",
        "|---|---:|---:|",
        f"| idle, right after start-up | {rss_idle_kib / 1024:.1f} "
        f"| {rss.threads.get('start-up', 0)} |",
        f"| idle, after data set-up | {rss_ready_kib / 1024:.1f} | |",
    ]
    for phase, kib in rss.peaks.items():
        if phase not in ("start-up", "set-up"):
            lines.append(
                f"| peak during {phase} | {kib / 1024:.1f} | {rss.threads.get(phase, 0)} |"
            )
    lines += [
        f"| **peak over the whole run** | **{rss.peak / 1024:.1f}** "
        f"| {max(rss.threads.values(), default=0)} |",
        "",
        "Sampled every 0.1 s. The server ran as one process (uvicorn, workers=1"
        + (f"; child processes {children} not counted)." if children else ", no children).")
        + " Set-up registers two users (two Argon2id hashes) and creates the job.",
        "",
        "## Reproducing",
        "",
        "```sh",
        "apt-get install wrk postgresql-client   # pgbench comes with the client tools",
        command,
        "```",
        "",
        "It needs a PostgreSQL it may create and drop a database in (`--pg-host`, "
        "`--pg-port`, `--pg-user`, `--database`; default "
        "`postgres@127.0.0.1:5432/picpaygo_bench`), and takes about 3½ minutes. "
        "Raw wrk and pgbench reports and the server log are left in `bench/last-run/` "
        "(git-ignored). `--help` lists the knobs (duration, connections, pool size, login "
        "rate).",
        "",
        f"Set-up details: {fixture.free_spent} free credit(s) of the loopback network were "
        "spent before measuring (one went to the generation job), so every measured consume "
        "takes the paid path; the generation job stays queued (no workers).",
        "",
    ]
    text = "\n".join(lines)
    with contextlib.suppress(FileNotFoundError):
        kept = jobs_block(args.output.read_text())  # written by bench/jobs.py: keep it
        if kept is not None:
            text = with_jobs_block(text, kept)
    args.output.write_text(text)
    return text


def jobs_block(text: str) -> str | None:
    """The job-queue section of ``text``, markers included, or None when there is none."""
    begin = text.find(JOBS_BEGIN)
    end = text.find(JOBS_END, begin + 1) if begin >= 0 else -1
    return text[begin : end + len(JOBS_END)] if end >= 0 else None


def with_jobs_block(text: str, block: str) -> str:
    """``text`` with its job-queue section replaced by ``block`` (appended if it has none)."""
    current = jobs_block(text)
    if current is not None:
        return text.replace(current, block, 1)
    return text.rstrip("\n") + "\n\n" + block + "\n"


def empty_log_dir(path: Path) -> None:
    """Make ``path`` and delete the files an earlier run left there."""
    path.mkdir(parents=True, exist_ok=True)
    for old in path.iterdir():
        if old.is_file():
            old.unlink()


# --------------------------------------------------------------------------- main


def main() -> int:
    args = parse_args()
    started = dt.datetime.now(dt.UTC)
    run_started = time.monotonic()
    command = shlex.join(["python", "bench/run.py", *sys.argv[1:]])
    tools = require_tools()
    empty_log_dir(args.log_dir)
    db = Database(args.pg_host, args.pg_port, args.pg_user, args.database)
    env_info = {
        "cores": str(os.cpu_count()),
        "cpu": cpu_model(),
        "loadavg": load_average(),
        "python": platform.python_version(),
        "kernel": f"Linux {platform.release()}",
        "wrk": first_line(["wrk", "-v"]).split(" [")[0],
        "pgbench": first_line(["pgbench", "--version"]),
        "code": code_version(),
    }
    server: Server | None = None
    rss: RssSampler | None = None
    created = False
    try:
        log(f"creating database {db.name}")
        db.create()
        created = True
        env_info["postgres"] = f"PostgreSQL {db.version()}"
        # A minimal environment, so no stray setting of the caller's shell changes the
        # server being measured; every other setting is at its default.
        env = {key: value for key, value in os.environ.items() if key in PASSED_ENV}
        env |= {
            "PICPAYGO_ENV": "development",
            "DATABASE_URL": db.url(),
            "DATABASE_POOL_SIZE": str(args.pool_size),
            "JOB_WORKERS": "0",
            "LOG_LEVEL": "WARNING",
            "DEFAULT_FREE_CREDITS": str(FREE_CREDITS),
            "PAYMENTS_MODE": "instant",
        }
        migrate = subprocess.run(
            [tools["picpaygo"], "db", "migrate"], env=env, capture_output=True, text=True
        )
        if migrate.returncode != 0:
            raise BenchError(f"picpaygo db migrate failed: {migrate.stderr.strip()}")
        log(migrate.stdout.strip().replace("\n", "; "))

        port = free_port()
        server = Server(tools["picpaygo"], env, port, args.log_dir / "server.log")
        pid = server.start()
        rss = RssSampler(pid)
        rss.start()
        server.wait_healthy()
        children = server.children()
        if children:
            log(f"warning: the server has child processes {children}; RSS is pid {pid} only")
        time.sleep(1.0)
        rss_idle = rss.read_kib() or 0
        log(f"server pid {pid} healthy on {server.base_url}; RSS {rss_idle / 1024:.1f} MiB")

        rss.phase = "set-up"
        fixture = prepare_data(server.base_url, tools["picpaygo"], env)
        rss_ready = rss.read_kib() or 0
        argon2 = argon2_cost()
        log(f"one Argon2id verify ({argon2.params}): {argon2.cpu_ms:.0f} ms CPU")
        log(f"data ready: user {fixture.user_id}, job {fixture.job_id}")

        base = server.base_url
        http: dict[str, WrkResult] = {}
        for name, method, path, body, with_cookie, *_ in ENDPOINTS:
            url_path = path.format(job_id=fixture.job_id)
            cookie = fixture.cookie if with_cookie else ""
            rss.phase = f"wrk {method} {path.replace('{job_id}', '{id}')}"
            request = {"method": method, "body": body, "cookie": cookie}
            if args.warmup:
                run_wrk(args, base, name, url_path, duration=args.warmup, save=False, **request)
            result = run_wrk(args, base, name, url_path, server_pid=pid, **request)
            http[name] = result
            log(
                f"{method} {url_path}: {result.rps:,.0f} req/s, p50 {result.p50_ms:.2f} ms, "
                f"p99 {result.p99_ms:.2f} ms, non-2xx {result.non_2xx}, "
                f"socket errors {result.socket_errors}, API CPU {result.server_cpu:.0%}"
            )
        db.execute("VACUUM ANALYZE")

        rss.phase = "credits without logins"
        credits = {"cookie": fixture.cookie, "server_pid": pid}
        baseline = run_wrk(args, base, "credits-baseline", "/api/credits", **credits)
        log(f"credits without logins: {baseline.rps:,.0f} req/s, p99 {baseline.p99_ms:.2f} ms")
        login_runs: list[tuple[LoginLoad, WrkResult]] = []
        rates = [args.light_login_rate] if args.light_login_rate > 0 else []
        for rate in [*rates, args.login_rate]:
            rss.phase = f"credits + {rate:g} logins/s"
            logins = LoginLoad(base, rate)
            logins.start()
            try:
                time.sleep(2.0)
                loaded = run_wrk(args, base, f"credits-logins-{rate:g}", "/api/credits", **credits)
            finally:
                logins.stop()  # waits for the logins still in flight
            login_runs.append((logins, loaded))
            log(
                f"credits with {rate:g} logins/s: {loaded.rps:,.0f} req/s, "
                f"p99 {loaded.p99_ms:.2f} ms; logins achieved {logins.achieved_rate:.1f}/s, "
                f"answers {dict(logins.statuses)}, {logins.in_flight_at_stop} in flight at stop"
            )
        db.execute("VACUUM ANALYZE")

        rss.phase = "pgbench (server idle)"
        variables = {
            "token_hash": fixture.token_hash,
            "user_id": fixture.user_id,
            "network": NETWORK,
            "job_id": fixture.job_id,
            "actor": f"user:{fixture.user_id}",
            "reason": "consume",
            "amount": "-1",
            "n": "1",
            "now": started.isoformat(),
            "nokey": "-",
        }
        pg: dict[str, PgbenchResult] = {}
        for name, *_, script in ENDPOINTS:
            if script is None:
                continue
            result = run_pgbench(args, db, name, SQL_DIR / script, variables)
            pg[name] = result
            log(
                f"pgbench {script}: {result.tps:,.0f} tps, avg {result.latency_avg_ms:.3f} ms, "
                f"p99 {fmt(result.p99_ms, 3)} ms, failed {result.failed}"
            )

        finished = dt.datetime.now(dt.UTC)
        env_info["loadavg_end"] = load_average()
        text = write_report(
            args,
            command=command,
            started=started,
            finished=finished,
            env_info=env_info,
            fixture=fixture,
            http=http,
            pg=pg,
            baseline=baseline,
            login_runs=login_runs,
            argon2=argon2,
            children=children,
            rss_idle_kib=rss_idle,
            rss_ready_kib=rss_ready,
            rss=rss,
        )
        (args.log_dir / "BENCHMARKS.md").write_text(text)
        log(f"wrote {args.output} ({time.monotonic() - run_started:.0f} s)")
        return 0
    finally:
        if rss is not None:
            rss.stop()
        if server is not None:
            log("stopping the server")
            server.stop()
        if created:
            log(f"dropping database {db.name}")
            try:
                db.drop()
            except psycopg.Error as exc:
                log(f"could not drop {db.name}: {exc}")


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # runs main()'s clean-up: server stopped, database dropped


def run_as_script(main: Callable[[], int]) -> None:
    """Run a benchmark's ``main`` and exit with its code; SIGTERM and Ctrl-C still let
    its clean-up run, and a ``BenchError`` ends it with one line."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("bench interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    run_as_script(main)
