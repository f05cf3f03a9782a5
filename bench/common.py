"""What the benchmarks share: paths, options, CPU time, the report's blocks.

Importing this module makes the tests' support package (``tests/support``: the server and
worker processes, throwaway databases, the fake OpenRouter, test images) importable, so
the benchmarks drive the service with the same harness as the tests. The run's start
(for the machine line) is when this module is imported.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
STARTED, LOAD_BEFORE = time.time(), os.getloadavg()


def options(doc: str, *, pg: bool = True) -> argparse.ArgumentParser:
    """A parser described by ``doc``'s first paragraph, with ``--no-write`` (and ``--pg``)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--no-write", action="store_true", help="print, leave BENCHMARKS.md")
    if pg:
        parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    return parser


def run_command(command: list[str], **options: Any) -> str:
    """Run ``command`` (``options`` as for ``subprocess.run``, ten minutes at most unless
    told); its stdout, or ``RuntimeError`` with its output if it fails."""
    options.setdefault("timeout", 600)
    done = subprocess.run(command, capture_output=True, text=True, check=False, **options)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return str(done.stdout)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_line() -> str:
    """Where and when the figures were taken."""
    model = re.search(r"^model name\s*:\s*(.*)$", Path("/proc/cpuinfo").read_text(), re.M)
    cpu = model.group(1).strip() if model else "unknown CPU"
    commit = run_command(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]).strip()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(STARTED))
    before, after = (" ".join(f"{x:.2f}" for x in load) for load in (LOAD_BEFORE, os.getloadavg()))
    return (
        f"Machine: {os.cpu_count()} cores ({cpu}), shared; Python {platform.python_version()}; "
        f"commit {commit}; {when}, took {time.time() - STARTED:.0f} s; load average (1, 5, 15 "
        f"min) {before} at the start, {after} at the end"
    )


def publish(name: str, text: str, args: argparse.Namespace) -> None:
    """Print ``text``; unless ``--no-write``, put it between ``<!-- name:begin -->`` and
    ``<!-- name:end -->`` in BENCHMARKS.md (appended with the markers if they are absent)."""
    print(text)
    if args.no_write:
        return
    path, begin, end = ROOT / "BENCHMARKS.md", f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    content = path.read_text()
    if begin not in content:
        content = f"{content.rstrip()}\n\n{begin}\n{end}\n"
    head, _, rest = content.partition(begin)
    path.write_text(f"{head}{begin}\n{text}\n{end}{rest.partition(end)[2]}")
