"""PostgreSQL under real concurrency: many transactions at once on one database.

Races are run with ``asyncio.gather`` over pools of real connections. Where a test needs
one transaction to be caught waiting for another's lock, it asks the server
(``pg_stat_activity``) rather than guessing with a sleep. Time for leases is moved with
the ``now`` arguments or a ``FakeClock``, never by waiting.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import msgspec
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.postgres import (
    PostgresDatabase,
    PostgresUnitOfWorkFactory,
    available_migrations,
    migrate,
    pending_migrations,
)
from adapters.postgres.pictures import PostgresPictureStore
from picpaygo_core.errors import DuplicateLedgerEntry, InsufficientCredits
from picpaygo_core.models import (
    Caller,
    Category,
    Charge,
    CreditSource,
    Generated,
    GenerationOutcome,
    Job,
    JobStatus,
    LedgerEntry,
    Spending,
    StoredImage,
    User,
    input_key,
)
from picpaygo_core.policy import Policy
from picpaygo_core.ports import UnitOfWork
from picpaygo_core.services import JobProcessor
from picpaygo_core.services.ledger import ledger_entry, refund_job, spending_of
from support.builders import NETWORK, a_job, a_session, a_user
from support.fakes import START, FakeClock
from support.postgres import blocking, empty_tables, opened, throwaway_database

LEASE_SECONDS = 60
LOCK_WAIT_DEADLINE = 10.0
FREE = 3


async def spend(uow: UnitOfWork, caller: Caller, **spending: Any) -> Charge:
    """``caller`` spends in ``uow`` (see ``spending_of``)."""
    return await uow.credits.spend(spending_of(caller, **spending))


@pytest.fixture
async def database(postgres_url: str) -> AsyncIterator[PostgresDatabase]:
    """A pool of 20 connections on the test database (a generous wait for a connection)."""
    async with opened(PostgresDatabase(postgres_url, pool_size=20, timeout=30.0)) as database:
        yield database


@pytest.fixture
def uow_factory(database: PostgresDatabase) -> PostgresUnitOfWorkFactory:
    return PostgresUnitOfWorkFactory(database)


async def user_with_balance(
    uow_factory: PostgresUnitOfWorkFactory, amount: int, email: str = "ada@example.com"
) -> User:
    user = a_user(email)
    async with uow_factory() as uow:
        await uow.users.add(user)
        if amount:
            await uow.credits.record(
                ledger_entry(
                    user_id=user.id, amount=amount, reason="grant", actor="test", now=START
                )
            )
        await uow.commit()
    return user


async def ledger_totals(url: str, user: User) -> tuple[int, int, int]:
    """(balance, sum of the ledger, number of ledger rows) straight from the tables."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        row = await (
            await conn.execute(
                "SELECT (SELECT balance FROM credits WHERE user_id = %(u)s), "
                "(SELECT coalesce(sum(amount), 0) FROM credit_ledger WHERE user_id = %(u)s), "
                "(SELECT count(*) FROM credit_ledger WHERE user_id = %(u)s)",
                {"u": user.id},
            )
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


async def wait_for_lock_waiters(url: str, count: int = 1) -> None:
    """Return once ``count`` sessions of this database wait for a lock (bounded)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        deadline = asyncio.get_running_loop().time() + LOCK_WAIT_DEADLINE
        while True:
            row = await (
                await conn.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).fetchone()
            if row is not None and row[0] >= count:
                return
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"no {count} transaction(s) waiting for a lock in time")
            await asyncio.sleep(0.005)  # polling the condition, not timing the race


# --- credits -----------------------------------------------------------------------------


async def test_500_concurrent_spends_of_a_balance_of_100_spend_exactly_100(
    uow_factory: PostgresUnitOfWorkFactory, postgres_url: str
) -> None:
    user = await user_with_balance(uow_factory, 100)
    caller = Caller(user=user, client_network=NETWORK)

    async def spend_one() -> None:
        async with uow_factory() as uow:
            await spend(uow, caller, amount=1, free_credits=0, reason="consume", now=START)
            await uow.commit()

    results = await asyncio.gather(*(spend_one() for _ in range(500)), return_exceptions=True)

    failures = Counter(type(r).__name__ for r in results if isinstance(r, BaseException))
    assert failures == {"InsufficientCredits": 400}
    async with uow_factory() as uow:
        assert await uow.credits.balance(user.id) == 0
        history = await uow.credits.history(user.id, 1000)
        assert await uow.free_credits.remaining(NETWORK, 0) == 0
    assert Counter((e.amount, e.reason) for e in history) == {
        (-1, "consume"): 100,
        (100, "grant"): 1,
    }
    assert await ledger_totals(postgres_url, user) == (0, 0, 101)


@pytest.mark.parametrize("amount", [1, 2])
async def test_200_concurrent_free_credit_takes_take_exactly_the_initial_credits(
    uow_factory: PostgresUnitOfWorkFactory, amount: int
) -> None:
    async def take() -> int:
        async with uow_factory() as uow:
            taken = await uow.free_credits.take(NETWORK, amount, 3)
            await uow.commit()
        return taken

    taken = await asyncio.gather(*(take() for _ in range(200)))

    assert sum(taken) == 3
    assert all(0 <= t <= amount for t in taken)
    async with uow_factory() as uow:
        assert await uow.free_credits.remaining(NETWORK, 3) == 0


async def test_concurrent_free_and_paid_spends_for_one_network_never_overspend(
    uow_factory: PostgresUnitOfWorkFactory, postgres_url: str
) -> None:
    user = await user_with_balance(uow_factory, 10)
    caller = Caller(user=user, client_network=NETWORK)

    async def spend_one() -> tuple[int, int]:
        async with uow_factory() as uow:
            charge = await spend(uow, caller, amount=1, free_credits=5, reason="consume", now=START)
            await uow.commit()
        return charge.free, charge.paid

    results = await asyncio.gather(*(spend_one() for _ in range(100)), return_exceptions=True)

    charges = [r for r in results if isinstance(r, tuple)]
    assert all(isinstance(r, InsufficientCredits) for r in results if not isinstance(r, tuple))
    assert Counter(charges) == {(1, 0): 5, (0, 1): 10}
    assert await ledger_totals(postgres_url, user) == (0, 0, 11)


# --- spends for sessions, made in batches ------------------------------------------------


async def session_token(uow_factory: PostgresUnitOfWorkFactory, user: User) -> str:
    session = a_session(user)
    async with uow_factory() as uow:
        await uow.sessions.add(session)
        await uow.commit()
    return session.token_hash


def paid_spending_of(user: User) -> Callable[[], Spending]:
    """Spends of one credit by ``user`` from ``NETWORK`` once its free credits are gone
    (see ``no_free_credits``), each with an entry of its own."""
    return lambda: spending_of(
        Caller(user=user, client_network=NETWORK),
        amount=1,
        free_credits=FREE,
        reason="consume",
        now=START,
    )


async def no_free_credits(uow_factory: PostgresUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.free_credits.take(NETWORK, FREE, FREE)
        await uow.commit()


async def test_200_concurrent_spends_from_two_processes_spend_exactly_100(
    uow_factory: PostgresUnitOfWorkFactory, postgres_url: str
) -> None:
    """Two processes' spends over one balance: none overdraws, none deadlocks."""
    user = await user_with_balance(uow_factory, 100)
    await no_free_credits(uow_factory)
    spending = paid_spending_of(user)

    async def spend(factory: PostgresUnitOfWorkFactory) -> None:
        async with factory() as uow:
            await uow.credits.spend(spending())
            await uow.commit()

    async with (
        opened(PostgresDatabase(postgres_url, pool_size=5, timeout=30)) as one_process,
        opened(PostgresDatabase(postgres_url, pool_size=5, timeout=30)) as other_process,
    ):
        factories = [
            PostgresUnitOfWorkFactory(one_process),
            PostgresUnitOfWorkFactory(other_process),
        ]
        results = await asyncio.gather(
            *(spend(factories[n % 2]) for n in range(200)), return_exceptions=True
        )

    failures = Counter(type(r).__name__ for r in results if isinstance(r, BaseException))
    assert failures == {"InsufficientCredits": 100}
    assert await ledger_totals(postgres_url, user) == (0, 0, 101)


def a_grant(user: User) -> LedgerEntry:
    return ledger_entry(user_id=user.id, amount=1, reason="grant", actor="test", now=START)


# --- refunds and the ledger's own guarantees ---------------------------------------------


async def charged_job(uow_factory: PostgresUnitOfWorkFactory, user: User) -> Job:
    """A paid job whose credit was taken, as ``GenerationService.create_job`` does it."""
    job = a_job(owner_id=user.id, credit_source=CreditSource.PAID, status=JobStatus.FAILED)
    async with uow_factory() as uow:
        await spend(
            uow,
            Caller(user=user, client_network=NETWORK),
            amount=1,
            free_credits=0,
            reason="generation",
            now=START,
            job_id=job.id,
        )
        await uow.jobs.add(job)
        await uow.commit()
    return job


def refund_entry(job: Job) -> LedgerEntry:
    assert job.owner_id is not None
    return ledger_entry(
        user_id=job.owner_id,
        amount=1,
        reason="refund",
        actor="system",
        now=START,
        job_id=job.id,
        idempotency_key=f"refund:{job.id}",
    )


async def refunds_of(uow_factory: PostgresUnitOfWorkFactory, job: Job) -> list[LedgerEntry]:
    assert job.owner_id is not None
    async with uow_factory() as uow:
        history = await uow.credits.history(job.owner_id, 1000)
    return [e for e in history if e.job_id == job.id and e.amount > 0]


async def test_ten_concurrent_refunds_of_one_job_refund_it_once(
    uow_factory: PostgresUnitOfWorkFactory, postgres_url: str
) -> None:
    user = await user_with_balance(uow_factory, 1)
    job = await charged_job(uow_factory, user)

    async def refund() -> int:
        async with uow_factory() as uow:
            balance = await uow.credits.record(refund_entry(job))
            await uow.commit()
        return balance

    results = await asyncio.gather(*(refund() for _ in range(10)), return_exceptions=True)

    assert [r for r in results if not isinstance(r, DuplicateLedgerEntry)] == [1]
    assert len(await refunds_of(uow_factory, job)) == 1
    assert await ledger_totals(postgres_url, user) == (1, 1, 3)


async def test_a_refund_racing_a_committing_refund_is_refused_as_a_duplicate(
    uow_factory: PostgresUnitOfWorkFactory, postgres_url: str
) -> None:
    """The loser has checked for the key before the winner commits, then waits for its lock."""
    user = await user_with_balance(uow_factory, 1)
    job = await charged_job(uow_factory, user)

    async with uow_factory() as winner, uow_factory() as loser:
        assert await winner.credits.record(refund_entry(job)) == 1
        racing = asyncio.create_task(loser.credits.record(refund_entry(job)))
        await wait_for_lock_waiters(postgres_url)
        await winner.commit()
        with pytest.raises(DuplicateLedgerEntry):
            await racing

    assert len(await refunds_of(uow_factory, job)) == 1
    assert await ledger_totals(postgres_url, user) == (1, 1, 3)


async def test_a_refund_that_lost_a_race_leaves_its_unit_of_work_usable(
    uow_factory: PostgresUnitOfWorkFactory, postgres_url: str
) -> None:
    user = await user_with_balance(uow_factory, 1)
    job = await charged_job(uow_factory, user)
    settled = msgspec.structs.replace(job, refunded=True, updated_at=START + timedelta(seconds=1))

    async with uow_factory() as winner, uow_factory() as loser:
        await refund_job(winner, job, free_credits=0, now=START)
        racing = asyncio.create_task(refund_job(loser, job, free_credits=0, now=START))
        await wait_for_lock_waiters(postgres_url)
        await winner.jobs.update(settled)
        await winner.commit()
        await racing  # a no-op, as its docstring promises: the refund is already there
        assert await loser.jobs.find(job.id) == settled
        await loser.commit()

    assert len(await refunds_of(uow_factory, job)) == 1


async def test_the_database_refuses_a_second_charge_or_refund_row_for_a_job(
    uow_factory: PostgresUnitOfWorkFactory, postgres_url: str
) -> None:
    """Whatever the code does, a job is charged at most once and refunded at most once."""
    user = await user_with_balance(uow_factory, 2)
    job = await charged_job(uow_factory, user)
    async with uow_factory() as uow:
        await uow.credits.record(refund_entry(job))
        await uow.commit()

    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        for amount, key in ((1, f"another-refund:{job.id}"), (-1, f"another-charge:{job.id}")):
            with pytest.raises(psycopg.errors.UniqueViolation):
                await conn.execute(
                    "INSERT INTO credit_ledger "
                    "(id, user_id, amount, reason, actor, job_id, idempotency_key, created_at) "
                    "VALUES (%s, %s, %s, 'sneaky', 'test', %s, %s, now())",
                    (uuid.uuid4(), user.id, amount, job.id, key),
                )

    assert len(await refunds_of(uow_factory, job)) == 1


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE credit_ledger SET amount = amount * 100",
        "DELETE FROM credit_ledger",
        "TRUNCATE credit_ledger",
    ],
    ids=["update", "delete", "truncate"],
)
async def test_the_ledger_is_append_only(
    uow_factory: PostgresUnitOfWorkFactory, postgres_url: str, statement: str
) -> None:
    user = await user_with_balance(uow_factory, 5)

    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            await conn.execute(statement.encode())

    assert await ledger_totals(postgres_url, user) == (5, 5, 1)


# --- jobs --------------------------------------------------------------------------------


async def queue_paid_job(uow_factory: PostgresUnitOfWorkFactory, caller: Caller) -> Job:
    """Charge one credit and queue a job whose photo's bytes name the job."""
    assert caller.user is not None
    job_id = uuid.uuid4()
    data = f"photo:{job_id}".encode()
    photo = StoredImage(
        id=uuid.uuid4(),
        key=input_key(job_id),
        size=len(data),
        content_type="image/jpeg",
        created_at=START,
    )
    await PostgresPictureStore(uow_factory.database).put(photo.key, data, photo.content_type)
    job = a_job(
        id=job_id,
        owner_id=caller.user.id,
        credit_source=CreditSource.PAID,
        input_image_id=photo.id,
    )
    async with uow_factory() as uow:
        await spend(
            uow, caller, amount=1, free_credits=0, reason="generation", now=START, job_id=job_id
        )
        await uow.images.add(photo)
        await uow.jobs.add(job)
        await uow.commit()
    return job


class CountingGenerator:
    """An image model that counts how often it was asked for each job's photo."""

    name = "counting"

    def __init__(self) -> None:
        self.calls: Counter[bytes] = Counter()

    async def generate(
        self, *, prompt: str, category: Category, image: bytes, content_type: str
    ) -> GenerationOutcome:
        self.calls[image] += 1
        await asyncio.sleep(0)  # let the other workers run in the middle of a generation
        return Generated(data=b"picture of " + image, content_type="image/png")


def a_processor(
    database: PostgresDatabase, generator: CountingGenerator, clock: FakeClock
) -> JobProcessor:
    return JobProcessor(
        uow_factory=PostgresUnitOfWorkFactory(database),
        pictures=PostgresPictureStore(database),
        generator=generator,
        clock=clock,
        policy=Policy(free_credits=0, job_lease_seconds=LEASE_SECONDS),
    )


async def test_two_workers_racing_over_the_queue_complete_every_job_exactly_once(
    uow_factory: PostgresUnitOfWorkFactory, postgres_url: str
) -> None:
    jobs_count, loops_per_worker = 40, 4
    user = await user_with_balance(uow_factory, jobs_count)
    caller = Caller(user=user, client_network=NETWORK)
    jobs = [await queue_paid_job(uow_factory, caller) for _ in range(jobs_count)]
    clock, generator = FakeClock(), CountingGenerator()
    pools = [PostgresDatabase(postgres_url, pool_size=5, timeout=30.0) for _ in range(2)]

    async def work(processor: JobProcessor, worker_id: str) -> list[uuid.UUID]:
        settled = []
        while (job := await processor.process_next(worker_id)) is not None:
            assert job.status is JobStatus.SUCCEEDED
            assert job.lease_owner is None
            settled.append(job.id)
        return settled

    try:
        for pool in pools:
            await pool.open()
        processors = [a_processor(pool, generator, clock) for pool in pools]
        settled_by = await asyncio.gather(
            *(
                work(processor, f"worker-{name}-{loop}")
                for processor, name in zip(processors, "ab", strict=True)
                for loop in range(loops_per_worker)
            )
        )
    finally:
        for pool in pools:
            await pool.close()

    settled = [job_id for ids in settled_by for job_id in ids]
    per_worker = [
        sum(map(len, settled_by[:loops_per_worker])),
        sum(map(len, settled_by[loops_per_worker:])),
    ]
    assert min(per_worker) > 0  # both workers really took part in the race
    assert sorted(settled) == sorted(job.id for job in jobs)  # each once, by one worker
    assert generator.calls == Counter({f"photo:{job.id}".encode(): 1 for job in jobs})
    async with uow_factory() as uow:
        for job in jobs:
            stored = await uow.jobs.find(job.id)
            assert stored is not None
            assert (stored.status, stored.attempts, stored.refunded) == (
                JobStatus.SUCCEEDED,
                1,
                False,
            )
            assert stored.output_image_id is not None
            output = await uow.images.find(stored.output_image_id)
            assert output is not None
            data = await PostgresPictureStore(uow_factory.database).get(output.key)
            assert data == f"picture of photo:{job.id}".encode()
        history = await uow.credits.history(user.id, 1000)
    charges = Counter(e.job_id for e in history if e.amount < 0)
    assert charges == Counter({job.id: 1 for job in jobs})
    assert [e for e in history if e.amount > 0 and e.job_id is not None] == []
    assert await ledger_totals(postgres_url, user) == (0, 0, jobs_count + 1)


async def test_a_job_whose_worker_vanished_is_completed_once_after_the_lease_lapses(
    uow_factory: PostgresUnitOfWorkFactory, database: PostgresDatabase, postgres_url: str
) -> None:
    user = await user_with_balance(uow_factory, 1)
    job = await queue_paid_job(uow_factory, Caller(user=user, client_network=NETWORK))
    clock, generator = FakeClock(), CountingGenerator()
    async with uow_factory() as uow:
        lease_until = clock.now() + timedelta(seconds=LEASE_SECONDS)
        vanished = await uow.jobs.claim_next("vanished", clock.now(), lease_until)
        await uow.commit()
    assert vanished is not None
    assert vanished.id == job.id
    survivor = a_processor(database, generator, clock)

    clock.advance(seconds=LEASE_SECONDS - 1)
    assert await survivor.process_next("survivor") is None  # the lease still holds
    clock.advance(seconds=1)
    done = await survivor.process_next("survivor")

    assert done is not None
    assert (done.id, done.status, done.attempts) == (job.id, JobStatus.SUCCEEDED, 2)
    assert await survivor.process_next("survivor") is None
    assert generator.calls == Counter({f"photo:{job.id}".encode(): 1})
    async with uow_factory() as uow:
        assert not await uow.jobs.extend_lease(job.id, "vanished", clock.now() + timedelta(hours=1))
        assert await uow.jobs.find(job.id) == done
        history = await uow.credits.history(user.id, 10)
    assert [(e.amount, e.job_id) for e in history if e.job_id] == [(-1, job.id)]
    assert await ledger_totals(postgres_url, user) == (0, 0, 2)


class HeldGenerator:
    """An image model that answers only when released, to lose a lease meanwhile."""

    name = "held"

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def generate(
        self, *, prompt: str, category: Category, image: bytes, content_type: str
    ) -> GenerationOutcome:
        self.started.set()
        await self.release.wait()
        return Generated(data=b"from worker A", content_type="image/png")


async def test_a_worker_that_lost_its_lease_while_generating_cannot_settle_the_job(
    uow_factory: PostgresUnitOfWorkFactory, database: PostgresDatabase, postgres_url: str
) -> None:
    user = await user_with_balance(uow_factory, 1)
    job = await queue_paid_job(uow_factory, Caller(user=user, client_network=NETWORK))
    clock = FakeClock()
    slow, fast = HeldGenerator(), CountingGenerator()
    worker_a = JobProcessor(
        uow_factory=uow_factory,
        pictures=PostgresPictureStore(database),
        generator=slow,
        clock=clock,
        policy=Policy(free_credits=0, job_lease_seconds=LEASE_SECONDS),
    )
    worker_b = a_processor(database, fast, clock)

    running_a = asyncio.create_task(worker_a.process_next("worker-a"))
    await slow.started.wait()
    clock.advance(seconds=LEASE_SECONDS)
    taken_over = await worker_b.process_next("worker-b")
    slow.release.set()
    dropped = await running_a

    assert taken_over is not None
    assert taken_over.status is JobStatus.SUCCEEDED
    assert dropped is not None
    assert (dropped.status, dropped.lease_owner) == (JobStatus.RUNNING, "worker-a")  # not stored
    async with uow_factory() as uow:
        stored = await uow.jobs.find(job.id)
        assert stored == taken_over
        assert stored is not None
        assert stored.output_image_id is not None
        output = await uow.images.find(stored.output_image_id)
    assert output is not None
    data = await PostgresPictureStore(uow_factory.database).get(output.key)
    assert data == f"picture of photo:{job.id}".encode()
    assert await ledger_totals(postgres_url, user) == (0, 0, 2)


async def test_concurrent_claims_never_hand_out_the_same_job(
    uow_factory: PostgresUnitOfWorkFactory,
) -> None:
    jobs = [a_job(created_at=START + timedelta(seconds=n)) for n in range(30)]
    async with uow_factory() as uow:
        for job in jobs:
            await uow.jobs.add(job)
        await uow.commit()
    now = START + timedelta(minutes=1)

    async def claim(worker: int) -> uuid.UUID | None:
        async with uow_factory() as uow:
            job = await uow.jobs.claim_next(f"worker-{worker}", now, now + timedelta(minutes=1))
            await uow.commit()
        return job.id if job else None

    claimed = await asyncio.gather(*(claim(n) for n in range(40)))

    handed_out = [job_id for job_id in claimed if job_id is not None]
    assert sorted(handed_out) == sorted(job.id for job in jobs)
    assert claimed.count(None) == 10


async def test_a_claim_skips_a_job_another_open_transaction_has_claimed(
    uow_factory: PostgresUnitOfWorkFactory,
) -> None:
    older, newer = a_job(), a_job(created_at=START + timedelta(seconds=1))
    async with uow_factory() as uow:
        await uow.jobs.add(older)
        await uow.jobs.add(newer)
        await uow.commit()
    now, until = START + timedelta(minutes=1), START + timedelta(minutes=2)

    async with uow_factory() as first, uow_factory() as second:
        first_claim = await first.jobs.claim_next("first", now, until)
        second_claim = await second.jobs.claim_next("second", now, until)  # does not wait
        third_claim = await second.jobs.claim_next("second", now, until)

    assert first_claim is not None
    assert second_claim is not None
    assert (first_claim.id, second_claim.id, third_claim) == (older.id, newer.id, None)


async def second_sees(uow_factory: PostgresUnitOfWorkFactory, job: Job) -> Job | None:
    async with uow_factory() as uow:
        return await uow.jobs.find(job.id)


async def test_find_for_update_keeps_other_units_of_work_out_until_the_first_ends(
    uow_factory: PostgresUnitOfWorkFactory, postgres_url: str
) -> None:
    job = a_job()
    async with uow_factory() as uow:
        await uow.jobs.add(job)
        await uow.commit()
    finished = msgspec.structs.replace(job, status=JobStatus.SUCCEEDED)

    async with uow_factory() as first, uow_factory() as second:
        assert await first.jobs.find_for_update(job.id) == job
        waiting = asyncio.create_task(second.jobs.find_for_update(job.id))
        await wait_for_lock_waiters(postgres_url)
        assert not waiting.done()
        assert await second_sees(uow_factory, job) == job  # plain reads do not wait
        await first.jobs.update(finished)
        await first.commit()
        assert await waiting == finished  # the second sees the first's committed change


async def test_uncommitted_changes_are_invisible_to_other_units_of_work(
    uow_factory: PostgresUnitOfWorkFactory,
) -> None:
    user = a_user()

    async with uow_factory() as writer:
        await writer.users.add(user)
        await writer.free_credits.take(NETWORK, 2, 3)
        async with uow_factory() as reader:
            assert await reader.users.find_by_id(user.id) is None
            assert await reader.free_credits.remaining(NETWORK, 3) == 3
        await writer.commit()
        async with uow_factory() as reader:
            assert await reader.users.find_by_id(user.id) == user
            assert await reader.free_credits.remaining(NETWORK, 3) == 1


# --- migrations --------------------------------------------------------------------------


async def migrate_concurrently(url: str, callers: int) -> list[list[int]]:
    """Run ``migrate`` from ``callers`` tasks at once; the versions each one applied."""
    applied = await asyncio.gather(
        *(migrate(PostgresDatabase(url, pool_size=1)) for _ in range(callers))
    )
    return [[m.version for m in migrations] for migrations in applied]


async def pending_after(url: str) -> list[int]:
    database = PostgresDatabase(url, pool_size=1)
    await database.open()
    try:
        return [m.version for m in await pending_migrations(database)]
    finally:
        await database.close()


def test_migrations_run_by_five_processes_at_once_are_each_applied_exactly_once(
    postgres_server: str,
) -> None:
    shipped = [m.version for m in available_migrations()]
    assert shipped

    with throwaway_database(migrated=False) as url:
        applied = blocking(migrate_concurrently(url, 5))
        again = blocking(migrate_concurrently(url, 1))
        pending = blocking(pending_after(url))
        with psycopg.connect(url) as conn:
            recorded = conn.execute(
                "SELECT version, count(*) FROM schema_migrations GROUP BY version ORDER BY version"
            ).fetchall()
            tables = conn.execute("SELECT to_regclass('credit_ledger') IS NOT NULL").fetchone()

    assert sorted(v for versions in applied for v in versions) == shipped
    assert sorted(len(versions) > 0 for versions in applied) == [False] * 4 + [True]
    assert again == [[]]
    assert pending == []
    assert recorded == [(version, 1) for version in shipped]
    assert tables == (True,)


# --- a property: any mix of credit changes keeps the books straight ----------------------

Operation = tuple[str, int]

operations = st.lists(
    st.tuples(st.sampled_from(["grant", "revoke", "spend"]), st.integers(1, 4)),
    min_size=1,
    max_size=12,
)


async def apply(
    uow_factory: PostgresUnitOfWorkFactory, caller: Caller, free: int, op: Operation
) -> tuple[int, int] | None:
    """Run one operation in its own unit of work: (paid change, free change), None if refused."""
    kind, amount = op
    assert caller.user is not None
    try:
        async with uow_factory() as uow:
            if kind == "spend":
                charge = await spend(
                    uow, caller, amount=amount, free_credits=free, reason="consume", now=START
                )
                change = (-charge.paid, -charge.free)
            else:
                signed = amount if kind == "grant" else -amount
                await uow.credits.record(
                    ledger_entry(
                        user_id=caller.user.id, amount=signed, reason=kind, actor="test", now=START
                    )
                )
                change = (signed, 0)
            await uow.commit()
    except InsufficientCredits:
        return None
    return change


async def books(
    uow_factory: PostgresUnitOfWorkFactory, url: str, caller: Caller, free: int
) -> tuple[int, int]:
    """(paid balance, free credits left), checking the balance against the ledger."""
    assert caller.user is not None
    async with uow_factory() as uow:
        paid = await uow.credits.balance(caller.user.id)
        left = await uow.free_credits.remaining(caller.client_network, free)
    balance, ledger_sum, _ = await ledger_totals(url, caller.user)
    assert balance == paid == ledger_sum
    assert paid >= 0
    assert left >= 0
    return paid, left


async def check_the_books(url: str, ops: list[Operation], free: int) -> None:
    database = PostgresDatabase(url, pool_size=len(ops) + 1, timeout=30.0)
    await database.open()
    try:
        uow_factory = PostgresUnitOfWorkFactory(database)
        caller = Caller(user=await user_with_balance(uow_factory, 0), client_network=NETWORK)

        # One after the other, the outcome of each operation is exactly predictable.
        model_paid, model_free = 0, free
        for kind, amount in ops:
            change = await apply(uow_factory, caller, free, (kind, amount))
            if kind == "grant":
                expected: tuple[int, int] | None = (amount, 0)
            elif kind == "revoke":
                expected = (-amount, 0) if model_paid >= amount else None
            else:
                from_free = min(model_free, amount)
                fits = model_paid >= amount - from_free
                expected = (-(amount - from_free), -from_free) if fits else None
            assert change == expected
            if change:
                model_paid, model_free = model_paid + change[0], model_free + change[1]
            assert await books(uow_factory, url, caller, free) == (model_paid, model_free)

        # All at once, whatever wins, the books add up to what the winners did.
        changes = await asyncio.gather(*(apply(uow_factory, caller, free, op) for op in ops))
        done = [c for c in changes if c is not None]
        assert await books(uow_factory, url, caller, free) == (
            model_paid + sum(c[0] for c in done),
            model_free + sum(c[1] for c in done),
        )
    finally:
        await database.close()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations, free=st.integers(0, 3))
def test_any_mix_of_grants_revokes_and_spends_keeps_the_books_straight(
    postgres_url: str, ops: list[Operation], free: int
) -> None:
    empty_tables(postgres_url)
    asyncio.run(check_the_books(postgres_url, ops, free))
