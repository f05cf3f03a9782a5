"""The README's curl walk-through, run as a newcomer would: twice, on a real server.

The ``sh`` block under "Try it with curl" is taken from README.md as it stands and run
with bash in a folder holding ``photo.jpg``, against ``picpaygo serve`` on the test
database, once and then again: the second run meets an account that already exists.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from support.images import jpeg_bytes
from support.server import answered_500, serving

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Try it with curl"
README_ADDRESS = "http://127.0.0.1:8081"
RUN_TIMEOUT_SECONDS = 120


def readme_walkthrough() -> str:
    """The first ``sh`` block after the README's curl heading."""
    section = README.read_text(encoding="utf-8").partition(SECTION)[2]
    match = re.search(r"^```sh\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert match is not None, f"no sh block under {SECTION!r} in README.md"
    return match.group(1)


def run_bash(script: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """``script`` run by bash in ``folder``, stopping at the first failing command."""
    # The README's own text, run with bash and curl from PATH, as a reader runs it.
    return subprocess.run(  # noqa: S603
        ["bash", "-euo", "pipefail", "-c", script],  # noqa: S607
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )


@pytest.fixture
def curl() -> None:
    """Skip without curl, except under ``CI=true``, where the walk-through must run."""
    if shutil.which("curl") is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("curl is not installed; under CI=true the walk-through must run")
        pytest.skip("curl is not installed")


@pytest.mark.usefixtures("curl")
def test_the_readme_walkthrough_makes_a_picture_twice_in_a_row(
    postgres_url: str, tmp_path: Path
) -> None:
    walkthrough = readme_walkthrough()
    assert README_ADDRESS in walkthrough
    (tmp_path / "photo.jpg").write_bytes(jpeg_bytes())
    picture = tmp_path / "picture.png"

    with serving({"DATABASE_URL": postgres_url}) as server:
        script = walkthrough.replace(README_ADDRESS, server.base_url)
        outputs = []
        for _ in range(2):
            picture.unlink(missing_ok=True)
            run = run_bash(script, tmp_path)
            assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
            assert '"status":"completed"' in run.stdout  # the pack was bought
            assert '"status":"succeeded"' in run.stdout  # the job was polled to its end
            with Image.open(picture) as image:
                image.verify()
            outputs.append(run.stdout)
        log = server.output(tail=None)

    assert '"email":"ada@example.com"' in outputs[0]
    assert "already exists" not in outputs[0]
    assert "already exists" in outputs[1]  # the second run signs in instead
    assert not answered_500(log)
