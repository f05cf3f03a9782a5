"""The in-memory unit of work: all or nothing, and one transaction at a time."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import msgspec
import pytest

from adapters.memory import MemoryStore
from entrypoints.container import Container
from picpaygo_core.errors import DuplicateLedgerEntry, InsufficientCredits
from picpaygo_core.models import (
    Caller,
    Category,
    CreditSource,
    Job,
    JobStatus,
    LedgerEntry,
    Session,
    StoredImage,
    User,
)
from picpaygo_core.ports import UnitOfWork, UnitOfWorkFactory
from support.fakes import START

ContainerFactory = Callable[..., Container]

NETWORK = "203.0.113.7"


class Boom(Exception):
    """Something going wrong in the middle of a transaction."""


def a_user(email: str = "ada@example.com") -> User:
    return User(
        id=uuid.uuid4(),
        email=email,
        password_hash="$argon2id$not-a-real-hash",
        name="Ada",
        surname=None,
        is_google_account=False,
        google_id=None,
        created_at=START,
    )


def a_session(user: User) -> Session:
    return Session(
        token_hash=uuid.uuid4().hex,
        user_id=user.id,
        created_at=START,
        expires_at=START + timedelta(days=7),
    )


def an_entry(user: User, amount: int, key: str | None = None) -> LedgerEntry:
    return LedgerEntry(
        id=uuid.uuid4(),
        user_id=user.id,
        amount=amount,
        reason="test",
        actor="test",
        created_at=START,
        idempotency_key=key,
    )


def an_image() -> StoredImage:
    return StoredImage(id=uuid.uuid4(), data=b"photo", content_type="image/jpeg", created_at=START)


def a_job(image: StoredImage) -> Job:
    return Job(
        id=uuid.uuid4(),
        category=Category.PORTRAITS,
        status=JobStatus.QUEUED,
        owner_id=None,
        client_network=NETWORK,
        credit_source=CreditSource.FREE,
        input_image_id=image.id,
        output_image_id=None,
        error=None,
        attempts=0,
        created_at=START,
        updated_at=START,
        available_at=START,
    )


@dataclasses.dataclass(frozen=True)
class Baseline:
    """Committed state that the changes under test touch."""

    user: User
    session: Session
    job: Job
    image: StoredImage


@pytest.fixture
def store(container: Container) -> MemoryStore:
    return container.memory_store()


@pytest.fixture
def uow_factory(container: Container) -> UnitOfWorkFactory:
    return container.uow_factory()


@pytest.fixture
async def baseline(uow_factory: UnitOfWorkFactory) -> Baseline:
    user = a_user()
    session = a_session(user)
    image = an_image()
    job = a_job(image)
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.sessions.add(session)
        await uow.credits.record(an_entry(user, 5, key="baseline"))
        await uow.free_credits.take(NETWORK, 1, 3)
        await uow.images.add(image)
        await uow.jobs.add(job)
        await uow.commit()
    return Baseline(user=user, session=session, job=job, image=image)


def snapshot(store: MemoryStore) -> dict[str, object]:
    """A copy of everything in the store, to compare before and after."""
    copied: dict[str, object] = {}
    for field in dataclasses.fields(store):
        value = getattr(store, field.name)
        if isinstance(value, dict):
            copied[field.name] = {
                key: list(item) if isinstance(item, list) else item for key, item in value.items()
            }
        elif isinstance(value, set):
            copied[field.name] = set(value)
    return copied


Change = Callable[[UnitOfWork, Baseline], Awaitable[object]]


async def add_user(uow: UnitOfWork, base: Baseline) -> None:
    await uow.users.add(a_user("grace@example.com"))


async def update_user(uow: UnitOfWork, base: Baseline) -> None:
    await uow.users.update(
        msgspec.structs.replace(base.user, name="Augusta", google_id="google-sub-1")
    )


async def add_session(uow: UnitOfWork, base: Baseline) -> None:
    await uow.sessions.add(a_session(base.user))


async def delete_session(uow: UnitOfWork, base: Baseline) -> None:
    await uow.sessions.delete(base.session.token_hash)


async def purge_sessions(uow: UnitOfWork, base: Baseline) -> None:
    await uow.sessions.purge_expired(START + timedelta(days=30))


async def record_ledger_entry(uow: UnitOfWork, base: Baseline) -> None:
    await uow.credits.record(an_entry(base.user, -2, key="spend"))


async def record_first_entry_of_a_new_user(uow: UnitOfWork, base: Baseline) -> None:
    newcomer = a_user("newcomer@example.com")
    await uow.users.add(newcomer)
    await uow.credits.record(an_entry(newcomer, 3, key="welcome"))


async def take_free_credits(uow: UnitOfWork, base: Baseline) -> None:
    await uow.free_credits.take(NETWORK, 2, 3)
    await uow.free_credits.take("198.51.100.1", 1, 3)


async def give_free_credits_back(uow: UnitOfWork, base: Baseline) -> None:
    await uow.free_credits.give_back(NETWORK, 1, 3)


async def add_job(uow: UnitOfWork, base: Baseline) -> None:
    await uow.jobs.add(a_job(base.image))


async def claim_job(uow: UnitOfWork, base: Baseline) -> None:
    await uow.jobs.claim_next("worker", START, START + timedelta(minutes=1))


async def finish_job(uow: UnitOfWork, base: Baseline) -> None:
    await uow.jobs.update(msgspec.structs.replace(base.job, status=JobStatus.SUCCEEDED))


async def add_image(uow: UnitOfWork, base: Baseline) -> None:
    await uow.images.add(an_image())


async def delete_image(uow: UnitOfWork, base: Baseline) -> None:
    await uow.images.delete(base.image.id)


CHANGES: list[Change] = [
    add_user,
    update_user,
    add_session,
    delete_session,
    purge_sessions,
    record_ledger_entry,
    record_first_entry_of_a_new_user,
    take_free_credits,
    give_free_credits_back,
    add_job,
    claim_job,
    finish_job,
    add_image,
    delete_image,
]


@pytest.mark.parametrize("change", CHANGES, ids=[change.__name__ for change in CHANGES])
async def test_leaving_without_commit_undoes_the_change(
    store: MemoryStore, uow_factory: UnitOfWorkFactory, baseline: Baseline, change: Change
) -> None:
    before = snapshot(store)

    async with uow_factory() as uow:
        await change(uow, baseline)
        assert snapshot(store) != before  # the change is seen inside the transaction

    assert snapshot(store) == before


@pytest.mark.parametrize("change", CHANGES, ids=[change.__name__ for change in CHANGES])
async def test_committing_keeps_the_change(
    store: MemoryStore, uow_factory: UnitOfWorkFactory, baseline: Baseline, change: Change
) -> None:
    before = snapshot(store)

    async with uow_factory() as uow:
        await change(uow, baseline)
        await uow.commit()
        committed = snapshot(store)

    assert committed != before
    assert snapshot(store) == committed


async def test_an_exception_inside_rolls_back_every_change_and_propagates(
    store: MemoryStore, uow_factory: UnitOfWorkFactory, baseline: Baseline
) -> None:
    before = snapshot(store)

    async def change_everything_then_fail() -> None:
        async with uow_factory() as uow:
            for change in CHANGES:
                await change(uow, baseline)
            raise Boom

    with pytest.raises(Boom):
        await change_everything_then_fail()

    assert snapshot(store) == before


async def test_changes_committed_before_an_exception_are_kept(
    store: MemoryStore, uow_factory: UnitOfWorkFactory
) -> None:
    kept, lost = a_user("kept@example.com"), a_user("lost@example.com")

    async def commit_one_then_fail() -> None:
        async with uow_factory() as uow:
            await uow.users.add(kept)
            await uow.credits.record(an_entry(kept, 4))
            await uow.commit()
            await uow.users.add(lost)
            await uow.credits.record(an_entry(kept, -1))
            raise Boom

    with pytest.raises(Boom):
        await commit_one_then_fail()

    assert set(store.users) == {kept.id}
    assert store.balances[kept.id] == 4
    assert [entry.amount for entry in store.ledger[kept.id]] == [4]


async def test_an_explicit_rollback_undoes_only_what_was_not_committed(
    store: MemoryStore, uow_factory: UnitOfWorkFactory
) -> None:
    kept, undone = a_user("kept@example.com"), a_user("undone@example.com")

    async with uow_factory() as uow:
        await uow.users.add(kept)
        await uow.commit()
        await uow.users.add(undone)
        await uow.rollback()
        assert await uow.users.find_by_id(undone.id) is None

    assert set(store.users) == {kept.id}


async def test_a_refused_overdraft_leaves_balance_and_ledger_unchanged(
    store: MemoryStore, uow_factory: UnitOfWorkFactory, baseline: Baseline
) -> None:
    before = snapshot(store)

    async with uow_factory() as uow:
        with pytest.raises(InsufficientCredits):
            await uow.credits.record(an_entry(baseline.user, -6))
        assert snapshot(store) == before


async def test_a_repeated_idempotency_key_is_refused(
    store: MemoryStore, uow_factory: UnitOfWorkFactory, baseline: Baseline
) -> None:
    async with uow_factory() as uow:
        with pytest.raises(DuplicateLedgerEntry):
            await uow.credits.record(an_entry(baseline.user, 1, key="baseline"))

    assert store.balances[baseline.user.id] == 5


async def test_a_rolled_back_idempotency_key_can_be_used_again(
    uow_factory: UnitOfWorkFactory, baseline: Baseline
) -> None:
    async with uow_factory() as uow:
        await uow.credits.record(an_entry(baseline.user, 1, key="retry-me"))

    async with uow_factory() as uow:
        balance = await uow.credits.record(an_entry(baseline.user, 1, key="retry-me"))
        await uow.commit()

    assert balance == 6


async def test_a_second_unit_of_work_waits_for_the_first_to_finish(
    uow_factory: UnitOfWorkFactory,
) -> None:
    seen: list[str] = []
    first_inside = asyncio.Event()
    second_trying = asyncio.Event()

    async def first() -> None:
        async with uow_factory():
            seen.append("first in")
            first_inside.set()
            await second_trying.wait()  # resumes only once the second task is blocked
            seen.append("first out")

    async def second() -> None:
        await first_inside.wait()
        second_trying.set()
        async with uow_factory():
            seen.append("second in")

    await asyncio.gather(first(), second())

    assert seen == ["first in", "first out", "second in"]


async def test_concurrent_spends_never_overdraw_the_balance(
    make_container: ContainerFactory,
) -> None:
    container = make_container(DEFAULT_FREE_CREDITS="0")
    user = (
        await container.auth_service().register(email="ada@example.com", password="x" * 12)
    ).user
    await container.admin_service().grant(user.email, 100, reason="stock", actor="test")
    caller = Caller(user=user, network=NETWORK)

    results = await asyncio.gather(
        *(container.credit_service().consume(caller, 1) for _ in range(200)),
        return_exceptions=True,
    )

    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(results) - len(failures) == 100
    assert len(failures) == 100
    assert all(isinstance(f, InsufficientCredits) for f in failures)
    assert (await container.admin_service().show(user.email)).balance == 0
    history = await container.admin_service().history(user.email, limit=1000)
    assert sorted((e.amount, e.reason) for e in history) == [(-1, "consume")] * 100 + [
        (100, "admin_grant: stock")
    ]


def test_the_snapshot_helper_sees_every_collection_of_the_store() -> None:
    collections = {
        f.name
        for f in dataclasses.fields(MemoryStore)
        if f.name != "lock"  # the lock is not state
    }

    assert set(snapshot(MemoryStore())) == collections
