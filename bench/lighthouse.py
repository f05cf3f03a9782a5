"""Lighthouse on the web client: mobile and desktop, with Debian's Chromium.

One ``picpaygo serve`` process (in-memory storage: the page is what is audited) serves
the page; Lighthouse (npm, at the version pinned below, outside the repository) audits
``/`` as an anonymous first visit, with its mobile (emulated phone, throttled) and
desktop presets, for performance, accessibility, best practices and SEO, and lists the
weighted audits short of full marks. The figures go to BENCHMARKS.md, between the
``lighthouse`` markers.

Usage (from the repository root, in the project's virtualenv), after
``npm i -E --prefix /tmp/lighthouse lighthouse@12.2.3`` (13 wants Node 22)::

    python bench/lighthouse.py --lighthouse /tmp/lighthouse/node_modules/.bin/lighthouse
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from common import machine_line, options, publish, run_command

from support.server import serving

CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
CHROME_FLAGS = "--headless=new --no-sandbox --disable-gpu"


def parse_args() -> argparse.Namespace:
    parser = options(__doc__, pg=False)
    parser.add_argument("--lighthouse", default="lighthouse", help="the lighthouse command")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    return parser.parse_args()


def audit(args: argparse.Namespace, url: str, preset: str) -> dict[str, Any]:
    """One Lighthouse run: the scores (0-100) and what kept any below 100."""
    with tempfile.TemporaryDirectory() as directory:
        report = Path(directory) / "report.json"
        command = [
            args.lighthouse,
            url,
            "--quiet",
            f"--chrome-flags={CHROME_FLAGS}",
            "--output=json",
            f"--output-path={report}",
            f"--only-categories={','.join(CATEGORIES)}",
        ]
        if preset == "desktop":
            command.append("--preset=desktop")
        run_command(command, env={**os.environ, "CHROME_PATH": args.chromium})
        data = json.loads(report.read_text())
    scores = {name: round(data["categories"][name]["score"] * 100) for name in CATEGORIES}
    losses = [
        f"{ref['id']} ({data['audits'][ref['id']].get('displayValue') or 'failed'})"
        for name in CATEGORIES
        for ref in data["categories"][name]["auditRefs"]
        if ref.get("weight", 0) > 0 and _short_of_full(data["audits"][ref["id"]].get("score"))
    ]
    return {"preset": preset, "version": data["lighthouseVersion"], **scores, "losses": losses}


def _short_of_full(score: float | None) -> bool:
    return score is not None and score < 1


def main() -> int:
    args = parse_args()
    with serving({"DATABASE_URL": "memory://", "LOG_LEVEL": "WARNING"}) as server:
        results = [audit(args, f"{server.base_url}/", preset) for preset in ("mobile", "desktop")]
    lines = [
        f"- Command: `python bench/lighthouse.py` (Lighthouse {results[0]['version']}, "
        f"Chromium at `{args.chromium}`, an anonymous first visit to `/`)",
        f"- {machine_line()}",
        "",
        "| preset | performance | accessibility | best practices | SEO "
        "| audits short of full marks |",
        "|---|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r['preset']} | {r['performance']} | {r['accessibility']} | {r['best-practices']} "
        f"| {r['seo']} | {', '.join(r['losses']) or '—'} |"
        for r in results
    ]
    publish("lighthouse", "\n".join(lines), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
