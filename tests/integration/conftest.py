"""Integration-test plumbing: show what a live ``picpaygo serve`` said when a test fails."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from contextlib import AsyncExitStack

import pytest

from adapters.memory import MemoryStore, MemoryUnitOfWorkFactory
from adapters.postgres import PostgresDatabase, PostgresUnitOfWorkFactory
from entrypoints.container import Container, running_resources
from picpaygo_core.ports import UnitOfWorkFactory
from support.postgres import (
    ADMIN_URL,
    UNREACHABLE,
    empty_tables,
    opened,
    throwaway_database,
    unreachable_reason,
)
from support.s3 import S3Server
from support.server import LIVE_SERVERS

# The browser tests' fixtures (a Chromium, a running site, a slow fake model).
from support.stripe_shop import buyer, fake_stripe, shop  # noqa: F401
from support.web_client import browser, site, slow_model  # noqa: F401

ContainerFactory = Callable[..., Container]
AsyncContainerFactory = Callable[..., Awaitable[Container]]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the output of every server still running to a failed test's report."""
    report = yield
    if report.failed and LIVE_SERVERS:
        for server in sorted(LIVE_SERVERS, key=lambda s: s.port):
            report.sections.append(
                (f"picpaygo serve output ({server.base_url})", server.output() or "(nothing)")
            )
    return report


# Why PostgreSQL tests were skipped, reported once at the end of the run.
POSTGRES_PROBLEM: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line, not one per test, when PostgreSQL tests were skipped."""
    if POSTGRES_PROBLEM:
        skipped = [
            r for r in terminalreporter.stats.get("skipped", []) if "PostgreSQL" in str(r.longrepr)
        ]
        terminalreporter.write_line(
            f"{POSTGRES_PROBLEM[0]}: {len(skipped)} PostgreSQL tests skipped", yellow=True
        )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway database for this test run, migrated; dropped when the run ends.

    Unreachable PostgreSQL skips the tests that need it (one line), but fails them
    under ``CI=true``, where a skip would hide that they never ran.
    """
    reason = unreachable_reason()
    if reason is not None:
        problem = UNREACHABLE.format(url=ADMIN_URL, reason=reason)
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{problem}; under CI=true PostgreSQL tests fail", pytrace=False)
        POSTGRES_PROBLEM.append(problem)
        pytest.skip("PostgreSQL is not reachable (see the line at the end of the run)")
    with throwaway_database() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """The run's database URL, with every table emptied after the test."""
    try:
        yield postgres_server
    finally:
        empty_tables(postgres_server)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A real S3 API (moto's server) on 127.0.0.1 for this test session; never the network."""
    server = S3Server()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
async def database(postgres_url: str) -> AsyncIterator[PostgresDatabase]:
    """An open connection pool on the test database."""
    async with opened(PostgresDatabase(postgres_url, pool_size=10, timeout=5.0)) as database:
        yield database


@pytest.fixture(params=["memory", "postgres"])
def storage(request: pytest.FixtureRequest) -> str:
    """Which storage adapters a contract test runs on."""
    kind: str = request.param
    return kind


@pytest.fixture
async def uow_factory(
    storage: str, request: pytest.FixtureRequest
) -> AsyncIterator[UnitOfWorkFactory]:
    """A unit-of-work factory on the storage under test (see ``storage``)."""
    if storage == "memory":
        yield MemoryUnitOfWorkFactory(MemoryStore())
        return
    url: str = request.getfixturevalue("postgres_url")
    async with opened(PostgresDatabase(url, pool_size=10)) as database:
        yield PostgresUnitOfWorkFactory(database)


@pytest.fixture
async def make_storage_container(
    storage: str, make_container: ContainerFactory, request: pytest.FixtureRequest
) -> AsyncIterator[AsyncContainerFactory]:
    """Like ``make_container`` (but awaited), on the storage under test, resources open."""
    opened: list[AsyncExitStack] = []

    async def make(**environ: str) -> Container:
        if storage == "postgres":
            environ = {"DATABASE_URL": request.getfixturevalue("postgres_url"), **environ}
        container = make_container(**environ)
        stack = AsyncExitStack()
        await stack.enter_async_context(running_resources(container, listen=False))
        opened.append(stack)
        return container

    try:
        yield make
    finally:
        for stack in reversed(opened):
            await stack.aclose()
