"""Our API next to the seed stack it replaces, side by side in one run.

Both get the same 1,000 users (each with a live session and a balance of 1,000,000), one
API process each, and the same wrk load, interleaved per endpoint (seed, ours, seed,
ours). Also measured: each server's CPU time per request, and, on a fresh server per
stack, the SQL statements per request (PostgreSQL's statement log, ``log_statement=all``
on the benchmark databases only) and the round trips per request (``sendto`` calls of
the database driver, by strace). Last, pgbench runs the statements of our hot paths,
generated from the SQL constants of ``adapters.postgres.sql``. The figures go to
BENCHMARKS.md, between the ``run`` markers.

Usage (from the repository root, in the project's virtualenv; the seed stack needs its
own virtualenv with fastapi, uvicorn[standard] and asyncpg, see its README):
    python bench/run.py --seed-python /path/to/seed-venv/bin/python
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
from common import (
    ROOT,
    cpu_seconds,
    fresh_database,
    machine_line,
    picpaygo,
    replace_block,
    run_command,
    url_of,
)

from adapters.postgres.sql import CREDITS_FOR_SESSION_SQL, SESSION_WITH_USER_SQL, SPEND_SQL
from picpaygo_core.networks import client_network
from support.images import jpeg_bytes
from support.server import ServerProcess

WRK_SCRIPT = ROOT / "bench" / "wrk.lua"
PG_LOG = Path("/var/log/postgresql/postgresql-15-main.log")
# (name, seed path, our path, method, body)
ENDPOINTS = [
    ("trivial", "/hello", "/api/auth/google/config", "GET", ""),
    ("GET /api/auth/me", "/api/auth/me", "/api/auth/me", "GET", ""),
    ("GET /api/credits", "/api/credits", "/api/credits", "GET", ""),
    (
        "POST /api/credits/consume",
        "/api/credits/consume",
        "/api/credits/consume",
        "POST",
        '{"amount":1}',
    ),
]
BALANCE = 1_000_000
ONE_USER = "md5('bench-user-' || n)::uuid"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed-dir", default=str(ROOT.parent / "shared/bench/seed_ref"))
    parser.add_argument("--seed-python", default="/tmp/seedref/bin/python")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--count-requests", type=int, default=100)
    parser.add_argument("--no-write", action="store_true", help="print, leave BENCHMARKS.md")
    return parser.parse_args()


def seed_our_users(url: str, users: int, network: str) -> None:
    """The seed's users, sessions (same tokens, stored as their SHA-256) and balances,
    each balance explained by one ledger entry; the loopback network's free credits
    spent, so every consume takes the paid path."""
    with psycopg.connect(url, autocommit=True) as conn:
        script = f"""
            INSERT INTO users (id, email, email_key, password_hash, name, is_google_account,
                               created_at)
            SELECT {ONE_USER}, 'bench' || n || '@example.com', 'bench' || n || '@example.com',
                   NULL, 'Bench User ' || n, false, now() FROM generate_series(1, %(n)s) n;
            INSERT INTO credits (user_id, balance, updated_at)
            SELECT {ONE_USER}, %(balance)s, now() FROM generate_series(1, %(n)s) n;
            INSERT INTO credit_ledger (id, user_id, amount, reason, actor, created_at)
            SELECT gen_random_uuid(), {ONE_USER}, %(balance)s, 'grant', 'bench', now()
            FROM generate_series(1, %(n)s) n;
            INSERT INTO sessions (token_hash, user_id, created_at, expires_at)
            SELECT encode(sha256(convert_to(md5('bench-session-' || n), 'UTF8')), 'hex'),
                   {ONE_USER}, now(), now() + interval '30 days'
            FROM generate_series(1, %(n)s) n;
            INSERT INTO free_credits (network, remaining, updated_at)
            VALUES (%(network)s, 0, now())
            """
        for statement in script.split(";"):
            conn.execute(statement, {"n": users, "balance": BALANCE, "network": network})
        for table in ("users", "credits", "sessions", "credit_ledger", "free_credits"):
            conn.execute(f"VACUUM ANALYZE {table}")


def tokens(users: int) -> list[str]:
    return [hashlib.md5(f"bench-session-{n}".encode()).hexdigest() for n in range(1, users + 1)]


@contextmanager
def servers(args: argparse.Namespace, urls: dict[str, str]) -> Iterator[dict[str, ServerProcess]]:
    """One API process per stack, started and ready; stopped on exit."""
    started = {
        "seed": ServerProcess(
            {"BENCH_DSN": urls["seed"]},
            command=[
                args.seed_python,
                "-m",
                "uvicorn",
                "app:app",
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--log-level",
                "warning",
            ],
            cwd=args.seed_dir,
        ),
        "ours": ServerProcess(
            {
                "DATABASE_URL": urls["ours"],
                "SESSION_COOKIE": "session",
                "JOB_WORKERS": "0",
                "LOG_LEVEL": "WARNING",
            }
        ),
    }
    try:
        for server in started.values():
            server.start()
            server.wait_ready()
        yield started
    finally:
        for server in started.values():
            server.close()


def wrk(
    url: str, method: str, body: str, token_file: str, seconds: int, args: argparse.Namespace
) -> dict[str, float]:
    env = {**os.environ, "BENCH_TOKENS": token_file, "BENCH_METHOD": method, "BENCH_BODY": body}
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(WRK_SCRIPT),
        url,
    ]
    out = run_command(command, env=env, timeout=seconds + 60)
    line = next(line for line in out.splitlines() if line.startswith("BENCH_RESULT "))
    result: dict[str, float] = json.loads(line.removeprefix("BENCH_RESULT "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def load(args: argparse.Namespace, running: dict[str, ServerProcess], token_file: str) -> dict:
    """wrk on every endpoint, the stacks interleaved; CPU µs per request of each server."""
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    for name, seed_path, our_path, method, body in ENDPOINTS:
        results[name] = {"seed": [], "ours": []}
        for _ in range(args.rounds):
            for stack, path in (("seed", seed_path), ("ours", our_path)):
                server = running[stack]
                url = server.base_url + path
                wrk(url, method, body, token_file, 2, args)  # warm-up
                cpu = cpu_seconds(server.process.pid)
                result = wrk(url, method, body, token_file, args.duration, args)
                used = cpu_seconds(server.process.pid) - cpu
                result["cpu_us"] = used * 1e6 / max(result["requests"], 1)
                results[name][stack].append(result)
                print(
                    f"{name:28} {stack:4} {result['rps']:8.0f} req/s  "
                    f"p99 {result['p99_us'] / 1000:6.2f} ms  {result['cpu_us']:6.0f} µs CPU  "
                    f"{result['non2xx'] + result['errors']:.0f} bad",
                    flush=True,
                )
    return results


def log_statements(database: str, since: int) -> int:
    """Statements PostgreSQL logged for ``database`` after byte offset ``since``."""
    with PG_LOG.open("rb") as log:
        log.seek(since)
        text = log.read().decode("utf-8", "replace")
    pattern = re.compile(rf"@{re.escape(database)} LOG:  (statement|execute [^:]*):")
    return sum(1 for line in text.splitlines() if pattern.search(line))


def count_per_request(
    args: argparse.Namespace, urls: dict[str, str], token_list: list[str]
) -> dict:
    """Statements (from the log) and round trips (libpq's ``sendto`` calls, by strace)
    per request, on a fresh server per stack with ``log_statement=all`` on its database."""
    counts: dict[str, dict[str, tuple[float, float]]] = {}
    names = {stack: urls[stack].rsplit("/", 1)[1] for stack in urls}
    with psycopg.connect(args.pg, autocommit=True) as admin:
        for database in names.values():
            admin.execute(f"ALTER DATABASE {database} SET log_statement = 'all'")
        try:
            with servers(args, urls) as running:
                paths = [(n, s, o, m, b) for n, s, o, m, b in ENDPOINTS]
                paths.append(("POST /api/generate", "", "/api/generate", "POST", ""))
                for name, seed_path, our_path, method, body in paths:
                    counts[name] = {}
                    for stack, path in (("seed", seed_path), ("ours", our_path)):
                        if path:
                            counts[name][stack] = count_one(
                                args, running[stack], names[stack], path, method, body, token_list
                            )
        finally:
            for database in names.values():
                admin.execute(f"ALTER DATABASE {database} RESET log_statement")
    return counts


def count_one(
    args: argparse.Namespace,
    server: ServerProcess,
    database: str,
    path: str,
    method: str,
    body: str,
    token_list: list[str],
) -> tuple[float, float]:
    """Statements and round trips per request over ``--count-requests`` sequential ones."""
    n = args.count_requests
    trace = Path(tempfile.mkstemp(suffix=".strace")[1])
    strace = subprocess.Popen(
        [
            "strace",
            "-f",
            "-qq",
            "-e",
            "trace=sendto,recvfrom",
            "-s",
            "0",
            "-o",
            str(trace),
            "-p",
            str(server.process.pid),
        ],
        stderr=subprocess.DEVNULL,
    )
    with httpx.Client(base_url=server.base_url) as client:
        send = request_maker(client, path, method, body)
        time.sleep(1.0)
        for token in token_list[:3]:  # warm connections, checked by the pool if idle
            send(token)
        time.sleep(0.3)
        since, skip = PG_LOG.stat().st_size, len(trace.read_text().splitlines())
        for i in range(n):
            send(token_list[(i + 3) % len(token_list)])
        time.sleep(0.3)
        strace.terminate()
        strace.wait()
    time.sleep(1.0)  # the log is written by another process
    lines = trace.read_text().splitlines()[skip:]
    trace.unlink()
    return log_statements(database, since) / n, flights(lines) / n


def flights(strace_lines: list[str]) -> int:
    """Round trips in strace output: runs of ``sendto`` on one socket after it read data."""
    call = re.compile(r"(sendto|recvfrom)\((\d+),.*= (-?\d+)")
    count, sending = 0, set()
    for line in strace_lines:
        match = call.search(line)
        if not match:
            continue
        name, fd, result = match.group(1), match.group(2), int(match.group(3))
        if name == "sendto" and fd not in sending:
            count += 1
            sending.add(fd)
        elif name == "recvfrom" and result > 0:
            sending.discard(fd)
    return count


def request_maker(client: httpx.Client, path: str, method: str, body: str):
    photo = jpeg_bytes()

    def send(token: str) -> None:
        cookies = {"session": token}
        if path == "/api/generate":
            response = client.post(
                path,
                cookies=cookies,
                data={"category": "portraits"},
                files={"image": ("me.jpg", photo, "image/jpeg")},
            )
        elif method == "POST":
            response = client.post(
                path, cookies=cookies, content=body, headers={"content-type": "application/json"}
            )
        else:
            response = client.get(path, cookies=cookies)
        response.raise_for_status()

    return send


def pgbench_scripts() -> dict[str, str]:
    """pgbench scripts from the SQL our hot paths run (one transaction per request)."""

    def script(*statements: bytes) -> str:
        text = ";\n".join(s.decode().strip() for s in statements) + ";\n"
        for name, value in (
            ("entry_id", "gen_random_uuid()"),
            ("now", "now()"),
            ("job_id", "NULL"),
            ("idempotency_key", "NULL"),
        ):
            text = text.replace(f"%({name})s", value)
        return re.sub(r"%\((\w+)\)s", r":\1", text)

    return {
        "GET /api/auth/me": script(SESSION_WITH_USER_SQL),
        "GET /api/credits": script(CREDITS_FOR_SESSION_SQL),
        "POST /api/credits/consume": script(SESSION_WITH_USER_SQL, SPEND_SQL),
    }


def pgbench(url: str, network: str, seconds: int) -> dict[str, float]:
    token = tokens(1)[0]
    variables = {
        "token_hash": hashlib.sha256(token.encode()).hexdigest(),
        "network": network,
        "user_id": str(user_uuid(1)),
        "amount": "1",
        "reason": "consume",
        "actor": "bench",
    }
    tps = {}
    for name, text in pgbench_scripts().items():
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
            f.write(text)
        command = [
            "pgbench",
            "-n",
            "-M",
            "prepared",
            "-c",
            "8",
            "-j",
            "1",
            f"-T{seconds}",
            "-f",
            f.name,
            *[f"-D{k}={v}" for k, v in variables.items()],
            url,
        ]
        out = run_command(command, timeout=seconds + 60)
        tps[name] = float(re.search(r"tps = ([\d.]+)", out).group(1))  # type: ignore[union-attr]
        os.unlink(f.name)
    return tps


def user_uuid(n: int) -> str:
    digest = hashlib.md5(f"bench-user-{n}".encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:]}"


def report(
    args: argparse.Namespace,
    results: dict,
    counts: dict,
    tps: dict,
    started: float,
    load_before: str,
) -> str:
    def best(runs: list[dict[str, float]]) -> dict[str, float]:
        return {
            "rps": sum(r["rps"] for r in runs) / len(runs),
            "p99": max(r["p99_us"] for r in runs) / 1000,
            "cpu": sum(r["cpu_us"] for r in runs) / len(runs),
            "bad": sum(r["errors"] + r["non2xx"] for r in runs),
        }

    lines = [
        f"- Command: `python bench/run.py` ({args.rounds} rounds, interleaved seed, ours, ...)",
        f"- {machine_line(started, load_before)}",
        f"- Load: `wrk -t{args.threads} -c{args.connections} -d{args.duration}s` per endpoint "
        f"and stack, after a 2 s warm-up; each request carries the session of one of "
        f"{args.users:,} users, drawn at random (the same tokens for both stacks)",
        "",
        "| endpoint | seed req/s | ours req/s | **ours ÷ seed** | p99 ms, seed / ours "
        "| API CPU µs per request, seed / ours | SQL statements per request, seed / ours "
        "| round trips per request, seed / ours | errors + non-2xx |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, per_stack in results.items():
        seed, ours = best(per_stack["seed"]), best(per_stack["ours"])
        count = counts.get(name, {})
        statements = " / ".join(
            f"{count[s][0]:.2f}" if s in count else "-" for s in ("seed", "ours")
        )
        trips = " / ".join(  # asyncpg sends each statement on its own: one trip each
            f"{count[s][int(s == 'ours')]:.2f}" if s in count else "-" for s in ("seed", "ours")
        )
        lines.append(
            f"| {name} | {seed['rps']:,.0f} | {ours['rps']:,.0f} "
            f"| **{ours['rps'] / seed['rps']:.2f}** "
            f"| {seed['p99']:.2f} / {ours['p99']:.2f} | {seed['cpu']:,.0f} / {ours['cpu']:,.0f} "
            f"| {statements} | {trips} | {seed['bad'] + ours['bad']:.0f} |"
        )
    if "POST /api/generate" in counts:
        ours_gen = counts["POST /api/generate"]["ours"]
        lines.append(
            f"| POST /api/generate (not loaded) | - | - | - | - | - | - / {ours_gen[0]:.2f} "
            f"| - / {ours_gen[1]:.2f} | - |"
        )
    lines += [
        "",
        "Per round (req/s, seed / ours): "
        + "; ".join(
            f"{name}: "
            + ", ".join(
                f"{s['rps']:,.0f} / {o['rps']:,.0f}"
                for s, o in zip(v["seed"], v["ours"], strict=True)
            )
            for name, v in results.items()
        )
        + ".",
        "",
    ]
    lines += [
        "**Database ceiling** (pgbench `-M prepared -c 8 -j 1`, scripts generated from "
        "`adapters.postgres.sql`, one user): "
        + "; ".join(f"{name} {value:,.0f} tps" for name, value in tps.items())
        + "."
    ]
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    started, load_before = time.time(), os.getloadavg()
    network = client_network("127.0.0.1")
    urls = {"seed": url_of(args.pg, "bench_ref"), "ours": url_of(args.pg, "picpaygo_bench")}
    token_list = tokens(args.users)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as token_file:
        token_file.write("\n".join(token_list) + "\n")
    for url in urls.values():
        fresh_database(args.pg, url)
    picpaygo(["db", "migrate"], {"DATABASE_URL": urls["ours"]})
    seed_our_users(urls["ours"], args.users, network)
    with servers(args, urls) as running:  # its start-up makes the seed's schema
        env = {**os.environ, "BENCH_DSN": urls["seed"], "BENCH_TOKENS": token_file.name}
        run_command([args.seed_python, "seed_data.py", str(args.users)], env=env, cwd=args.seed_dir)
        results = load(args, running, token_file.name)
    counts = count_per_request(args, urls, token_list)
    tps = pgbench(urls["ours"], network, 10)
    text = report(args, results, counts, tps, started, " ".join(f"{x:.2f}" for x in load_before))
    print(text)
    if not args.no_write:
        replace_block(ROOT / "BENCHMARKS.md", "run", text)
    os.unlink(token_file.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
