"""Fixtures shared by unit and integration tests: a container on in-memory adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from entrypoints.container import Container, build_container
from entrypoints.http import create_app
from entrypoints.settings import load_settings
from support.fakes import FakeClock, ScriptedGenerator, cheap_hasher

ContainerFactory = Callable[..., Container]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def generator() -> ScriptedGenerator:
    return ScriptedGenerator()


@pytest.fixture
def make_container(clock: FakeClock, generator: ScriptedGenerator) -> ContainerFactory:
    """Build a container from environment-style settings, with test-friendly adapters.

    Storage is in memory (``DATABASE_URL=memory://``) unless ``environ`` says otherwise;
    ``JOB_WORKERS`` defaults to 0 so tests drive the queue themselves with
    ``container.job_processor().process_next()``.
    """

    def make(**environ: str) -> Container:
        env = {"JOB_WORKERS": "0", "DATABASE_URL": "memory://", **environ}
        container = build_container(load_settings(env))
        container.clock.override(clock)
        container.hasher.override(cheap_hasher())
        container.generator.override(generator)
        return container

    return make


@pytest.fixture
def container(make_container: ContainerFactory) -> Container:
    return make_container()


@pytest.fixture
def app(container: Container) -> Litestar:
    return create_app(container)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app) as test_client:
        yield test_client
