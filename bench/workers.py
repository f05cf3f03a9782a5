"""Two API processes against one: `picpaygo serve --workers 2` next to `--workers 1`.

Both servers run at once on the same database (1,000 users with a session and a large
balance, as in ``run.py``) and get the same wrk load, interleaved per endpoint (one
worker, two workers, one, two, ...). The figure that matters is the ratio of their
requests per second, measured in one run: on a machine with two cores, the load
generator and PostgreSQL share those cores with the API processes.

Usage (from the repository root, in the project's virtualenv):
    python bench/workers.py [--rounds 2] [--duration 10] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import tempfile

from common import machine_line, options, publish
from run import OUR_SERVER, measure, seed_our_users, tokens

from picpaygo_core.networks import client_network
from support.postgres import throwaway_database
from support.server import ServerProcess, picpaygo_command, serving

WORKER_COUNTS = (1, 2)
# name: (path, method, JSON body)
ENDPOINTS = {
    "GET /api/health/live": ("/api/health/live", "GET", ""),
    "GET /api/auth/me": ("/api/auth/me", "GET", ""),
    "GET /api/credits": ("/api/credits", "GET", ""),
    "POST /api/credits/consume": ("/api/credits/consume", "POST", '{"amount":1}'),
}
Results = dict[str, dict[int, list[dict[str, float]]]]


def parse_args() -> argparse.Namespace:
    parser = options(__doc__)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    return parser.parse_args()


def load(args: argparse.Namespace, running: dict[int, ServerProcess]) -> Results:
    """wrk on every endpoint, the two servers interleaved."""
    results: Results = {}
    for name, (path, method, body) in ENDPOINTS.items():
        results[name] = {count: [] for count in WORKER_COUNTS}
        for _ in range(args.rounds):
            for count in WORKER_COUNTS:
                result = measure(args, running[count], path, method, body)
                results[name][count].append(result)
                print(
                    f"{name:28} workers={count} {result['rps']:8.0f} req/s  "
                    f"p99 {result['p99_us'] / 1000:6.2f} ms  "
                    f"{result['non2xx'] + result['errors']:.0f} bad",
                    flush=True,
                )
    return results


def report(args: argparse.Namespace, results: Results) -> str:
    """The Markdown block for BENCHMARKS.md."""
    lines = [
        f"- Command: `python bench/workers.py` ({args.rounds} rounds, interleaved "
        "1 worker, 2 workers, ...)",
        f"- {machine_line()}",
        f"- Load: `wrk -t{args.threads} -c{args.connections} -d{args.duration}s` per endpoint "
        f"and server, after a 2 s warm-up; each request carries the session of one of "
        f"{args.users:,} users, drawn at random",
        "",
        "| endpoint | 1 worker req/s | 2 workers req/s | **2 ÷ 1** "
        "| p99 ms, 1 / 2 | errors + non-2xx |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, by_count in results.items():
        one, two = (sum(r["rps"] for r in by_count[n]) / len(by_count[n]) for n in WORKER_COUNTS)
        p99 = [max(r["p99_us"] for r in by_count[n]) / 1000 for n in WORKER_COUNTS]
        bad = sum(r["non2xx"] + r["errors"] for n in WORKER_COUNTS for r in by_count[n])
        lines.append(
            f"| {name} | {one:,.0f} | {two:,.0f} | **{two / one:.2f}** "
            f"| {p99[0]:.2f} / {p99[1]:.2f} | {bad:.0f} |"
        )
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    with (
        throwaway_database(admin_url=args.pg) as url,
        tempfile.NamedTemporaryFile("w", suffix=".txt") as token_file,
    ):
        token_file.write("\n".join(tokens(args.users)) + "\n")
        token_file.flush()
        args.token_file = token_file.name
        seed_our_users(url, args.users, client_network("127.0.0.1"))
        env = {**OUR_SERVER, "DATABASE_URL": url}
        serve = [*picpaygo_command(), "serve"]
        with (
            serving(env, command=[*serve, "--workers", "1"]) as one,
            serving(env, command=[*serve, "--workers", "2"]) as two,
        ):
            results = load(args, {1: one, 2: two})
    publish("workers", report(args, results), args)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
