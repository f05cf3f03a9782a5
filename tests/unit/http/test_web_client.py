"""The web client's files: served at ``/`` beside the API, self-contained and small."""

from __future__ import annotations

import fnmatch
import logging
import re
import tomllib
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from entrypoints.http.access import UNMATCHED_ROUTE
from entrypoints.http.web_client import STATIC_DIRECTORY

PAGE_BUDGET_BYTES = 100 * 1024
ROOT = Path(__file__).resolve().parents[3]
# The one address outside this server the page may name: Google's sign-in script.
ALLOWED_EXTERNAL = re.compile(r"https://accounts\.google\.com/gsi/client")
IMAGE_SUFFIXES = {".svg", ".png", ".jpg", ".webp", ".ico"}


def static_files() -> list[Path]:
    return sorted(p for p in STATIC_DIRECTORY.rglob("*") if p.is_file())


async def test_the_page_is_served_at_the_root(client: AsyncTestClient[Litestar]) -> None:
    page = await client.get("/")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<title>PicPayGo" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"


async def test_every_file_the_page_names_is_served(client: AsyncTestClient[Litestar]) -> None:
    page = (await client.get("/")).text
    names = re.findall(r'(?:src|href)="([^"#:]+)"', page)
    modules = [p for p in static_files() if p.suffix == ".js"]
    for module in modules:
        names += [f"js/{n[2:]}" for n in re.findall(r'from "(\./[^"]+)"', module.read_text())]

    assert "js/main.js" in names
    for name in set(names) - {"./", "api/docs"}:
        response = await client.get(f"/{name}")
        assert response.status_code == 200, name
    module = await client.get("/js/main.js")
    assert module.headers["content-type"].startswith("text/javascript")


async def test_the_api_and_its_docs_still_answer_beside_the_page(
    client: AsyncTestClient[Litestar],
) -> None:
    assert (await client.get("/api/credits")).status_code == 200
    assert (await client.get("/api/docs")).status_code == 200
    assert (await client.get("/api/docs/openapi.json")).status_code == 200
    unknown = await client.get("/api/no-such-thing")
    assert unknown.status_code == 404
    assert unknown.json()["status_code"] == 404
    missing = await client.get("/no-such-file.js")
    assert missing.status_code == 404
    assert missing.json()["status_code"] == 404


async def test_the_page_is_not_in_the_api_schema(client: AsyncTestClient[Litestar]) -> None:
    schema = (await client.get("/api/docs/openapi.json")).json()

    assert schema["paths"]
    assert not [path for path in schema["paths"] if path == "/" or path.startswith("/{")]


def test_the_page_weighs_under_100_kb_before_images() -> None:
    total = sum(p.stat().st_size for p in static_files() if p.suffix not in IMAGE_SUFFIXES)

    assert 0 < total < PAGE_BUDGET_BYTES, f"{total} bytes"


def test_the_page_loads_nothing_from_another_server() -> None:
    for path in static_files():
        addresses = re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"'`)]*", path.read_text())
        foreign = [a for a in addresses if not ALLOWED_EXTERNAL.fullmatch(a)]
        # SVG files name their XML namespace; that is not a request.
        foreign = [a for a in foreign if a != "http://www.w3.org/2000/svg"]
        assert not foreign, f"{path.name} names {foreign}"


def test_every_file_of_the_page_is_packaged() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["entrypoints.http"]
    package_root = STATIC_DIRECTORY.parent

    for path in static_files():
        relative = path.relative_to(package_root).as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative


async def test_a_file_of_the_page_is_a_debug_line_with_its_path_and_a_missing_one_is_info(
    client: AsyncTestClient[Litestar], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="picpaygo.access")
    await client.get("/app.css")
    await client.get("/no-such-file.js")

    served, missing = [r for r in caplog.records if r.name == "picpaygo.access"]
    assert served.levelno == logging.DEBUG
    assert served.getMessage().startswith("GET /app.css 200 ")
    assert served.fields["route"] == "/{file_path}"  # type: ignore[attr-defined]
    assert served.fields["status"] == 200  # type: ignore[attr-defined]
    assert missing.levelno == logging.INFO
    assert missing.fields["route"] == UNMATCHED_ROUTE  # type: ignore[attr-defined]
    assert missing.fields["status"] == 404  # type: ignore[attr-defined]
