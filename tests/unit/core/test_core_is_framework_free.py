"""The core imports no framework, driver or adapter: it stays a plain Python library."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import picpaygo_core

FORBIDDEN = (
    "litestar",
    "psycopg",
    "psycopg_pool",
    "httpx",
    "google",
    "dependency_injector",
    "granian",
    "click",
    "argon2",
    "PIL",
    "stripe",
    "adapters",
    "entrypoints",
)
CORE = Path(picpaygo_core.__file__).resolve().parent
DYNAMIC_IMPORTERS = ("__import__", "import_module")


def is_forbidden(module: str) -> bool:
    return any(module == name or module.startswith(f"{name}.") for name in FORBIDDEN)


def imported_modules(source: str) -> list[str]:
    """Every absolute module a source imports, including inside functions and
    ``TYPE_CHECKING`` blocks, and through ``importlib.import_module("...")``."""
    modules: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.append(node.module)
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            first = node.args[0]
            if (
                name in DYNAMIC_IMPORTERS
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                modules.append(first.value)
    return modules


def forbidden_imports(source: str) -> list[str]:
    return [module for module in imported_modules(source) if is_forbidden(module)]


def core_files() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def test_the_core_package_is_found_with_its_services_and_ports() -> None:
    names = {path.relative_to(CORE).as_posix() for path in core_files()}

    assert {"models/__init__.py", "services/credits.py", "ports/storage.py"} <= names


def test_no_core_module_imports_a_framework_a_driver_or_an_adapter() -> None:
    violations = [
        f"{path.relative_to(CORE.parent).as_posix()}: {module}"
        for path in core_files()
        for module in forbidden_imports(path.read_text(encoding="utf-8"))
    ]

    assert violations == [], "the core must stay framework-free:\n" + "\n".join(violations)


@pytest.mark.parametrize(
    "source",
    [
        "import litestar",
        "from litestar.exceptions import HTTPException",
        "import psycopg",
        "from psycopg_pool import AsyncConnectionPool",
        "import httpx as http",
        "from google.oauth2 import id_token",
        "from dependency_injector import providers",
        "import granian",
        "import click",
        "from argon2 import PasswordHasher",
        "from PIL import Image",
        "from adapters.memory import MemoryStore",
        "import entrypoints.settings",
        "def later():\n    import httpx\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from litestar import Request\n",
        "import importlib\nimportlib.import_module('psycopg')\n",
    ],
)
def test_the_check_spots_a_forbidden_import(source: str) -> None:
    assert forbidden_imports(source) != []


@pytest.mark.parametrize(
    "source",
    [
        "import msgspec",
        "import asyncio, hashlib, ipaddress",
        "from picpaygo_core.models import Job",
        "from . import models",
        "import clickhouse_like_name",
        "import googlemaps",
    ],
)
def test_the_check_allows_the_standard_library_msgspec_and_the_core_itself(
    source: str,
) -> None:
    assert forbidden_imports(source) == []
