"""The reads requests start with: the same answers on every storage, many concurrent ones
answered together on PostgreSQL, and no request stranded when a batch goes wrong."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from adapters.memory import MemoryUnitOfWorkFactory
from adapters.memory.session_reads import MemorySessionReads
from adapters.postgres import PostgresDatabase, PostgresUnitOfWorkFactory
from adapters.postgres.session_reads import PostgresSessionReads
from picpaygo_core.errors import StorageUnavailable
from picpaygo_core.models import CallerLookup, Session, User
from picpaygo_core.ports import SessionReads, UnitOfWorkFactory
from support.builders import NETWORK, a_session, a_user, an_entry
from support.postgres import opened
from support.tcp_proxy import TcpProxy

FREE = 3
OTHER_NETWORK = "198.51.100.1"


@pytest.fixture
def session_reads(uow_factory: UnitOfWorkFactory) -> SessionReads:
    """The session reads over the same storage as ``uow_factory``."""
    if isinstance(uow_factory, MemoryUnitOfWorkFactory):
        return MemorySessionReads(uow_factory)
    assert isinstance(uow_factory, PostgresUnitOfWorkFactory)
    return PostgresSessionReads(uow_factory.database)


async def some_users(uow_factory: UnitOfWorkFactory, count: int) -> list[tuple[User, Session]]:
    """``count`` users, each with a session and a balance of its number."""
    made = []
    async with uow_factory() as uow:
        for n in range(count):
            user = a_user(f"user{n}@example.com")
            session = a_session(user)
            await uow.users.add(user)
            await uow.sessions.add(session)
            if n:
                await uow.credits.record(an_entry(user, n))
            made.append((user, session))
        await uow.free_credits.take(NETWORK, 1, FREE)
        await uow.commit()
    return made


async def test_concurrent_reads_each_get_their_own_answer(
    uow_factory: UnitOfWorkFactory, session_reads: SessionReads
) -> None:
    users = await some_users(uow_factory, 70)  # more than one statement's worth
    tokens = [session.token_hash for _, session in users] + ["unknown"]

    found, callers = await asyncio.gather(
        asyncio.gather(*(session_reads.session_with_user(token) for token in tokens)),
        asyncio.gather(
            *(
                session_reads.caller(token, NETWORK if n % 2 else OTHER_NETWORK, FREE)
                for n, token in enumerate([*tokens, None])
            )
        ),
    )

    assert found == [(session, user) for user, session in users] + [None]
    expected = [
        CallerLookup(
            session=session,
            user=user,
            balance=n,
            free_credits=FREE - 1 if n % 2 else FREE,
        )
        for n, (user, session) in enumerate(users)
    ]
    nobody = [
        CallerLookup(session=None, user=None, balance=0, free_credits=FREE - 1),  # n = 71
        CallerLookup(session=None, user=None, balance=0, free_credits=FREE),  # n = 72
    ]
    assert callers == [*expected, *nobody[::-1]] or callers == [*expected, *nobody]
    assert callers[: len(expected)] == expected


# --- a batch that goes wrong strands nobody ----------------------------------------------


@pytest.fixture
async def proxied(postgres_url: str) -> AsyncIterator[tuple[TcpProxy, PostgresDatabase]]:
    """A database reached through a proxy the test can cut, with a short deadline."""
    with TcpProxy.to_database(postgres_url) as proxy:
        async with opened(PostgresDatabase(proxy.url(postgres_url), timeout=1.0)) as database:
            yield proxy, database


async def test_a_failed_batch_fails_each_of_its_reads_and_the_next_one_works(
    proxied: tuple[TcpProxy, PostgresDatabase], postgres_url: str
) -> None:
    proxy, database = proxied
    async with opened(PostgresDatabase(postgres_url)) as direct:
        [(user, session)] = await some_users(PostgresUnitOfWorkFactory(direct), 1)
    reads = PostgresSessionReads(database)

    proxy.cut()
    outcomes = await asyncio.gather(
        *(reads.session_with_user(session.token_hash) for _ in range(5)),
        *(reads.caller(session.token_hash, NETWORK, FREE) for _ in range(5)),
        return_exceptions=True,
    )
    proxy.restore()

    assert all(isinstance(outcome, StorageUnavailable) for outcome in outcomes), outcomes
    assert await once_the_pool_is_back(reads, session.token_hash) == (session, user)


async def once_the_pool_is_back(
    reads: PostgresSessionReads, token_hash: str
) -> tuple[Session, User] | None:
    """The next read, retried while the pool reconnects (bounded: a loaded machine may
    need a few seconds); what matters is that the reads do not stay stuck."""
    for _ in range(20):
        try:
            return await reads.session_with_user(token_hash)
        except StorageUnavailable:
            await asyncio.sleep(0.25)  # polling for the pool's reconnection
    pytest.fail("the reads never worked again")


class WrongRowCount(PostgresSessionReads):
    """Session reads whose batched statement loses its last row."""

    async def _fetch(self, query: bytes, params: dict[str, object]) -> list[tuple[object, ...]]:
        return (await super()._fetch(query, params))[:-1]


async def test_a_batch_with_the_wrong_number_of_rows_fails_each_read_and_the_next_one_works(
    database: PostgresDatabase,
) -> None:
    [(user, session)] = await some_users(PostgresUnitOfWorkFactory(database), 1)
    reads = WrongRowCount(database)

    outcomes = await asyncio.gather(
        *(reads.caller(session.token_hash, NETWORK, FREE) for _ in range(3)),
        return_exceptions=True,
    )
    later = await PostgresSessionReads(database).caller(session.token_hash, NETWORK, FREE)
    alone = await asyncio.gather(reads.caller(None, NETWORK, FREE), return_exceptions=True)

    assert all(isinstance(outcome, Exception) for outcome in outcomes), outcomes
    assert later.user == user
    assert isinstance(alone[0], Exception)  # its own batch, answered (with an error)


async def test_a_cancelled_batch_fails_each_of_its_reads_and_the_next_one_works(
    postgres_url: str,
) -> None:
    async with opened(PostgresDatabase(postgres_url, pool_size=1, timeout=1.0)) as database:
        [(user, session)] = await some_users(PostgresUnitOfWorkFactory(database), 1)
        reads = PostgresSessionReads(database)

        async with database.connection():  # the pool's only connection: the batch waits
            waiting = [
                asyncio.ensure_future(reads.session_with_user(session.token_hash)) for _ in range(4)
            ]
            (await batch_in_flight()).cancel()
            outcomes = await asyncio.gather(*waiting, return_exceptions=True)

        assert all(isinstance(outcome, StorageUnavailable) for outcome in outcomes), outcomes
        assert await reads.session_with_user(session.token_hash) == (session, user)


async def batch_in_flight() -> asyncio.Task[object]:
    """The task that runs the current batch (aiodataloader's), once it has started."""
    for _ in range(1000):  # bounded: a few loop turns are enough
        for task in asyncio.all_tasks():
            coroutine = task.get_coro()
            if getattr(coroutine, "__name__", "") == "dispatch_queue_batch":
                return task
        await asyncio.sleep(0)
    pytest.fail("no batch started")
