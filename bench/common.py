"""What both benchmarks share: paths, databases, CPU time, the report's blocks.

Importing this module makes the tests' support package (``tests/support``: the server and
worker processes, the fake OpenRouter, test images) importable, so the benchmarks drive
the service with the same harness as the tests.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.server import clean_environment, picpaygo_command  # noqa: E402


def run_command(
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    timeout: float = 600,
) -> str:
    """Run ``command``; its stdout, or ``RuntimeError`` with its output if it fails."""
    done = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def picpaygo(arguments: list[str], env: dict[str, str]) -> str:
    """Run the ``picpaygo`` command line with ``env``."""
    return run_command([*picpaygo_command(), *arguments], env=clean_environment(env))


def url_of(admin_url: str, database: str) -> str:
    """``admin_url`` pointing at ``database``."""
    return admin_url.rsplit("/", 1)[0] + "/" + database


def fresh_database(admin_url: str, url: str) -> None:
    """Drop and create the database of ``url``."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_line(started: float, load_before: str) -> str:
    """Where and when the figures were taken."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    commit = run_command(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]).strip()
    took = time.time() - started
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started))
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"Machine: {os.cpu_count()} cores ({cpu}), shared; Python {platform.python_version()}; "
        f"commit {commit}; {when}, took {took:.0f} s; load average (1, 5, 15 min) "
        f"{load_before} at the start, {load_after} at the end"
    )


def replace_block(path: Path, name: str, text: str) -> None:
    """Put ``text`` between ``<!-- name:begin -->`` and ``<!-- name:end -->`` in ``path``."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    content = path.read_text()
    head, _, rest = content.partition(begin)
    _, _, tail = rest.partition(end)
    path.write_text(f"{head}{begin}\n{text}\n{end}{tail}")
