"""Floods an attacker would send, and what they cost everyone else.

One ``picpaygo serve`` (in-memory storage, no job workers, loopback) per part:

1. **Upload flood**: 24 concurrent uploads of a 7000 x 7000 RGBA PNG (about 196 MB
   once decoded) from a network without credits, while another client polls
   ``GET /api/credits`` every 20 ms. Reported: the answers, the server's peak RSS
   (``VmHWM``), its CPU time, and the poller's latencies.
2. **Sign-in flood**: 400 concurrent wrong-password logins from one network (told apart
   through ``X-Forwarded-For`` from a trusted loopback proxy), and meanwhile one right
   login from another network; its latency against the same login on an idle server.

The figures go to BENCHMARKS.md, between the ``abuse`` markers (appended if absent).

Usage (from the repository root, in the project's virtualenv): python bench/abuse.py
"""

from __future__ import annotations

import asyncio
import io
import statistics
import time
from pathlib import Path

import httpx
from common import cpu_seconds, options, publish
from PIL import Image

from support.server import ServerProcess, serving

PASSWORD = "correct horse battery"
ATTACKER, VICTIM = "203.0.113.7", "198.51.100.1"
ROUNDS = 10


def huge_png(side: int = 7000) -> bytes:
    """A plain-colour RGBA PNG of ``side`` x ``side`` pixels, small once compressed."""
    out = io.BytesIO()
    Image.new("RGBA", (side, side), (40, 120, 200, 255)).save(out, "PNG", compress_level=9)
    return out.getvalue()


def peak_rss_mb(pid: int) -> float:
    """The peak resident set size of process ``pid`` (``VmHWM``), in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:", 1)[1].split()[0]) / 1024


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank ``share`` percentile of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def upload_flood(server: ServerProcess) -> dict[str, str]:
    png = huge_png()
    latencies: list[float] = []
    done = asyncio.Event()
    cpu_before = cpu_seconds(server.process.pid)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=300.0) as client:

        async def poll() -> None:
            while not done.is_set():
                started = time.perf_counter()
                response = await client.get("/api/credits")
                response.raise_for_status()
                latencies.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(0.02)

        async def upload() -> int:
            files = {"image": ("huge.png", png, "image/png")}
            answer = await client.post("/api/generate", data={"category": "portraits"}, files=files)
            return answer.status_code

        (await client.get("/api/credits")).raise_for_status()  # connection warmed up
        poller = asyncio.create_task(poll())
        started = time.perf_counter()
        statuses = []
        for _ in range(ROUNDS):
            statuses += await asyncio.gather(*(upload() for _ in range(24)))
        elapsed = time.perf_counter() - started
        done.set()
        await poller
    return {
        "PNG size": f"{len(png) / 1024:.0f} KB, 7000 x 7000 RGBA",
        "answers": ", ".join(f"{statuses.count(s)} x {s}" for s in sorted(set(statuses))),
        "floods": f"{ROUNDS} rounds of 24 concurrent uploads, {elapsed:.2f} s in all",
        "server CPU during the flood": f"{cpu_seconds(server.process.pid) - cpu_before:.2f} s",
        "server peak RSS (VmHWM)": f"{peak_rss_mb(server.process.pid):.0f} MB",
        "GET /api/credits during the flood": (
            f"{len(latencies)} requests, p50 {statistics.median(latencies):.1f} ms, "
            f"p99 {percentile(latencies, 0.99):.1f} ms, max {max(latencies):.1f} ms"
        ),
    }


async def login(client: httpx.AsyncClient, client_network: str, password: str) -> tuple[int, float]:
    started = time.perf_counter()
    response = await client.post(
        "/api/auth/login",
        json={"email": "victim@example.com", "password": password},
        headers={"x-forwarded-for": client_network},
    )
    return response.status_code, (time.perf_counter() - started) * 1000


async def sign_in_flood(server: ServerProcess) -> dict[str, str]:
    limits = httpx.Limits(max_connections=500)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=300.0, limits=limits) as c:
        registered = await c.post(
            "/api/auth/register",
            json={"email": "victim@example.com", "password": PASSWORD},
            headers={"x-forwarded-for": "192.0.2.1"},
        )
        registered.raise_for_status()
        idle = [(await login(c, VICTIM, PASSWORD))[1] for _ in range(5)]
        flood = [asyncio.create_task(login(c, ATTACKER, f"guess {n}")) for n in range(400)]
        await asyncio.sleep(0.05)  # the flood is under way
        victim_status, victim_ms = await login(c, VICTIM, PASSWORD)
        outcomes = await asyncio.gather(*flood)
    statuses = [status for status, _ in outcomes]
    return {
        "flood answers": ", ".join(f"{statuses.count(s)} x {s}" for s in sorted(set(statuses))),
        "right login from another network, idle server": f"{statistics.median(idle):.0f} ms",
        "the same login during the flood": f"{victim_ms:.0f} ms (status {victim_status})",
        "delay added by the flood": f"{victim_ms - statistics.median(idle):.0f} ms",
    }


def render(uploads: dict[str, str], sign_ins: dict[str, str]) -> str:
    def table(rows: dict[str, str]) -> str:
        return "\n".join(
            ["| what | figure |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows.items())]
        )

    return "\n".join(
        [
            "## Floods from one network (bench/abuse.py)",
            "",
            f"One run on {time.strftime('%Y-%m-%d')}, one `picpaygo serve` process, in-memory "
            "storage, loopback; the machine's other work was not stopped.",
            "",
            "Upload flood: rounds of 24 concurrent uploads from a network without credits while "
            "`GET /api/credits` is polled every 20 ms.",
            "",
            table(uploads),
            "",
            "Sign-in flood: 400 concurrent wrong-password logins from one network "
            "(`AUTH_ATTEMPTS_PER_MINUTE=20`) and one right login from another.",
            "",
            table(sign_ins),
        ]
    )


def main() -> int:
    args = options(__doc__, pg=False).parse_args()
    env = {"DATABASE_URL": "memory://", "JOB_WORKERS": "0", "DEFAULT_FREE_CREDITS": "0"}
    with serving(env) as server:
        uploads = asyncio.run(upload_flood(server))
    with serving({**env, "TRUSTED_PROXIES": "127.0.0.0/8"}) as server:
        sign_ins = asyncio.run(sign_in_flood(server))
    publish("abuse", render(uploads, sign_ins), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
