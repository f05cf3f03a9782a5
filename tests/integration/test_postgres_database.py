"""The PostgreSQL unit of work's connection: transactions only around changes, one
deadline per unit of work, and a single-change unit that refuses a second change."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from adapters.postgres import PostgresDatabase, PostgresUnitOfWorkFactory
from picpaygo_core.errors import StorageUnavailable
from support.builders import a_user
from support.postgres import opened


async def backend_transaction_started(database: PostgresDatabase, pid: int) -> bool:
    """Whether backend ``pid`` is inside a transaction, seen from another connection."""
    async with database.connection() as conn:
        row = await conn.fetch_one(
            b"SELECT xact_start IS NOT NULL AS started FROM pg_stat_activity WHERE pid = %s",
            (pid,),
        )
    assert row is not None
    return bool(row["started"])


async def test_reads_run_outside_a_transaction_and_changes_inside_one(
    database: PostgresDatabase,
) -> None:
    user = a_user()
    async with PostgresUnitOfWorkFactory(database)() as uow:
        await uow.users.add(user)
        await uow.commit()

    async with database.connection() as conn:
        pid_row = await conn.fetch_one(b"SELECT pg_backend_pid() AS pid")
        assert pid_row is not None
        read_alone = await backend_transaction_started(database, pid_row["pid"])
        await conn.fetch_one(b"SELECT 1 FROM users", changes=True)
        in_change = await backend_transaction_started(database, pid_row["pid"])

    assert (read_alone, in_change) == (False, True)


async def test_a_unit_of_work_over_its_time_limit_fails_as_unavailable_and_the_pool_recovers(
    postgres_url: str,
) -> None:
    async with opened(PostgresDatabase(postgres_url, pool_size=1, timeout=0.5)) as database:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable):
            async with database.connection() as conn:
                await conn.fetch_one(b"SELECT pg_sleep(30)")
        took = time.monotonic() - started

        async with database.connection() as conn:
            assert await conn.fetch_one(b"SELECT 1 AS one") == {"one": 1}

    assert took < 5.0


async def test_units_of_work_beyond_the_pool_wait_their_turn_and_all_finish(
    postgres_url: str,
) -> None:
    async with opened(PostgresDatabase(postgres_url, pool_size=2, timeout=5.0)) as database:
        in_flight = 0
        most = 0

        async def unit(n: int) -> int:
            nonlocal in_flight, most
            async with database.connection() as conn:
                in_flight += 1
                most = max(most, in_flight)
                row = await conn.fetch_one(b"SELECT %s::int AS n", (n,))
                in_flight -= 1
            assert row is not None
            return int(row["n"])

        results = await asyncio.gather(*(unit(n) for n in range(20)))

    assert results == list(range(20))
    assert most <= 2


async def test_a_unit_of_work_waiting_for_a_busy_pool_gives_up_at_its_deadline(
    postgres_url: str,
) -> None:
    async with opened(PostgresDatabase(postgres_url, pool_size=1, timeout=0.5)) as database:
        async with database.connection() as holder:
            await holder.fetch_one(b"SELECT 1")
            started = time.monotonic()
            with pytest.raises(StorageUnavailable):
                async with database.connection():
                    pass
            waited = time.monotonic() - started

        async with database.connection() as conn:  # the slot and connection came back
            assert await conn.fetch_one(b"SELECT 1 AS one") == {"one": 1}

    assert waited < 5.0


ADD_NETWORK = b"""
INSERT INTO free_credits (network, remaining, updated_at) VALUES (%(network)s, 3, now())
RETURNING network
"""


async def networks_stored(database: PostgresDatabase) -> list[str]:
    async with database.connection() as conn:
        rows = await conn.fetch_all(b"SELECT network FROM free_credits ORDER BY network")
    return [row["network"] for row in rows]


@pytest.mark.parametrize("failing", [0, 1, 2])
@pytest.mark.parametrize("run_before", range(7))
async def test_statements_run_after_a_failed_pipeline_whatever_psycopg_was_about_to_prepare(
    postgres_url: str, run_before: int, failing: int
) -> None:
    """psycopg prepares a statement on its fifth run. When that run is in a pipeline,
    after a statement that fails, the server skips the preparation but psycopg keeps
    it as made; the connection is therefore not reused."""
    async with opened(PostgresDatabase(postgres_url, pool_size=1)) as database:
        async with database.connection() as conn:
            # A transaction rolled back before: psycopg forgets what it prepared only at
            # the first ROLLBACK it sees on a connection.
            await conn.fetch_one(b"SELECT 1", changes=True)
        async with database.connection() as conn:
            for n in range(run_before):
                await conn.fetch_one(ADD_NETWORK, {"network": f"before {n}"}, changes=True)
            await conn.commit()
            sent = [{"network": f"sent {n}"} for n in range(4)]
            sent[failing] = {"network": "before 0" if run_before else "sent 3"}
            for values in sent[:-1]:
                await conn.execute(ADD_NETWORK, values)  # waits for the next round trip
            with pytest.raises(psycopg.errors.UniqueViolation):
                await conn.fetch_one(ADD_NETWORK, sent[-1], changes=True)

        async with database.connection() as conn:
            for n in range(6):
                await conn.fetch_one(ADD_NETWORK, {"network": f"after {n}"}, changes=True)
            await conn.commit()

        assert len(await networks_stored(database)) == run_before + 6
