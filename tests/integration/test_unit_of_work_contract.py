"""One meaning of a unit of work, on every storage: every kind of change it makes is
invisible and undone unless ``commit()`` is called, and a failure inside it leaves
nothing behind."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import msgspec
import pytest

from picpaygo_core.models import (
    Caller,
    Incident,
    JobStatus,
    KeyClaim,
    PaymentReversal,
    StoredResponse,
    User,
)
from picpaygo_core.ports import UnitOfWork, UnitOfWorkFactory
from picpaygo_core.services.ledger import spending_of
from support.builders import NETWORK, a_job, a_purchase, a_session, a_user, an_entry, an_image
from support.fakes import START
from support.stored_state import stored_state

FREE = 3
LEASE_UNTIL = START + timedelta(minutes=1)
CLAIM = KeyClaim(
    key="key-1",
    fingerprint="request-1",
    now=START,
    expires_at=START + timedelta(hours=24),
    stale_before=START - timedelta(minutes=2),
)
SCOPE = f"network:{NETWORK}"
USER = a_user()
SESSION = a_session(USER)
EXPIRED = a_session(USER, expires_at=START)
PHOTO = an_image()
QUEUED = a_job(PHOTO)
RUNNING = a_job(
    status=JobStatus.RUNNING, lease_owner="worker-1", lease_expires_at=LEASE_UNTIL, attempts=1
)
PURCHASE = a_purchase(USER)

Change = Callable[[UnitOfWork], Awaitable[object]]


class Boom(Exception):
    """Something going wrong in the middle of a unit of work."""


async def seed(uow_factory: UnitOfWorkFactory) -> None:
    """A user with a session, an expired one, a balance, free credits spent once, a queued
    job with its photo, a running job, a pending purchase, an incident and a claimed key."""
    async with uow_factory() as uow:
        await uow.users.add(USER)
        await uow.sessions.add(SESSION)
        await uow.sessions.add(EXPIRED)
        await uow.credits.record(an_entry(USER, 10))
        await uow.free_credits.take(NETWORK, 1, FREE)
        await uow.images.add(PHOTO)
        await uow.jobs.add(QUEUED)
        await uow.jobs.add(RUNNING)
        await uow.purchases.add(PURCHASE)
        await uow.incidents.open(Incident(source="generator", message="down", started_at=START))
        await uow.idempotency.claim(SCOPE, CLAIM)
        await uow.commit()


def spending(user: User | None, amount: int) -> object:
    return spending_of(
        Caller(user=user, client_network=NETWORK),
        amount=amount,
        free_credits=FREE,
        reason="consume",
        now=START,
    )


CHANGES: dict[str, Change] = {
    "add a user": lambda uow: uow.users.add(a_user("grace@example.com")),
    "update a user": lambda uow: uow.users.update(msgspec.structs.replace(USER, name="Ada L")),
    "keep a payment customer": lambda uow: uow.users.set_payment_customer(USER.id, "cus_1"),
    "add a session": lambda uow: uow.sessions.add(a_session(USER)),
    "delete a session": lambda uow: uow.sessions.delete(SESSION.token_hash),
    "end a user's sessions": lambda uow: uow.sessions.delete_for_user(USER.id),
    "purge expired sessions": lambda uow: uow.sessions.purge_expired(START),
    "claim a key while reading the caller": lambda uow: uow.sessions.find_caller(
        SESSION.token_hash,
        NETWORK,
        initial_free=FREE,
        claim=msgspec.structs.replace(CLAIM, key="key-2"),
    ),
    "record a ledger entry": lambda uow: uow.credits.record(an_entry(USER, 5)),
    "spend free and paid credits": lambda uow: uow.credits.spend(spending(USER, 4)),  # type: ignore[arg-type]
    "spend free credits": lambda uow: uow.credits.spend(spending(None, 1)),  # type: ignore[arg-type]
    "take free credits": lambda uow: uow.free_credits.take(NETWORK, 1, FREE),
    "give free credits back": lambda uow: uow.free_credits.give_back(NETWORK, 1, FREE),
    "add a job": lambda uow: uow.jobs.add(a_job()),
    "update a job": lambda uow: uow.jobs.update(
        msgspec.structs.replace(QUEUED, status=JobStatus.FAILED, error="no")
    ),
    "claim a job": lambda uow: uow.jobs.claim_next("worker-2", START, LEASE_UNTIL),
    "claim a job with its photo": lambda uow: uow.jobs.claim_next_with_photo(
        "worker-2", START, LEASE_UNTIL
    ),
    "complete a job": lambda uow: uow.jobs.complete(
        RUNNING.id, "worker-1", an_image(b"picture"), START, incident_source="generator"
    ),
    "extend a lease": lambda uow: uow.jobs.extend_lease(
        RUNNING.id, "worker-1", LEASE_UNTIL + timedelta(minutes=1)
    ),
    "add an image": lambda uow: uow.images.add(an_image(b"other")),
    "delete an image": lambda uow: uow.images.delete(PHOTO.id),
    "open an incident": lambda uow: uow.incidents.open(
        Incident(source="other", message="down", started_at=START)
    ),
    "close an incident": lambda uow: uow.incidents.close("generator"),
    "add a purchase": lambda uow: uow.purchases.add(a_purchase(USER, 10)),
    "update a purchase": lambda uow: uow.purchases.update(
        msgspec.structs.replace(PURCHASE, checkout_session_id="cs_1")
    ),
    "remember a reversal": lambda uow: uow.purchases.add_reversal(
        PaymentReversal(payment_intent_id="pi_1", kind="refund", reference="re_1", created_at=START)
    ),
    "claim a key": lambda uow: uow.idempotency.claim(
        SCOPE, msgspec.structs.replace(CLAIM, key="key-3")
    ),
    "keep an answer": lambda uow: uow.idempotency.complete(
        SCOPE, CLAIM.key, StoredResponse(status_code=200, body=b"{}")
    ),
    "release a claim": lambda uow: uow.idempotency.release(SCOPE, CLAIM.key),
    "purge expired keys": lambda uow: uow.idempotency.purge_expired(START + timedelta(days=2)),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
async def test_a_change_not_committed_is_undone(
    uow_factory: UnitOfWorkFactory, change: Change
) -> None:
    await seed(uow_factory)
    before = await stored_state(uow_factory)

    async with uow_factory() as uow:
        await change(uow)
        await change_made_and_seen_inside(uow)

    assert await stored_state(uow_factory) == before


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
async def test_a_failure_after_a_change_leaves_nothing_behind(
    uow_factory: UnitOfWorkFactory, change: Change
) -> None:
    await seed(uow_factory)
    before = await stored_state(uow_factory)

    with pytest.raises(Boom):
        await change_then_fail(uow_factory, change)

    assert await stored_state(uow_factory) == before


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
async def test_a_committed_change_is_kept(uow_factory: UnitOfWorkFactory, change: Change) -> None:
    await seed(uow_factory)
    before = await stored_state(uow_factory)

    async with uow_factory() as uow:
        await change(uow)
        await uow.commit()

    assert await stored_state(uow_factory) != before


async def change_then_fail(uow_factory: UnitOfWorkFactory, change: Change) -> None:
    async with uow_factory() as uow:
        await change(uow)
        raise Boom


async def change_made_and_seen_inside(uow: UnitOfWork) -> None:
    """A read in the same unit of work, after the change (it must not end the unit)."""
    await uow.credits.balance(USER.id)
