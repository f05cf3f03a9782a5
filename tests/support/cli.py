"""The CLI's unit tests: ``picpaygo`` run in process against an in-memory container
holding one registered user (the fixtures ``prepared`` and ``invoke``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result

from entrypoints.cli import CliContext, cli
from entrypoints.container import Container
from entrypoints.settings import Settings

EMAIL = "ada@example.com"
Invoke = Callable[..., Result]


@pytest.fixture
def prepared(make_container: Callable[..., Container]) -> Container:
    """An in-memory container holding one registered user (and their verification mail)."""
    container = make_container()
    asyncio.run(container.auth_service().register(email=EMAIL, password="correct horse"))
    return container


@pytest.fixture
def invoke(prepared: Container) -> Invoke:
    """Run ``picpaygo ARGS`` against the prepared container."""

    def factory(_: Settings) -> Container:
        return prepared

    def run(*args: str) -> Result:
        context = CliContext(
            {"JOB_WORKERS": "0", "DATABASE_URL": "memory://"},
            container_factory=factory,
            allow_memory_admin=True,
        )
        return CliRunner().invoke(cli, list(args), obj=context)

    return run
