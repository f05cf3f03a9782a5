"""The storage contract: every repository port and the unit of work, on every adapter.

Each test runs twice, on a fresh in-memory store and on an emptied PostgreSQL database
(the ``storage`` fixture, see ``tests/integration/conftest.py``), through the ports only.
What the adapters keep is compared in two ways: through the ports (``view``), which also
works inside an open unit of work, and, for "nothing else changed", through a dump of
everything stored (``stored_state``: the ``MemoryStore``'s collections or every table).

Tests about the in-memory adapter's own machinery live in
``tests/unit/adapters/test_memory_store.py``; PostgreSQL races are in
``test_postgres_concurrency.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import msgspec
import psycopg
import pytest

from adapters.memory import MemoryStore
from entrypoints.container import Container
from picpaygo_core.errors import DuplicateLedgerEntry, EmailTaken, InsufficientCredits
from picpaygo_core.models import (
    Caller,
    CallerLookup,
    Category,
    Charge,
    CreditSource,
    IdempotencyRecord,
    Incident,
    Job,
    JobStatus,
    KeyClaim,
    PaymentReversal,
    PendingCheckouts,
    Purchase,
    PurchaseStatus,
    Session,
    Spending,
    StoredImage,
    StoredResponse,
    User,
)
from picpaygo_core.ports import UnitOfWork, UnitOfWorkFactory
from picpaygo_core.services.idempotency import KEPT_FOR, STALE_AFTER, key_claim
from support.builders import (
    NETWORK,
    a_job,
    a_purchase,
    a_session,
    a_user,
    an_entry,
    an_image,
)
from support.fakes import START
from support.postgres import TABLES
from support.stored_state import memory_snapshot, stored_state

AsyncContainerFactory = Callable[..., Awaitable[Container]]

OTHER_NETWORK = "198.51.100.1"
FREE = 3
GOOGLE_SUB = "google-sub-1"
LEASE = timedelta(minutes=1)


class Boom(Exception):
    """Something going wrong in the middle of a transaction."""


# --- what is stored ----------------------------------------------------------------------


def test_the_memory_snapshot_sees_every_collection_of_the_store() -> None:
    # The lock and the followers of jobs coordinate the store's users; they hold no data.
    coordination = {"lock", "job_changes"}
    collections = {f.name for f in dataclasses.fields(MemoryStore) if f.name not in coordination}

    assert set(memory_snapshot(MemoryStore())) == collections


async def test_the_postgres_snapshot_sees_every_table_of_the_schema(postgres_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        rows = await (
            await conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
            )
        ).fetchall()

    assert {row[0] for row in rows} - {"schema_migrations"} == set(TABLES)


# --- users -------------------------------------------------------------------------------


async def add(uow_factory: UnitOfWorkFactory, *users: User) -> None:
    async with uow_factory() as uow:
        for user in users:
            await uow.users.add(user)
        await uow.commit()


async def test_an_added_user_is_found_by_id_email_and_google_id(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user(google_id=GOOGLE_SUB)
    await add(uow_factory, user)

    async with uow_factory() as uow:
        assert await uow.users.find_by_id(user.id) == user
        assert await uow.users.find_by_email("ada@example.com") == user
        assert await uow.users.find_by_google_id(GOOGLE_SUB) == user


async def test_a_user_is_found_by_email_in_any_letter_case(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user("Ada.Lovelace@Example.com")
    await add(uow_factory, user)

    async with uow_factory() as uow:
        for spelling in ("ada.lovelace@example.com", "ADA.LOVELACE@EXAMPLE.COM"):
            assert await uow.users.find_by_email(spelling) == user


async def test_unknown_users_are_not_found(uow_factory: UnitOfWorkFactory) -> None:
    await add(uow_factory, a_user(google_id=GOOGLE_SUB))

    async with uow_factory() as uow:
        assert await uow.users.find_by_id(uuid.uuid4()) is None
        assert await uow.users.find_by_email("grace@example.com") is None
        assert await uow.users.find_by_google_id("someone-else") is None


@pytest.mark.parametrize(
    "email",
    ["ada@example.com", "ADA@example.com", "Ada@Example.COM"],
    ids=["same-case", "upper-local-part", "mixed-case"],
)
async def test_an_email_taken_in_any_letter_case_is_refused_and_nothing_is_stored(
    uow_factory: UnitOfWorkFactory, email: str
) -> None:
    first = a_user("ada@example.com")
    await add(uow_factory, first)
    before = await stored_state(uow_factory)

    second = a_user(email)
    async with uow_factory() as uow:
        with pytest.raises(EmailTaken):
            await uow.users.add(second)
        await uow.commit()

    assert await stored_state(uow_factory) == before
    async with uow_factory() as uow:
        assert await uow.users.find_by_id(second.id) is None
        assert await uow.users.find_by_email(email) == first


async def test_a_refused_email_leaves_the_unit_of_work_usable(
    uow_factory: UnitOfWorkFactory,
) -> None:
    await add(uow_factory, a_user("ada@example.com"))
    grace = a_user("grace@example.com")

    async with uow_factory() as uow:
        with pytest.raises(EmailTaken):
            await uow.users.add(a_user("ADA@EXAMPLE.COM"))
        await uow.users.add(grace)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.users.find_by_id(grace.id) == grace


async def test_updating_a_user_replaces_it(uow_factory: UnitOfWorkFactory) -> None:
    user = a_user()
    await add(uow_factory, user)
    updated = msgspec.structs.replace(
        user,
        password_hash="$argon2id$another",
        name="Augusta",
        surname="King",
        last_login_at=START + timedelta(hours=1),
        last_login_location=NETWORK,
    )

    async with uow_factory() as uow:
        await uow.users.update(updated)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.users.find_by_id(user.id) == updated
        assert await uow.users.find_by_email(user.email) == updated


async def test_updating_a_users_google_id_moves_the_google_lookup(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user(google_id="old-sub")
    await add(uow_factory, user)

    async with uow_factory() as uow:
        await uow.users.update(msgspec.structs.replace(user, google_id="new-sub"))
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.users.find_by_google_id("old-sub") is None
        assert (await uow.users.find_by_google_id("new-sub")) == msgspec.structs.replace(
            user, google_id="new-sub"
        )


async def test_linking_a_password_account_to_google_makes_it_findable_by_google_id(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    await add(uow_factory, user)
    linked = msgspec.structs.replace(user, is_google_account=True, google_id=GOOGLE_SUB)

    async with uow_factory() as uow:
        await uow.users.update(linked)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.users.find_by_google_id(GOOGLE_SUB) == linked


async def test_updating_a_users_email_moves_the_email_lookup(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user("ada@example.com")
    await add(uow_factory, user)
    moved = msgspec.structs.replace(user, email="augusta@example.com")

    async with uow_factory() as uow:
        await uow.users.update(moved)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.users.find_by_email("Augusta@example.com") == moved
        assert await uow.users.find_by_email("ada@example.com") is None


# --- sessions ----------------------------------------------------------------------------


async def test_an_added_session_is_found_by_its_token_hash(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    session = a_session(user)
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.sessions.add(session)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.sessions.find(session.token_hash) == session
        assert await uow.sessions.find("no-such-hash") is None


async def test_a_session_is_found_together_with_its_user(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    other = a_user("grace@example.com")
    session = a_session(user)
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.users.add(other)
        await uow.sessions.add(session)
        await uow.sessions.add(a_session(other))
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.sessions.find_with_user(session.token_hash) == (session, user)
        assert await uow.sessions.find_with_user("no-such-hash") is None


async def test_deleting_a_session_forgets_it_and_is_idempotent(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    kept, deleted = a_session(user), a_session(user)
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.sessions.add(kept)
        await uow.sessions.add(deleted)
        await uow.commit()

    async with uow_factory() as uow:
        await uow.sessions.delete(deleted.token_hash)
        await uow.sessions.delete(deleted.token_hash)
        await uow.sessions.delete("never-existed")
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.sessions.find(deleted.token_hash) is None
        assert await uow.sessions.find(kept.token_hash) == kept


async def test_purging_deletes_exactly_the_expired_sessions_and_counts_them(
    uow_factory: UnitOfWorkFactory,
) -> None:
    now = START + timedelta(days=1)
    user = a_user()
    expired = [
        a_session(user, expires_at=now - timedelta(hours=1)),
        a_session(user, expires_at=now),  # expires at ``now``: gone
    ]
    alive = a_session(user, expires_at=now + timedelta(seconds=1))
    async with uow_factory() as uow:
        await uow.users.add(user)
        for session in [*expired, alive]:
            await uow.sessions.add(session)
        await uow.commit()

    async with uow_factory() as uow:
        purged = await uow.sessions.purge_expired(now)
        purged_again = await uow.sessions.purge_expired(now)
        await uow.commit()

    assert (purged, purged_again) == (2, 0)
    async with uow_factory() as uow:
        assert [await uow.sessions.find(s.token_hash) for s in expired] == [None, None]
        assert await uow.sessions.find(alive.token_hash) == alive


# --- paid credits ------------------------------------------------------------------------


async def test_a_user_never_credited_has_a_zero_balance_and_no_history(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    await add(uow_factory, user)

    async with uow_factory() as uow:
        assert await uow.credits.balance(user.id) == 0
        assert await uow.credits.balance(uuid.uuid4()) == 0
        assert await uow.credits.history(user.id, 10) == []


async def test_recording_returns_the_new_balance_and_keeps_the_entry(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    await add(uow_factory, user)
    job_id = uuid.uuid4()
    grant, spend = an_entry(user, 5, "grant"), an_entry(user, -2, f"charge:{job_id}", job_id=job_id)

    async with uow_factory() as uow:
        balances = [await uow.credits.record(grant), await uow.credits.record(spend)]
        await uow.commit()

    assert balances == [5, 3]
    async with uow_factory() as uow:
        assert await uow.credits.balance(user.id) == 3
        assert await uow.credits.history(user.id, 10) == [spend, grant]


async def test_a_balance_may_be_spent_down_to_exactly_zero(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    await add(uow_factory, user)

    async with uow_factory() as uow:
        await uow.credits.record(an_entry(user, 2))
        assert await uow.credits.record(an_entry(user, -2)) == 0
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.credits.balance(user.id) == 0


async def test_an_overdraft_is_refused_and_records_nothing(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    await add(uow_factory, user)
    async with uow_factory() as uow:
        await uow.credits.record(an_entry(user, 2, "grant"))
        await uow.commit()
    before = await stored_state(uow_factory)

    async with uow_factory() as uow:
        with pytest.raises(InsufficientCredits):
            await uow.credits.record(an_entry(user, -3, "too-much"))
        assert await uow.credits.balance(user.id) == 2
        assert len(await uow.credits.history(user.id, 10)) == 1
        await uow.commit()

    assert await stored_state(uow_factory) == before
    async with uow_factory() as uow:  # the refused key was not used up
        assert await uow.credits.record(an_entry(user, -1, "too-much")) == 1


async def test_a_repeated_idempotency_key_is_refused_and_records_nothing(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    await add(uow_factory, user)
    async with uow_factory() as uow:
        await uow.credits.record(an_entry(user, 5, "purchase:ref-1"))
        await uow.commit()
    before = await stored_state(uow_factory)

    async with uow_factory() as uow:
        with pytest.raises(DuplicateLedgerEntry):
            await uow.credits.record(an_entry(user, 5, "purchase:ref-1"))
        with pytest.raises(DuplicateLedgerEntry):  # whatever the amount
            await uow.credits.record(an_entry(user, -1, "purchase:ref-1"))
        await uow.commit()

    assert await stored_state(uow_factory) == before


async def test_a_repeated_key_in_the_same_unit_of_work_is_refused(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    await add(uow_factory, user)

    async with uow_factory() as uow:
        await uow.credits.record(an_entry(user, 1, "refund:job"))
        with pytest.raises(DuplicateLedgerEntry):
            await uow.credits.record(an_entry(user, 1, "refund:job"))
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.credits.balance(user.id) == 1


async def test_refused_entries_leave_the_unit_of_work_usable(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    await add(uow_factory, user)
    async with uow_factory() as uow:
        await uow.credits.record(an_entry(user, 1, "first"))
        await uow.commit()

    async with uow_factory() as uow:
        with pytest.raises(DuplicateLedgerEntry):
            await uow.credits.record(an_entry(user, 1, "first"))
        with pytest.raises(InsufficientCredits):
            await uow.credits.record(an_entry(user, -2))
        assert await uow.credits.record(an_entry(user, 1, "second")) == 2
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.credits.balance(user.id) == 2


async def test_entries_without_an_idempotency_key_may_repeat(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    await add(uow_factory, user)

    async with uow_factory() as uow:
        for _ in range(3):
            await uow.credits.record(an_entry(user, 1))
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.credits.balance(user.id) == 3


async def test_history_is_newest_first_limited_and_per_user(
    uow_factory: UnitOfWorkFactory,
) -> None:
    ada, grace = a_user("ada@example.com"), a_user("grace@example.com")
    await add(uow_factory, ada, grace)
    entries = [an_entry(ada, n + 1, at=START + timedelta(minutes=n)) for n in range(5)]
    async with uow_factory() as uow:
        for entry in entries:
            await uow.credits.record(entry)
            await uow.credits.record(an_entry(grace, 7))
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.credits.history(ada.id, 10) == entries[::-1]
        assert await uow.credits.history(ada.id, 2) == [entries[4], entries[3]]
        assert await uow.credits.history(ada.id, 0) == []
        assert len(await uow.credits.history(grace.id, 10)) == 5


async def test_history_keeps_the_order_of_recording_within_one_instant(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    await add(uow_factory, user)
    entries = [an_entry(user, amount) for amount in (5, -1, 2, -3)]  # all at START
    async with uow_factory() as uow:
        for entry in entries:
            await uow.credits.record(entry)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.credits.history(user.id, 10) == entries[::-1]


async def test_balances_are_per_user(uow_factory: UnitOfWorkFactory) -> None:
    ada, grace = a_user("ada@example.com"), a_user("grace@example.com")
    await add(uow_factory, ada, grace)

    async with uow_factory() as uow:
        await uow.credits.record(an_entry(ada, 4))
        with pytest.raises(InsufficientCredits):
            await uow.credits.record(an_entry(grace, -1))
        await uow.commit()

    async with uow_factory() as uow:
        assert (await uow.credits.balance(ada.id), await uow.credits.balance(grace.id)) == (4, 0)


# --- free credits ------------------------------------------------------------------------


async def test_a_network_never_seen_has_the_initial_free_credits(
    uow_factory: UnitOfWorkFactory,
) -> None:
    async with uow_factory() as uow:
        assert await uow.free_credits.remaining(NETWORK, FREE) == FREE
        assert await uow.free_credits.remaining(NETWORK, 0) == 0


async def test_taking_free_credits_takes_what_is_left_and_then_nothing(
    uow_factory: UnitOfWorkFactory,
) -> None:
    async with uow_factory() as uow:
        taken = [
            await uow.free_credits.take(NETWORK, 2, FREE),
            await uow.free_credits.take(NETWORK, 2, FREE),  # only one left: partial
            await uow.free_credits.take(NETWORK, 1, FREE),
        ]
        await uow.commit()

    assert taken == [2, 1, 0]
    async with uow_factory() as uow:
        assert await uow.free_credits.remaining(NETWORK, FREE) == 0
        assert await uow.free_credits.remaining(OTHER_NETWORK, FREE) == FREE


async def test_taking_zero_free_credits_takes_nothing(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        assert await uow.free_credits.take(NETWORK, 0, FREE) == 0
        assert await uow.free_credits.take(OTHER_NETWORK, 1, 0) == 0
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.free_credits.remaining(NETWORK, FREE) == FREE
        assert await uow.free_credits.remaining(OTHER_NETWORK, 0) == 0


async def test_giving_free_credits_back_returns_them(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.free_credits.take(NETWORK, 3, FREE)
        await uow.free_credits.give_back(NETWORK, 1, FREE)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.free_credits.remaining(NETWORK, FREE) == 1
        assert await uow.free_credits.take(NETWORK, 3, FREE) == 1


async def test_giving_back_to_a_network_never_seen_adds_to_the_initial_credits(
    uow_factory: UnitOfWorkFactory,
) -> None:
    async with uow_factory() as uow:
        await uow.free_credits.give_back(NETWORK, 2, FREE)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.free_credits.remaining(NETWORK, FREE) == FREE + 2


# --- spending: free credits first, then paid ones, in one change ----------------------


def a_spending(
    user: User | None, amount: int, *, client_network: str = NETWORK, initial: int = FREE
) -> Spending:
    return Spending(
        client_network=client_network,
        amount=amount,
        initial_free=initial,
        user_id=user.id if user else None,
        entry_id=uuid.uuid4(),
        reason="consume",
        actor="test",
        now=START,
    )


async def spend_now(uow_factory: UnitOfWorkFactory, spending: Spending) -> Charge:
    async with uow_factory() as uow:
        charge = await uow.credits.spend(spending)
        await uow.commit()
    return charge


async def test_spending_takes_free_credits_first_then_paid_ones_with_a_ledger_entry(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    await add(uow_factory, user)
    async with uow_factory() as uow:
        await uow.credits.record(an_entry(user, 10, "grant"))
        await uow.commit()

    charges = [
        await spend_now(uow_factory, a_spending(user, 2)),
        await spend_now(uow_factory, a_spending(user, 3)),
        await spend_now(uow_factory, a_spending(user, 4)),
    ]

    assert charges == [
        Charge(free=2, paid=0, free_left=1, balance=10),  # a network never seen
        Charge(free=1, paid=2, free_left=0, balance=8),  # the last free one, then paid
        Charge(free=0, paid=4, free_left=0, balance=4),  # paid only
    ]
    async with uow_factory() as uow:
        history = await uow.credits.history(user.id, 10)
    assert [(entry.amount, entry.reason) for entry in history] == [
        (-4, "consume"),
        (-2, "consume"),
        (10, "test"),
    ]


@pytest.mark.parametrize("free_left", [0, 1], ids=["no-free-left", "one-free-left"])
async def test_a_spend_beyond_free_and_paid_credits_is_refused_and_changes_nothing(
    uow_factory: UnitOfWorkFactory, free_left: int
) -> None:
    user = a_user()
    await add(uow_factory, user)
    async with uow_factory() as uow:
        await uow.credits.record(an_entry(user, 2, "grant"))
        await uow.free_credits.take(NETWORK, FREE - free_left, FREE)
        await uow.commit()
    before = await stored_state(uow_factory)

    with pytest.raises(InsufficientCredits):
        await spend_now(uow_factory, a_spending(user, 3 + free_left))

    assert await stored_state(uow_factory) == before


async def test_an_anonymous_client_spends_free_credits_only(
    uow_factory: UnitOfWorkFactory,
) -> None:
    first = await spend_now(uow_factory, a_spending(None, 2))
    with pytest.raises(InsufficientCredits):
        await spend_now(uow_factory, a_spending(None, 2))
    last = await spend_now(uow_factory, a_spending(None, 1))
    with pytest.raises(InsufficientCredits):
        await spend_now(uow_factory, a_spending(None, 1))

    assert (first, last) == (
        Charge(free=2, paid=0, free_left=1, balance=0),
        Charge(free=1, paid=0, free_left=0, balance=0),
    )


async def test_a_spend_with_a_key_already_in_the_ledger_is_refused(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    await add(uow_factory, user)
    async with uow_factory() as uow:
        await uow.credits.record(an_entry(user, 5, "charge:job"))
        await uow.free_credits.take(NETWORK, FREE, FREE)
        await uow.commit()
    before = await stored_state(uow_factory)

    spending = msgspec.structs.replace(a_spending(user, 1), idempotency_key="charge:job")
    with pytest.raises(DuplicateLedgerEntry):
        await spend_now(uow_factory, spending)

    assert await stored_state(uow_factory) == before


async def test_the_caller_of_a_request_is_read_with_its_credits(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    session = a_session(user)
    expired = a_session(user, expires_at=START)
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.sessions.add(session)
        await uow.sessions.add(expired)
        await uow.credits.record(an_entry(user, 7, "grant"))
        await uow.free_credits.take(NETWORK, 1, FREE)
        await uow.commit()

    async with uow_factory() as uow:
        found = [
            await uow.sessions.find_caller(session.token_hash, NETWORK, initial_free=FREE),
            await uow.sessions.find_caller(expired.token_hash, NETWORK, initial_free=FREE),
            await uow.sessions.find_caller("unknown", NETWORK, initial_free=FREE),
            await uow.sessions.find_caller(None, OTHER_NETWORK, initial_free=FREE),
        ]

    assert found == [
        CallerLookup(session=session, user=user, balance=7, free_credits=FREE - 1),
        CallerLookup(session=expired, user=user, balance=7, free_credits=FREE - 1),
        CallerLookup(session=None, user=None, balance=0, free_credits=FREE - 1),
        CallerLookup(session=None, user=None, balance=0, free_credits=FREE),
    ]


async def find_claiming(
    uow_factory: UnitOfWorkFactory, token_hash: str | None, claim: KeyClaim
) -> CallerLookup:
    """``find_caller`` with a claim, in a unit of work of its own (as ``admit`` does)."""
    async with uow_factory() as uow:
        found = await uow.sessions.find_caller(token_hash, NETWORK, initial_free=FREE, claim=claim)
        await uow.commit()
    return found


async def test_reading_the_caller_claims_the_key_in_the_signed_in_user_scope(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    session = a_session(user)
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.sessions.add(session)
        await uow.commit()
    claim = key_claim("upload-1", "request-a", START)

    first = await find_claiming(uow_factory, session.token_hash, claim)
    while_running = await find_claiming(uow_factory, session.token_hash, claim)
    other_request = await find_claiming(
        uow_factory, session.token_hash, key_claim("upload-1", "request-b", START)
    )

    assert first == CallerLookup(
        session=session, user=user, balance=0, free_credits=FREE, claim=None
    )
    pending = IdempotencyRecord(fingerprint="request-a", response=None)
    assert while_running.claim == other_request.claim == pending
    answer = StoredResponse(status_code=202, body=b'{"jobId":"x"}')
    async with uow_factory() as uow:
        assert await uow.idempotency.claim(f"user:{user.id}", claim) == pending
        # The same key of an anonymous client of the network is another key.
        assert await uow.idempotency.claim(f"network:{NETWORK}", claim) is None
        await uow.idempotency.complete(f"user:{user.id}", "upload-1", answer)
        await uow.commit()
    answered = await find_claiming(uow_factory, session.token_hash, claim)
    assert answered.claim == IdempotencyRecord(fingerprint="request-a", response=answer)


async def test_without_a_valid_session_the_key_is_claimed_in_the_network_scope(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    expired = a_session(user, expires_at=START)
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.sessions.add(expired)
        await uow.commit()
    claim = key_claim("upload-1", "request-a", START)

    by_expired = await find_claiming(uow_factory, expired.token_hash, claim)
    anonymous = await find_claiming(uow_factory, None, claim)

    assert by_expired.claim is None
    assert anonymous.claim == IdempotencyRecord(fingerprint="request-a", response=None)
    async with uow_factory() as uow:
        assert await uow.idempotency.claim(f"user:{user.id}", claim) is None


async def test_a_stale_or_expired_claim_is_taken_over_when_reading_the_caller(
    uow_factory: UnitOfWorkFactory,
) -> None:
    first = key_claim("upload-1", "request-a", START)
    assert (await find_claiming(uow_factory, None, first)).claim is None

    stale = key_claim("upload-1", "request-b", START + STALE_AFTER)
    assert (await find_claiming(uow_factory, None, stale)).claim is None
    later = key_claim("upload-1", "request-c", START + STALE_AFTER + KEPT_FOR)
    async with uow_factory() as uow:
        await uow.idempotency.complete(
            f"network:{NETWORK}", "upload-1", StoredResponse(status_code=202, body=b"{}")
        )
        await uow.commit()
    assert (await find_claiming(uow_factory, None, later)).claim is None
    again = await find_claiming(uow_factory, None, later)
    assert again.claim == IdempotencyRecord(fingerprint="request-c", response=None)


# --- jobs --------------------------------------------------------------------------------


async def add_jobs(uow_factory: UnitOfWorkFactory, *jobs: Job) -> None:
    async with uow_factory() as uow:
        for job in jobs:
            await uow.jobs.add(job)
        await uow.commit()


async def test_an_added_job_is_found(uow_factory: UnitOfWorkFactory) -> None:
    user = a_user()
    await add(uow_factory, user)
    job = a_job(an_image(), owner_id=user.id, credit_source=CreditSource.PAID)
    await add_jobs(uow_factory, job)

    async with uow_factory() as uow:
        assert await uow.jobs.find(job.id) == job
        assert await uow.jobs.find_for_update(job.id) == job
        assert await uow.jobs.find(uuid.uuid4()) is None
        assert await uow.jobs.find_for_update(uuid.uuid4()) is None


async def test_updating_a_job_replaces_its_changing_fields(
    uow_factory: UnitOfWorkFactory,
) -> None:
    job = a_job(an_image(), category=Category.EDITORIAL)
    await add_jobs(uow_factory, job)
    later = START + timedelta(minutes=5)
    done = msgspec.structs.replace(
        job,
        status=JobStatus.FAILED,
        input_image_id=None,
        output_image_id=uuid.uuid4(),
        error="No person in the photo.",
        attempts=2,
        updated_at=later,
        available_at=later,
        lease_owner="worker",
        lease_expires_at=later + LEASE,
        refunded=True,
    )

    async with uow_factory() as uow:
        await uow.jobs.update(done)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.jobs.find(job.id) == done


async def test_an_owners_jobs_are_listed_newest_first_page_by_page(
    uow_factory: UnitOfWorkFactory,
) -> None:
    owner, other = a_user(), a_user("bob@example.com")
    await add(uow_factory, owner)
    await add(uow_factory, other)
    # Five jobs, two of them created in the same instant (the id breaks the tie).
    times = [START, START + timedelta(seconds=1), START + timedelta(seconds=1)]
    times += [START + timedelta(seconds=2), START + timedelta(seconds=3)]
    mine = [a_job(owner_id=owner.id, created_at=at) for at in times]
    theirs = a_job(owner_id=other.id, created_at=START + timedelta(seconds=9))
    anonymous = a_job(created_at=START + timedelta(seconds=9))
    await add_jobs(uow_factory, *mine, theirs, anonymous)
    newest_first = sorted(mine, key=lambda j: (j.created_at, j.id.bytes), reverse=True)

    async with uow_factory() as uow:
        everything = await uow.jobs.list_for_owner(owner.id, limit=10, before=None)
        first = await uow.jobs.list_for_owner(owner.id, limit=2, before=None)
        second = await uow.jobs.list_for_owner(owner.id, limit=2, before=first[-1])
        third = await uow.jobs.list_for_owner(owner.id, limit=2, before=second[-1])
        past_the_end = await uow.jobs.list_for_owner(owner.id, limit=2, before=third[-1])

    assert everything == newest_first
    assert [*first, *second, *third] == newest_first
    assert (len(first), len(second), len(third), past_the_end) == (2, 2, 1, [])


async def test_a_user_without_jobs_has_an_empty_list(uow_factory: UnitOfWorkFactory) -> None:
    user = a_user()
    await add(uow_factory, user)
    await add_jobs(uow_factory, a_job())

    async with uow_factory() as uow:
        assert await uow.jobs.list_for_owner(user.id, limit=20, before=None) == []


async def claim(
    uow_factory: UnitOfWorkFactory, worker: str = "worker", now: datetime = START
) -> Job | None:
    async with uow_factory() as uow:
        job = await uow.jobs.claim_next(worker, now, now + LEASE)
        await uow.commit()
    return job


async def test_claiming_leases_the_job_and_counts_the_attempt(
    uow_factory: UnitOfWorkFactory,
) -> None:
    job = a_job(an_image())
    await add_jobs(uow_factory, job)
    now = START + timedelta(seconds=5)

    claimed = await claim(uow_factory, "worker-1", now)

    expected = msgspec.structs.replace(
        job,
        status=JobStatus.RUNNING,
        attempts=1,
        lease_owner="worker-1",
        lease_expires_at=now + LEASE,
        updated_at=now,
    )
    assert claimed == expected
    async with uow_factory() as uow:
        assert await uow.jobs.find(job.id) == expected


async def test_a_claim_with_the_photo_brings_the_photo_in_one_change(
    uow_factory: UnitOfWorkFactory,
) -> None:
    photo = an_image(b"the photo")
    job = a_job(photo)
    await add_jobs(uow_factory, job)
    async with uow_factory() as uow:
        await uow.images.add(photo)
        await uow.commit()

    async with uow_factory() as uow:
        claimed = await uow.jobs.claim_next_with_photo("worker-1", START, START + LEASE)
        await uow.commit()
    async with uow_factory() as uow:
        again = await uow.jobs.claim_next_with_photo("worker-2", START, START + LEASE)
        await uow.commit()

    assert claimed is not None
    assert claimed[1] == photo
    assert claimed[0] == msgspec.structs.replace(
        job,
        status=JobStatus.RUNNING,
        attempts=1,
        lease_owner="worker-1",
        lease_expires_at=START + LEASE,
    )
    assert again is None
    async with uow_factory() as uow:
        assert await uow.jobs.find(job.id) == claimed[0]


async def test_a_claimed_job_whose_photo_is_gone_comes_without_one(
    uow_factory: UnitOfWorkFactory,
) -> None:
    job = a_job(an_image())
    await add_jobs(uow_factory, job)

    async with uow_factory() as uow:
        claimed = await uow.jobs.claim_next_with_photo("worker", START, START + LEASE)
        await uow.commit()

    assert claimed is not None
    assert claimed[0].id == job.id
    assert claimed[1] is None


async def leased_job_with_photo(uow_factory: UnitOfWorkFactory) -> tuple[Job, StoredImage]:
    photo = an_image(b"the photo")
    await add_jobs(uow_factory, a_job(photo))
    async with uow_factory() as uow:
        await uow.images.add(photo)
        await uow.commit()
    job = await claim(uow_factory, "worker")
    assert job is not None
    return job, photo


async def test_completing_a_job_stores_the_output_drops_the_photo_and_ends_the_incident(
    uow_factory: UnitOfWorkFactory,
) -> None:
    job, photo = await leased_job_with_photo(uow_factory)
    async with uow_factory() as uow:
        await uow.incidents.open(an_incident())
        await uow.commit()
    output = an_image(b"the picture")
    now = START + timedelta(seconds=3)

    async with uow_factory() as uow:
        completed = await uow.jobs.complete(
            job.id, "worker", output, now, incident_source="imageGenerator"
        )
        await uow.commit()

    done = msgspec.structs.replace(
        job,
        status=JobStatus.SUCCEEDED,
        output_image_id=output.id,
        input_image_id=None,
        updated_at=now,
        lease_owner=None,
        lease_expires_at=None,
    )
    assert completed == (done, an_incident())
    async with uow_factory() as uow:
        assert await uow.jobs.find(job.id) == done
        assert await uow.images.find(output.id) == output
        assert await uow.images.find(photo.id) is None
        assert await uow.incidents.list_open() == []


async def test_completing_without_an_open_incident_ends_none(
    uow_factory: UnitOfWorkFactory,
) -> None:
    job, _ = await leased_job_with_photo(uow_factory)

    async with uow_factory() as uow:
        completed = await uow.jobs.complete(
            job.id, "worker", an_image(), START, incident_source="imageGenerator"
        )
        await uow.commit()

    assert completed is not None
    assert completed[0].status is JobStatus.SUCCEEDED
    assert completed[1] is None


@pytest.mark.parametrize("who", ["another worker", "nobody"])
async def test_completing_a_job_no_longer_leased_to_the_worker_changes_nothing(
    uow_factory: UnitOfWorkFactory, who: str
) -> None:
    job, _ = await leased_job_with_photo(uow_factory)
    async with uow_factory() as uow:
        await uow.incidents.open(an_incident())
        if who == "nobody":
            await uow.jobs.update(msgspec.structs.replace(job, status=JobStatus.FAILED))
        else:
            await uow.jobs.update(msgspec.structs.replace(job, lease_owner="another"))
        await uow.commit()
    before = await stored_state(uow_factory)

    async with uow_factory() as uow:
        completed = await uow.jobs.complete(
            job.id, "worker", an_image(), START, incident_source="imageGenerator"
        )
        await uow.commit()

    assert completed is None
    assert await stored_state(uow_factory) == before


async def test_claiming_takes_the_oldest_due_job_first(uow_factory: UnitOfWorkFactory) -> None:
    jobs = [a_job(created_at=START + timedelta(seconds=n)) for n in range(3)]
    await add_jobs(uow_factory, *jobs)
    now = START + timedelta(minutes=1)

    claimed = [await claim(uow_factory, now=now) for _ in range(4)]

    assert [job.id if job else None for job in claimed] == [*(job.id for job in jobs), None]


async def test_claiming_takes_the_oldest_job_even_if_it_was_added_later(
    uow_factory: UnitOfWorkFactory,
) -> None:
    newer = a_job(created_at=START + timedelta(seconds=10))
    older = a_job(created_at=START)
    await add_jobs(uow_factory, newer, older)

    claimed = await claim(uow_factory, now=START + timedelta(minutes=1))

    assert claimed is not None
    assert claimed.id == older.id


async def test_a_job_is_not_claimed_before_it_is_available(
    uow_factory: UnitOfWorkFactory,
) -> None:
    available_at = START + timedelta(minutes=5)
    job = a_job(available_at=available_at)
    await add_jobs(uow_factory, job)

    early = await claim(uow_factory, now=available_at - timedelta(microseconds=1))
    on_time = await claim(uow_factory, now=available_at)

    assert early is None
    assert on_time is not None
    assert on_time.id == job.id


async def test_a_running_job_with_a_live_lease_is_not_claimed(
    uow_factory: UnitOfWorkFactory,
) -> None:
    await add_jobs(uow_factory, a_job())
    assert await claim(uow_factory, "first", START) is not None

    assert await claim(uow_factory, "second", START) is None
    assert await claim(uow_factory, "second", START + LEASE - timedelta(microseconds=1)) is None


async def test_a_running_job_whose_lease_lapsed_is_claimed_again(
    uow_factory: UnitOfWorkFactory,
) -> None:
    job = a_job()
    await add_jobs(uow_factory, job)
    await claim(uow_factory, "vanished", START)

    reclaimed = await claim(uow_factory, "survivor", START + LEASE)

    assert reclaimed is not None
    assert reclaimed.id == job.id
    assert reclaimed.attempts == 2
    assert reclaimed.lease_owner == "survivor"
    assert reclaimed.lease_expires_at == START + LEASE + LEASE


async def test_finished_jobs_are_never_claimed(uow_factory: UnitOfWorkFactory) -> None:
    await add_jobs(
        uow_factory,
        a_job(status=JobStatus.SUCCEEDED),
        a_job(status=JobStatus.FAILED),
    )
    queued = a_job()
    await add_jobs(uow_factory, queued)
    async with uow_factory() as uow:
        await uow.jobs.update(msgspec.structs.replace(queued, status=JobStatus.SUCCEEDED))
        await uow.commit()

    assert await claim(uow_factory, now=START + timedelta(days=1)) is None


async def test_a_job_queued_again_for_a_retry_is_claimed_again_when_due(
    uow_factory: UnitOfWorkFactory,
) -> None:
    job = a_job()
    await add_jobs(uow_factory, job)
    claimed = await claim(uow_factory, "worker", START)
    assert claimed is not None
    retry_at = START + timedelta(seconds=30)
    async with uow_factory() as uow:
        await uow.jobs.update(
            msgspec.structs.replace(
                claimed,
                status=JobStatus.QUEUED,
                available_at=retry_at,
                lease_owner=None,
                lease_expires_at=None,
            )
        )
        await uow.commit()

    assert await claim(uow_factory, "worker", retry_at - timedelta(seconds=1)) is None
    again = await claim(uow_factory, "worker", retry_at)
    assert again is not None
    assert again.attempts == 2


async def test_only_the_lease_owner_may_extend_a_lease(uow_factory: UnitOfWorkFactory) -> None:
    job = a_job()
    await add_jobs(uow_factory, job)
    await claim(uow_factory, "owner", START)
    later = START + timedelta(minutes=10)

    async with uow_factory() as uow:
        by_owner = await uow.jobs.extend_lease(job.id, "owner", later)
        by_other = await uow.jobs.extend_lease(job.id, "other", later + LEASE)
        unknown = await uow.jobs.extend_lease(uuid.uuid4(), "owner", later)
        await uow.commit()

    assert (by_owner, by_other, unknown) == (True, False, False)
    async with uow_factory() as uow:
        stored = await uow.jobs.find(job.id)
    assert stored is not None
    assert (stored.lease_owner, stored.lease_expires_at) == ("owner", later)
    assert await claim(uow_factory, "other", later - timedelta(seconds=1)) is None


async def test_a_lease_cannot_be_extended_once_the_job_is_not_running(
    uow_factory: UnitOfWorkFactory,
) -> None:
    queued, finished = a_job(), a_job(status=JobStatus.SUCCEEDED, lease_owner="owner")
    await add_jobs(uow_factory, queued, finished)

    async with uow_factory() as uow:
        assert await uow.jobs.extend_lease(queued.id, "owner", START + LEASE) is False
        assert await uow.jobs.extend_lease(finished.id, "owner", START + LEASE) is False


async def test_finished_before_lists_old_finished_jobs_that_still_hold_an_output(
    uow_factory: UnitOfWorkFactory,
) -> None:
    cutoff = START + timedelta(days=7)
    old = cutoff - timedelta(seconds=1)
    expected = [
        a_job(status=JobStatus.SUCCEEDED, output_image_id=uuid.uuid4(), updated_at=old),
        a_job(status=JobStatus.FAILED, output_image_id=uuid.uuid4(), updated_at=START),
    ]
    others = [
        a_job(status=JobStatus.SUCCEEDED, output_image_id=uuid.uuid4(), updated_at=cutoff),
        a_job(status=JobStatus.SUCCEEDED, output_image_id=None, updated_at=START),
        a_job(status=JobStatus.QUEUED, output_image_id=uuid.uuid4(), updated_at=START),
        a_job(status=JobStatus.RUNNING, output_image_id=uuid.uuid4(), updated_at=START),
    ]
    await add_jobs(uow_factory, *expected, *others)

    async with uow_factory() as uow:
        found = await uow.jobs.finished_before(cutoff, 10)
        limited = await uow.jobs.finished_before(cutoff, 1)
        none = await uow.jobs.finished_before(cutoff, 0)

    assert sorted(found, key=lambda j: j.id) == sorted(expected, key=lambda j: j.id)
    assert len(limited) == 1
    assert limited[0] in expected
    assert none == []


# --- images ------------------------------------------------------------------------------


async def test_an_added_image_is_found_with_its_bytes(uow_factory: UnitOfWorkFactory) -> None:
    image = an_image(bytes(range(256)) * 4)
    async with uow_factory() as uow:
        await uow.images.add(image)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.images.find(image.id) == image
        assert await uow.images.find(uuid.uuid4()) is None


async def test_deleting_an_image_forgets_it_and_is_idempotent(
    uow_factory: UnitOfWorkFactory,
) -> None:
    kept, deleted = an_image(b"kept"), an_image(b"deleted")
    async with uow_factory() as uow:
        await uow.images.add(kept)
        await uow.images.add(deleted)
        await uow.commit()

    async with uow_factory() as uow:
        await uow.images.delete(deleted.id)
        await uow.images.delete(deleted.id)
        await uow.images.delete(uuid.uuid4())
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.images.find(deleted.id) is None
        assert await uow.images.find(kept.id) == kept


# --- incidents ---------------------------------------------------------------------------


def an_incident(source: str = "imageGenerator", message: str = "key refused") -> Incident:
    return Incident(source=source, message=message, started_at=START)


async def test_an_incident_opens_once_per_source_and_keeps_its_first_message(
    uow_factory: UnitOfWorkFactory,
) -> None:
    async with uow_factory() as uow:
        first = await uow.incidents.open(an_incident(message="key refused"))
        again = await uow.incidents.open(an_incident(message="out of credits"))
        other = await uow.incidents.open(an_incident(source="payments", message="down"))
        await uow.commit()

    async with uow_factory() as uow:
        assert (first, again, other) == (True, False, True)
        assert await uow.incidents.list_open() == [
            an_incident(message="key refused"),
            an_incident(source="payments", message="down"),
        ]


async def test_closing_an_incident_returns_it_once_and_lets_a_new_one_open(
    uow_factory: UnitOfWorkFactory,
) -> None:
    async with uow_factory() as uow:
        await uow.incidents.open(an_incident())
        await uow.commit()

    async with uow_factory() as uow:
        closed = await uow.incidents.close("imageGenerator")
        closed_again = await uow.incidents.close("imageGenerator")
        reopened = await uow.incidents.open(an_incident(message="out of credits"))
        await uow.commit()

    assert closed == an_incident()
    assert closed_again is None
    assert reopened is True
    async with uow_factory() as uow:
        assert await uow.incidents.list_open() == [an_incident(message="out of credits")]


async def test_open_incidents_are_listed_oldest_first(uow_factory: UnitOfWorkFactory) -> None:
    newer = Incident(source="a", message="newer", started_at=START + timedelta(minutes=1))
    older = Incident(source="b", message="older", started_at=START)
    async with uow_factory() as uow:
        await uow.incidents.open(newer)
        await uow.incidents.open(older)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.incidents.list_open() == [older, newer]


# --- purchases ---------------------------------------------------------------------------


async def test_an_added_purchase_is_found_and_updated(uow_factory: UnitOfWorkFactory) -> None:
    user = a_user()
    purchase = a_purchase(user, 10)
    await add(uow_factory, user)
    async with uow_factory() as uow:
        await uow.purchases.add(purchase)
        await uow.commit()

    paid = msgspec.structs.replace(
        purchase,
        status=PurchaseStatus.PAID,
        checkout_session_id="cs_test_1",
        payment_intent_id="pi_test_1",
        updated_at=START + timedelta(minutes=1),
    )
    async with uow_factory() as uow:
        assert await uow.purchases.find(purchase.id) == purchase
        assert await uow.purchases.find_for_update(purchase.id) == purchase
        await uow.purchases.update(paid)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.purchases.find(purchase.id) == paid
        assert await uow.purchases.find_by_payment_for_update("pi_test_1") == paid
        assert await uow.purchases.find_by_payment_for_update("pi_other") is None
        assert await uow.purchases.find(uuid.uuid4()) is None


async def test_purchases_are_listed_newest_first_per_user_and_limited(
    uow_factory: UnitOfWorkFactory,
) -> None:
    ada, grace = a_user(), a_user("grace@example.com")
    await add(uow_factory, ada, grace)
    bought = [
        a_purchase(ada if i % 2 else grace, created_at=START + timedelta(seconds=i))
        for i in range(5)
    ]
    async with uow_factory() as uow:
        for purchase in bought:
            await uow.purchases.add(purchase)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.purchases.list_recent(ada.id, 10) == [bought[3], bought[1]]
        assert await uow.purchases.list_recent(grace.id, 2) == [bought[4], bought[2]]
        assert await uow.purchases.list_recent(None, 3) == bought[:1:-1]
        assert await uow.purchases.list_recent(ada.id, 0) == []


async def test_pending_checkouts_counts_a_users_pending_purchases_since_a_time(
    uow_factory: UnitOfWorkFactory,
) -> None:
    ada, grace = a_user(), a_user("grace@example.com")
    await add(uow_factory, ada, grace)
    at = [START + timedelta(minutes=minutes) for minutes in range(6)]
    counted = [a_purchase(ada, created_at=at[2]), a_purchase(ada, created_at=at[4])]
    not_counted = [
        a_purchase(ada, created_at=at[1]),  # started too long ago
        a_purchase(ada, created_at=at[3], status=PurchaseStatus.PAID),
        a_purchase(ada, created_at=at[3], status=PurchaseStatus.FAILED),
        a_purchase(ada, created_at=at[3], status=PurchaseStatus.EXPIRED),
        a_purchase(ada, created_at=at[3], status=PurchaseStatus.REVERSED),
        a_purchase(grace, created_at=at[5]),  # someone else's
    ]
    async with uow_factory() as uow:
        for purchase in [*counted, *not_counted]:
            await uow.purchases.add(purchase)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.purchases.pending_checkouts(ada.id, since=at[1]) == PendingCheckouts(
            count=2, oldest_created_at=at[2]
        )
        assert await uow.purchases.pending_checkouts(ada.id, since=at[4]) == PendingCheckouts(
            count=0
        )
        assert await uow.purchases.pending_checkouts(grace.id, since=at[0]) == PendingCheckouts(
            count=1, oldest_created_at=at[5]
        )


async def test_a_reversal_is_remembered_once_per_payment(uow_factory: UnitOfWorkFactory) -> None:
    first = PaymentReversal(
        payment_intent_id="pi_1", kind="refund", reference="ch_1", created_at=START
    )
    again = msgspec.structs.replace(first, kind="dispute", reference="dp_1")
    async with uow_factory() as uow:
        await uow.purchases.lock_payment("pi_1")
        assert await uow.purchases.add_reversal(first)
        assert not await uow.purchases.add_reversal(again)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.purchases.find_reversal("pi_1") == first
        assert await uow.purchases.find_reversal("pi_2") is None


async def test_a_users_payment_customer_is_kept_once(uow_factory: UnitOfWorkFactory) -> None:
    user = a_user()
    await add(uow_factory, user)

    async with uow_factory() as uow:
        assert await uow.users.payment_customer(user.id) is None
        assert await uow.users.set_payment_customer(user.id, "cus_1") == "cus_1"
        assert await uow.users.set_payment_customer(user.id, "cus_2") == "cus_1"
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.users.payment_customer(user.id) == "cus_1"


async def test_ledger_entries_name_their_purchase(uow_factory: UnitOfWorkFactory) -> None:
    user = a_user()
    purchase = a_purchase(user)
    await add(uow_factory, user)
    entry = msgspec.structs.replace(an_entry(user, 5, key="checkout:cs_1"), purchase_id=purchase.id)
    async with uow_factory() as uow:
        await uow.purchases.add(purchase)
        await uow.credits.record(entry)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.credits.history(user.id, 10) == [entry]


# --- the unit of work: all or nothing ----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Baseline:
    """Committed state that the changes under test touch, and what they add."""

    user: User
    session: Session
    job: Job
    image: StoredImage
    new_user: User
    newcomer: User
    new_session: Session
    new_job: Job
    new_image: StoredImage
    purchase: Purchase
    new_purchase: Purchase


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
        await uow.free_credits.take(NETWORK, 1, FREE)
        await uow.images.add(image)
        await uow.jobs.add(job)
        await uow.incidents.open(an_incident())
        purchase = a_purchase(user)
        await uow.purchases.add(purchase)
        await uow.commit()
    new_image = an_image(b"new")
    return Baseline(
        user=user,
        session=session,
        job=job,
        image=image,
        new_user=a_user("grace@example.com"),
        newcomer=a_user("newcomer@example.com"),
        new_session=a_session(user),
        new_job=a_job(new_image, created_at=START + timedelta(seconds=1)),
        new_image=new_image,
        purchase=purchase,
        new_purchase=a_purchase(user, 20, created_at=START + timedelta(seconds=1)),
    )


async def view(uow: UnitOfWork, base: Baseline) -> dict[str, object]:
    """What the ports show of everything the changes below can touch."""
    return {
        "user": await uow.users.find_by_id(base.user.id),
        "user by email": await uow.users.find_by_email(base.user.email),
        "google user": await uow.users.find_by_google_id(GOOGLE_SUB),
        "new user": await uow.users.find_by_email(base.new_user.email),
        "newcomer": await uow.users.find_by_id(base.newcomer.id),
        "session": await uow.sessions.find(base.session.token_hash),
        "new session": await uow.sessions.find(base.new_session.token_hash),
        "balance": await uow.credits.balance(base.user.id),
        "history": await uow.credits.history(base.user.id, 100),
        "newcomer balance": await uow.credits.balance(base.newcomer.id),
        "newcomer history": await uow.credits.history(base.newcomer.id, 100),
        "free credits": await uow.free_credits.remaining(NETWORK, FREE),
        "other free credits": await uow.free_credits.remaining(OTHER_NETWORK, FREE),
        "job": await uow.jobs.find(base.job.id),
        "new job": await uow.jobs.find(base.new_job.id),
        "image": await uow.images.find(base.image.id),
        "new image": await uow.images.find(base.new_image.id),
        "incidents": await uow.incidents.list_open(),
        "purchases": await uow.purchases.list_recent(base.user.id, 10),
        "reversal": await uow.purchases.find_reversal("pi_baseline"),
        "customer": await uow.users.payment_customer(base.user.id),
    }


async def committed_view(uow_factory: UnitOfWorkFactory, base: Baseline) -> dict[str, object]:
    async with uow_factory() as uow:
        return await view(uow, base)


Change = Callable[[UnitOfWork, Baseline], Awaitable[object]]


async def add_user(uow: UnitOfWork, base: Baseline) -> None:
    await uow.users.add(base.new_user)


async def update_user(uow: UnitOfWork, base: Baseline) -> None:
    await uow.users.update(msgspec.structs.replace(base.user, name="Augusta", google_id=GOOGLE_SUB))


async def add_session(uow: UnitOfWork, base: Baseline) -> None:
    await uow.sessions.add(base.new_session)


async def delete_session(uow: UnitOfWork, base: Baseline) -> None:
    await uow.sessions.delete(base.session.token_hash)


async def purge_sessions(uow: UnitOfWork, base: Baseline) -> None:
    await uow.sessions.purge_expired(START + timedelta(days=30))


async def record_ledger_entry(uow: UnitOfWork, base: Baseline) -> None:
    await uow.credits.record(an_entry(base.user, -2, key="spend"))


async def record_first_entry_of_a_new_user(uow: UnitOfWork, base: Baseline) -> None:
    await uow.users.add(base.newcomer)
    await uow.credits.record(an_entry(base.newcomer, 3, key="welcome"))


async def take_free_credits(uow: UnitOfWork, base: Baseline) -> None:
    await uow.free_credits.take(NETWORK, 2, FREE)
    await uow.free_credits.take(OTHER_NETWORK, 1, FREE)


async def spend_credits(uow: UnitOfWork, base: Baseline) -> None:
    await uow.credits.spend(a_spending(base.user, 3))


async def give_free_credits_back(uow: UnitOfWork, base: Baseline) -> None:
    await uow.free_credits.give_back(NETWORK, 1, FREE)


async def add_job(uow: UnitOfWork, base: Baseline) -> None:
    await uow.jobs.add(base.new_job)


async def claim_job(uow: UnitOfWork, base: Baseline) -> None:
    await uow.jobs.claim_next("worker", START, START + LEASE)


async def finish_job(uow: UnitOfWork, base: Baseline) -> None:
    await uow.jobs.update(msgspec.structs.replace(base.job, status=JobStatus.SUCCEEDED))


async def add_image(uow: UnitOfWork, base: Baseline) -> None:
    await uow.images.add(base.new_image)


async def delete_image(uow: UnitOfWork, base: Baseline) -> None:
    await uow.images.delete(base.image.id)


async def open_incident(uow: UnitOfWork, base: Baseline) -> None:
    await uow.incidents.open(an_incident(source="payments"))


async def close_incident(uow: UnitOfWork, base: Baseline) -> None:
    await uow.incidents.close("imageGenerator")


async def add_purchase(uow: UnitOfWork, base: Baseline) -> None:
    await uow.purchases.add(base.new_purchase)


async def pay_purchase(uow: UnitOfWork, base: Baseline) -> None:
    await uow.purchases.update(
        msgspec.structs.replace(
            base.purchase, status=PurchaseStatus.PAID, payment_intent_id="pi_baseline"
        )
    )


async def add_reversal(uow: UnitOfWork, base: Baseline) -> None:
    await uow.purchases.add_reversal(
        PaymentReversal(
            payment_intent_id="pi_baseline", kind="refund", reference="ch_1", created_at=START
        )
    )


async def set_payment_customer(uow: UnitOfWork, base: Baseline) -> None:
    await uow.users.set_payment_customer(base.user.id, "cus_baseline")


CHANGES: list[Change] = [
    add_user,
    update_user,
    add_session,
    delete_session,
    purge_sessions,
    record_ledger_entry,
    record_first_entry_of_a_new_user,
    take_free_credits,
    spend_credits,
    give_free_credits_back,
    add_job,
    claim_job,
    finish_job,
    add_image,
    delete_image,
    open_incident,
    close_incident,
    add_purchase,
    pay_purchase,
    add_reversal,
    set_payment_customer,
]


@pytest.mark.parametrize("change", CHANGES, ids=[change.__name__ for change in CHANGES])
async def test_leaving_without_commit_undoes_the_change(
    uow_factory: UnitOfWorkFactory, baseline: Baseline, change: Change
) -> None:
    before = await committed_view(uow_factory, baseline)
    stored_before = await stored_state(uow_factory)

    async with uow_factory() as uow:
        await change(uow, baseline)
        assert await view(uow, baseline) != before  # seen inside the unit of work

    assert await committed_view(uow_factory, baseline) == before
    assert await stored_state(uow_factory) == stored_before


@pytest.mark.parametrize("change", CHANGES, ids=[change.__name__ for change in CHANGES])
async def test_committing_makes_the_change_visible_to_the_next_unit_of_work(
    uow_factory: UnitOfWorkFactory, baseline: Baseline, change: Change
) -> None:
    before = await committed_view(uow_factory, baseline)
    stored_before = await stored_state(uow_factory)

    async with uow_factory() as uow:
        await change(uow, baseline)
        changed = await view(uow, baseline)
        await uow.commit()

    assert changed != before
    assert await committed_view(uow_factory, baseline) == changed
    assert await stored_state(uow_factory) != stored_before


async def test_an_exception_inside_rolls_back_every_change_and_propagates(
    uow_factory: UnitOfWorkFactory, baseline: Baseline
) -> None:
    before = await committed_view(uow_factory, baseline)
    stored_before = await stored_state(uow_factory)

    async def change_everything_then_fail() -> None:
        async with uow_factory() as uow:
            for change in CHANGES:
                await change(uow, baseline)
            raise Boom

    with pytest.raises(Boom):
        await change_everything_then_fail()

    assert await committed_view(uow_factory, baseline) == before
    assert await stored_state(uow_factory) == stored_before


async def test_changes_committed_before_an_exception_are_kept(
    uow_factory: UnitOfWorkFactory,
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

    async with uow_factory() as uow:
        assert await uow.users.find_by_id(kept.id) == kept
        assert await uow.users.find_by_id(lost.id) is None
        assert await uow.users.find_by_email(lost.email) is None
        assert await uow.credits.balance(kept.id) == 4
        assert [e.amount for e in await uow.credits.history(kept.id, 10)] == [4]


async def test_an_explicit_rollback_undoes_only_what_was_not_committed(
    uow_factory: UnitOfWorkFactory,
) -> None:
    kept, undone = a_user("kept@example.com"), a_user("undone@example.com")

    async with uow_factory() as uow:
        await uow.users.add(kept)
        await uow.commit()
        await uow.users.add(undone)
        await uow.rollback()
        assert await uow.users.find_by_id(undone.id) is None
        assert await uow.users.find_by_id(kept.id) == kept

    async with uow_factory() as uow:
        assert await uow.users.find_by_id(kept.id) == kept
        assert await uow.users.find_by_id(undone.id) is None


async def test_a_unit_of_work_can_go_on_after_a_commit_and_commit_again(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()

    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.commit()
        await uow.credits.record(an_entry(user, 2))
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.credits.balance(user.id) == 2


async def test_a_refused_overdraft_leaves_balance_and_ledger_unchanged(
    uow_factory: UnitOfWorkFactory, baseline: Baseline
) -> None:
    before = await committed_view(uow_factory, baseline)
    stored_before = await stored_state(uow_factory)

    async with uow_factory() as uow:
        with pytest.raises(InsufficientCredits):
            await uow.credits.record(an_entry(baseline.user, -6))
        assert await view(uow, baseline) == before

    assert await stored_state(uow_factory) == stored_before


async def test_a_repeated_idempotency_key_is_refused(
    uow_factory: UnitOfWorkFactory, baseline: Baseline
) -> None:
    async with uow_factory() as uow:
        with pytest.raises(DuplicateLedgerEntry):
            await uow.credits.record(an_entry(baseline.user, 1, key="baseline"))

    async with uow_factory() as uow:
        assert await uow.credits.balance(baseline.user.id) == 5


async def test_a_rolled_back_idempotency_key_can_be_used_again(
    uow_factory: UnitOfWorkFactory, baseline: Baseline
) -> None:
    async with uow_factory() as uow:
        await uow.credits.record(an_entry(baseline.user, 1, key="retry-me"))

    async with uow_factory() as uow:
        balance = await uow.credits.record(an_entry(baseline.user, 1, key="retry-me"))
        await uow.commit()

    assert balance == 6


async def test_concurrent_spends_never_overdraw_the_balance(
    make_storage_container: AsyncContainerFactory,
) -> None:
    container = await make_storage_container(DEFAULT_FREE_CREDITS="0")
    user = (
        await container.auth_service().register(email="ada@example.com", password="x" * 12)
    ).user
    await container.admin_service().grant(user.email, 100, reason="stock", actor="test")
    caller = Caller(user=user, client_network=NETWORK)

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


async def test_queue_stats_count_queued_jobs_and_name_the_oldest(
    uow_factory: UnitOfWorkFactory,
) -> None:
    async with uow_factory() as uow:
        assert await uow.jobs.queue_stats() == (0, None)
    older = a_job(an_image(), created_at=START)
    newer = a_job(an_image(), created_at=START + timedelta(seconds=30))
    finished = a_job(an_image(), created_at=START - timedelta(hours=1), status=JobStatus.SUCCEEDED)
    await add_jobs(uow_factory, newer, older, finished)

    async with uow_factory() as uow:
        assert await uow.jobs.queue_stats() == (2, START)

    await claim(uow_factory, "worker-1", START + timedelta(minutes=1))

    async with uow_factory() as uow:
        assert await uow.jobs.queue_stats() == (1, START + timedelta(seconds=30))
