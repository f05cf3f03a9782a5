"""Our API next to the seed stack it replaces, side by side in one run.

Both get the same 1,000 users (each with a live session and a balance of 1,000,000), one
API process each (ours is a child of Granian's main process, counted with it), and the
same wrk load, interleaved per endpoint (seed, ours, seed, ours). Also measured: each
server's CPU time per request, and, on a fresh server per
stack, the SQL statements per request (PostgreSQL's statement log, ``log_statement=all``
on the benchmark databases only) and the round trips per request (``sendto`` calls of
the database driver, by strace). Last, pgbench runs the statements of our hot paths,
generated from the SQL constants of the PostgreSQL adapter. The figures go to
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
import shlex
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
from common import ROOT, cpu_seconds, machine_line, options, publish, run_command

from adapters.postgres.credits import SPEND_SQL
from adapters.postgres.users import CALLER_SQL, SESSION_WITH_USER_SQL
from picpaygo_core.networks import client_network
from support.images import jpeg_bytes
from support.postgres import throwaway_database
from support.server import ServerProcess, serving

WRK_SCRIPT = ROOT / "bench" / "wrk.lua"
PG_LOG = Path("/var/log/postgresql/postgresql-15-main.log")
SEED_SERVER = shlex.split("-m uvicorn app:app --loop uvloop --http httptools --log-level warning")
OUR_SERVER = {"SESSION_COOKIE": "session", "JOB_WORKERS": "0", "LOG_LEVEL": "WARNING"}
STACKS = ("seed", "ours")
CONSUME = "/api/credits/consume"
# name: (seed path, our path, method, JSON body)
ENDPOINTS = {
    "trivial": ("/hello", "/api/auth/google/config", "GET", ""),
    "GET /api/auth/me": ("/api/auth/me", "/api/auth/me", "GET", ""),
    "GET /api/credits": ("/api/credits", "/api/credits", "GET", ""),
    "POST /api/credits/consume": (CONSUME, CONSUME, "POST", '{"amount":1}'),
}
# Counted, not loaded (ours only): the upload's request path.
COUNTED = {**ENDPOINTS, "POST /api/generate": ("", "/api/generate", "POST", "")}
BALANCE = 1_000_000
# Parameters of the pgbench scripts that are SQL, not pgbench variables.
CONSTANTS = {"entry_id": "gen_random_uuid()", "now": "now()"}
CONSTANTS |= dict.fromkeys(["job_id", "idempotency_key"], "NULL")
ONE_USER = "md5('bench-user-' || n)::uuid"
Results = dict[str, dict[str, list[dict[str, float]]]]
Counts = dict[str, dict[str, tuple[float, float]]]


def parse_args() -> argparse.Namespace:
    parser = options(__doc__)
    parser.add_argument("--seed-dir", default=str(ROOT.parent / "shared/bench/seed_ref"))
    parser.add_argument("--seed-python", default="/tmp/seedref/bin/python")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--count-requests", type=int, default=100)
    return parser.parse_args()


def seed_our_users(url: str, users: int, client_network: str) -> None:
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
            conn.execute(statement, {"n": users, "balance": BALANCE, "network": client_network})
        conn.execute("VACUUM ANALYZE users, credits, sessions, credit_ledger, free_credits")


def tokens(users: int) -> list[str]:
    """The session tokens of users 1 to ``users``, as both stacks' data have them."""
    return [hashlib.md5(f"bench-session-{n}".encode()).hexdigest() for n in range(1, users + 1)]


@contextmanager
def servers(args: argparse.Namespace, urls: dict[str, str]) -> Iterator[dict[str, ServerProcess]]:
    """One API process per stack, started and ready; stopped on exit."""
    seed_command = [args.seed_python, *SEED_SERVER]
    with (
        serving({"BENCH_DSN": urls["seed"]}, command=seed_command, cwd=args.seed_dir) as seed,
        serving({**OUR_SERVER, "DATABASE_URL": urls["ours"]}) as ours,
    ):
        yield {"seed": seed, "ours": ours}


def wrk(args: argparse.Namespace, url: str, method: str, body: str, seconds: int) -> dict:
    """One wrk run on ``url``: the figures of its ``BENCH_RESULT`` line, and req/s."""
    env = {"BENCH_TOKENS": args.token_file, "BENCH_METHOD": method, "BENCH_BODY": body}
    flags = shlex.split(f"-t{args.threads} -c{args.connections} -d{seconds}s --latency")
    command = ["wrk", *flags, "-s", str(WRK_SCRIPT), url]
    out = run_command(command, env={**os.environ, **env}, timeout=seconds + 60)
    line = next(line for line in out.splitlines() if line.startswith("BENCH_RESULT "))
    result: dict[str, float] = json.loads(line.removeprefix("BENCH_RESULT "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def load(args: argparse.Namespace, running: dict[str, ServerProcess]) -> Results:
    """wrk on every endpoint, the stacks interleaved; CPU µs per request of each server."""
    results: Results = {}
    for name, (*paths, method, body) in ENDPOINTS.items():
        results[name] = {stack: [] for stack in STACKS}
        for _ in range(args.rounds):
            for stack, path in zip(STACKS, paths, strict=True):
                result = measure(args, running[stack], path, method, body)
                results[name][stack].append(result)
                print(
                    f"{name:28} {stack:4} {result['rps']:8.0f} req/s  "
                    f"p99 {result['p99_us'] / 1000:6.2f} ms  {result['cpu_us']:6.0f} µs CPU  "
                    f"{result['non2xx'] + result['errors']:.0f} bad",
                    flush=True,
                )
    return results


def measure(
    args: argparse.Namespace, server: ServerProcess, path: str, method: str, body: str
) -> dict[str, float]:
    """One measured wrk run on ``server``'s ``path`` after a 2 s warm-up, with the server's
    CPU µs per request (``cpu_us``)."""
    url = server.base_url + path
    wrk(args, url, method, body, 2)  # warm-up
    cpu = tree_cpu_seconds(server.process.pid)
    result = wrk(args, url, method, body, args.duration)
    used = tree_cpu_seconds(server.process.pid) - cpu
    result["cpu_us"] = used * 1e6 / max(result["requests"], 1)
    return result


def process_tree(pid: int) -> list[int]:
    """``pid`` and its children: our API runs in a process that Granian's main one starts."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *map(int, children)]


def tree_cpu_seconds(pid: int) -> float:
    """CPU time so far of ``pid`` and its children."""
    return sum(cpu_seconds(one) for one in process_tree(pid))


def count_per_request(args: argparse.Namespace, urls: dict[str, str]) -> Counts:
    """Statements (from the log) and round trips (the driver's ``sendto`` calls, by strace)
    per request, on a fresh server per stack with ``log_statement=all`` on its database
    (which is dropped at the end of the run)."""
    with psycopg.connect(args.pg, autocommit=True) as admin:
        for url in urls.values():
            admin.execute(f"ALTER DATABASE {url.rsplit('/', 1)[1]} SET log_statement = 'all'")
    with servers(args, urls) as running:
        return {
            name: {
                stack: count_one(args, running[stack], urls[stack], path, method, body)
                for stack, path in zip(STACKS, paths, strict=True)
                if path
            }
            for name, (*paths, method, body) in COUNTED.items()
        }


def count_one(
    args: argparse.Namespace, server: ServerProcess, url: str, path: str, method: str, body: str
) -> tuple[float, float]:
    """Statements and round trips per request over ``--count-requests`` sequential ones."""
    n, token_list = args.count_requests, tokens(args.users)
    trace = Path(tempfile.mkstemp(suffix=".strace")[1])
    attach = [f"-p{pid}" for pid in process_tree(server.process.pid)]
    command = [*shlex.split("strace -f -qq -e trace=sendto,recvfrom -s 0"), *attach]
    strace = subprocess.Popen([*command, "-o", str(trace)], stderr=subprocess.DEVNULL)
    with httpx.Client(base_url=server.base_url) as client:
        send = sender(client, path, method, body)
        time.sleep(1.0)  # strace attaches
        for token in token_list[:3]:  # warm connections, checked by the pool if idle
            send(token)
        time.sleep(0.3)
        since, skip = PG_LOG.stat().st_size, len(trace.read_text())
        for i in range(n):
            send(token_list[(i + 3) % len(token_list)])
        time.sleep(0.3)
        strace.terminate()
        strace.wait()
    time.sleep(1.0)  # the log is written by another process
    calls = trace.read_text()[skip:]
    trace.unlink()
    return log_statements(url.rsplit("/", 1)[1], since) / n, flights(calls) / n


def sender(client: httpx.Client, path: str, method: str, body: str) -> Callable[[str], None]:
    """Sends one request for ``path`` with a user's session token; raises unless 2xx."""
    request: dict = {}
    if path == "/api/generate":
        photo = ("me.jpg", jpeg_bytes(), "image/jpeg")
        request = {"data": {"category": "portraits"}, "files": {"image": photo}}
    elif body:
        request = {"content": body, "headers": {"content-type": "application/json"}}

    def send(token: str) -> None:
        client.cookies = {"session": token}
        client.request(method, path, **request).raise_for_status()

    return send


def log_statements(database: str, since: int) -> int:
    """Statements PostgreSQL logged for ``database`` after byte offset ``since``."""
    with PG_LOG.open("rb") as log:
        log.seek(since)
        text = log.read().decode("utf-8", "replace")
    pattern = re.compile(rf"@{re.escape(database)} LOG:  (statement|execute [^:]*):")
    return sum(1 for line in text.splitlines() if pattern.search(line))


def flights(trace: str) -> int:
    """Round trips in strace output: runs of ``sendto`` on one socket after it read data."""
    count, sending = 0, set()
    for call, fd, result in re.findall(r"(sendto|recvfrom)\((\d+),.*= (-?\d+)", trace):
        if call == "sendto" and fd not in sending:
            count += 1
            sending.add(fd)
        elif call == "recvfrom" and int(result) > 0:
            sending.discard(fd)
    return count


def pgbench_scripts() -> dict[str, str]:
    """pgbench scripts from the SQL our hot paths run (one transaction per request)."""

    def script(*statements: bytes) -> str:
        text = ";\n".join(s.decode().strip() for s in statements) + ";\n"
        return re.sub(r"%\((\w+)\)s", lambda m: CONSTANTS.get(m[1], f":{m[1]}"), text)

    return {
        "GET /api/auth/me": script(SESSION_WITH_USER_SQL),
        "GET /api/credits": script(CALLER_SQL),
        "POST /api/credits/consume": script(SPEND_SQL),
    }


def pgbench(url: str, client_network: str, seconds: int) -> dict[str, float]:
    """Transactions per second of each script, for user 1 on ``network``."""
    token_hash = hashlib.sha256(tokens(1)[0].encode()).hexdigest()
    user_id = uuid.UUID(hashlib.md5(b"bench-user-1").hexdigest())
    variables = {"token_hash": token_hash, "user_id": user_id, "amount": 1}
    variables |= {"network": client_network, "client_network": client_network}
    variables |= {"reason": "consume", "actor": "bench"}
    command = shlex.split(f"pgbench -n -M prepared -c 8 -j 1 -T{seconds} -f -")
    command += [*(f"-D{k}={v}" for k, v in variables.items()), url]
    tps = {}
    for name, text in pgbench_scripts().items():
        out = run_command(command, input=text, timeout=seconds + 60)
        tps[name] = float(re.search(r"tps = ([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return tps


def report(args: argparse.Namespace, results: Results, counts: Counts, tps: dict) -> str:
    """The ``run`` block of BENCHMARKS.md."""

    def mean(runs: list[dict[str, float]]) -> dict[str, float]:
        return {
            "rps": sum(r["rps"] for r in runs) / len(runs),
            "p99": max(r["p99_us"] for r in runs) / 1000,
            "cpu": sum(r["cpu_us"] for r in runs) / len(runs),
            "bad": sum(r["errors"] + r["non2xx"] for r in runs),
        }

    def rounds(runs: dict[str, list[dict[str, float]]]) -> Iterator[tuple[dict, dict]]:
        return zip(runs["seed"], runs["ours"], strict=True)

    def pair(count: dict[str, tuple[float, float]], index: dict[str, int]) -> str:
        return " / ".join(f"{count[s][index[s]]:.2f}" if s in count else "-" for s in STACKS)

    lines = [
        f"- Command: `python bench/run.py` ({args.rounds} rounds, interleaved seed, ours, ...)",
        f"- {machine_line()}",
        f"- Load: `wrk -t{args.threads} -c{args.connections} -d{args.duration}s` per endpoint "
        f"and stack, after a 2 s warm-up; each request carries the session of one of "
        f"{args.users:,} users, drawn at random (the same tokens for both stacks)",
        "",
        "| endpoint | seed req/s | ours req/s | **ours ÷ seed** | p99 ms, seed / ours "
        "| API CPU µs per request, seed / ours | SQL statements per request, seed / ours "
        "| round trips per request, seed / ours | errors + non-2xx |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    # asyncpg sends each statement on its own: the seed's round trips are its statements
    statements, trips = {"seed": 0, "ours": 0}, {"seed": 0, "ours": 1}
    for name, count in counts.items():
        label, loaded, bad = f"{name} (not loaded)", "- | - | - | - | -", "-"
        if name in results:
            seed, ours = mean(results[name]["seed"]), mean(results[name]["ours"])
            label, bad = name, f"{seed['bad'] + ours['bad']:.0f}"
            loaded = (
                f"{seed['rps']:,.0f} | {ours['rps']:,.0f} | **{ours['rps'] / seed['rps']:.2f}** "
                f"| {seed['p99']:.2f} / {ours['p99']:.2f} | {seed['cpu']:,.0f} / {ours['cpu']:,.0f}"
            )
        row = [label, loaded, pair(count, statements), pair(count, trips), bad]
        lines.append(f"| {' | '.join(row)} |")
    per_round = (
        f"{name}: " + ", ".join(f"{s['rps']:,.0f} / {o['rps']:,.0f}" for s, o in rounds(runs))
        for name, runs in results.items()
    )
    lines += [
        "",
        "Per round (req/s, seed / ours): " + "; ".join(per_round) + ".",
        "",
        "**Database ceiling** (pgbench `-M prepared -c 8 -j 1`, scripts generated from "
        "the PostgreSQL adapter, one user): "
        + "; ".join(f"{name} {value:,.0f} tps" for name, value in tps.items())
        + ".",
    ]
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    loopback = client_network("127.0.0.1")
    with (
        throwaway_database(admin_url=args.pg, migrated=False) as seed_url,
        throwaway_database(admin_url=args.pg) as our_url,
        tempfile.NamedTemporaryFile("w", suffix=".txt") as token_file,
    ):
        urls = {"seed": seed_url, "ours": our_url}
        token_file.write("\n".join(tokens(args.users)) + "\n")
        token_file.flush()
        args.token_file = token_file.name
        seed_our_users(our_url, args.users, loopback)
        with servers(args, urls) as running:  # its start-up makes the seed's schema
            env = {**os.environ, "BENCH_DSN": seed_url, "BENCH_TOKENS": token_file.name}
            seed_data = [args.seed_python, "seed_data.py", str(args.users)]
            run_command(seed_data, env=env, cwd=args.seed_dir)
            results = load(args, running)
        counts = count_per_request(args, urls)
        tps = pgbench(our_url, loopback, 10)
    publish("run", report(args, results, counts, tps), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
