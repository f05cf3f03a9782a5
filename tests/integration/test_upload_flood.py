"""A flood of huge uploads from a network without credits costs the server no decoding:
each is refused with 402 after its header is read, and the process stays small."""

from __future__ import annotations

import concurrent.futures
import io
from pathlib import Path

import httpx
from PIL import Image

from support.server import serving

FLOOD = 24
SIDE = 7000  # 7000 x 7000 RGBA: about 196 MB once decoded, a few hundred KB as a PNG
RSS_LIMIT_MB = 300


def huge_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (SIDE, SIDE), (40, 120, 200, 255)).save(out, "PNG", compress_level=9)
    return out.getvalue()


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size so far (``VmHWM``), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


def test_a_flood_of_huge_pngs_without_credits_decodes_nothing() -> None:
    png = huge_png()
    env = {"DEFAULT_FREE_CREDITS": "0", "JOB_WORKERS": "0", "MAX_UPLOAD_BYTES": "10485760"}
    with serving(env) as server:

        def upload(_: int) -> int:
            with httpx.Client(base_url=server.base_url, timeout=120.0) as client:
                return client.post(
                    "/api/generate",
                    data={"category": "portraits"},
                    files={"image": ("huge.png", png, "image/png")},
                ).status_code

        with concurrent.futures.ThreadPoolExecutor(FLOOD) as pool:
            statuses = list(pool.map(upload, range(FLOOD)))
        peak = peak_rss_mb(server.process.pid)

    assert statuses == [402] * FLOOD
    assert peak < RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"
