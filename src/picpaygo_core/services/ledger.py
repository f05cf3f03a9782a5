"""Spending and refunding credits inside an open unit of work.

These are the only functions that move credits for a client; every use case that
charges or refunds goes through them, so the rules live in one place.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime
from uuid import UUID

from picpaygo_core.errors import DuplicateLedgerEntry
from picpaygo_core.models import (
    Caller,
    Charge,
    CreditSource,
    CreditsView,
    Job,
    LedgerEntry,
    Purchase,
    Spending,
)
from picpaygo_core.ports import UnitOfWork


def ledger_entry(
    *,
    user_id: UUID,
    amount: int,
    reason: str,
    actor: str,
    now: datetime,
    job_id: UUID | None = None,
    idempotency_key: str | None = None,
    purchase_id: UUID | None = None,
) -> LedgerEntry:
    """A new ledger entry with a fresh id."""
    return LedgerEntry(
        id=uuid.uuid4(),
        user_id=user_id,
        amount=amount,
        reason=reason,
        actor=actor,
        created_at=now,
        job_id=job_id,
        idempotency_key=idempotency_key,
        purchase_id=purchase_id,
    )


def purchase_credit(purchase: Purchase, *, key: str, actor: str, now: datetime) -> LedgerEntry:
    """The ledger entry that adds a paid purchase's pack, at most once (``key``)."""
    return ledger_entry(
        user_id=purchase.user_id,
        amount=purchase.pack,
        reason="purchase",
        actor=actor,
        now=now,
        idempotency_key=key,
        purchase_id=purchase.id,
    )


async def credits_view(uow: UnitOfWork, caller: Caller, free_credits: int) -> CreditsView:
    """What ``caller`` can spend right now."""
    free = await uow.free_credits.remaining(caller.client_network, free_credits)
    balance = await uow.credits.balance(caller.user.id) if caller.user else 0
    return CreditsView(
        credits=free + balance,
        balance=balance,
        free_credits=free,
        authenticated=caller.user is not None,
    )


def spending_of(
    caller: Caller,
    *,
    amount: int,
    free_credits: int,
    reason: str,
    now: datetime,
    job_id: UUID | None = None,
) -> Spending:
    """``caller``'s request to take ``amount`` credits, free ones of its network first,
    for ``CreditRepository.spend`` (one atomic change; ``InsufficientCredits`` and nothing
    spent when they do not suffice)."""
    return Spending(
        client_network=caller.client_network,
        amount=amount,
        initial_free=free_credits,
        user_id=caller.user.id if caller.user else None,
        entry_id=uuid.uuid4(),
        reason=reason,
        actor=caller.actor,
        now=now,
        job_id=job_id,
        idempotency_key=f"charge:{job_id}" if job_id else None,
    )


def charged_view(caller: Caller, charge: Charge) -> CreditsView:
    """What ``caller`` can spend after ``charge``."""
    return view_after(charge, authenticated=caller.user is not None)


def view_after(charge: Charge, *, authenticated: bool) -> CreditsView:
    """What is left to spend after ``charge``."""
    return CreditsView(
        credits=charge.free_left + charge.balance,
        balance=charge.balance,
        free_credits=charge.free_left,
        authenticated=authenticated,
    )


async def refund_job(uow: UnitOfWork, job: Job, *, free_credits: int, now: datetime) -> None:
    """Give a failed job's credit back to where it came from, at most once."""
    if job.refunded:
        return
    if job.credit_source is CreditSource.FREE or job.owner_id is None:
        await uow.free_credits.give_back(job.client_network, 1, free_credits)
        return
    # An earlier attempt that committed its refund makes this one a no-op.
    with contextlib.suppress(DuplicateLedgerEntry):
        await uow.credits.record(
            ledger_entry(
                user_id=job.owner_id,
                amount=1,
                reason="refund",
                actor="system",
                now=now,
                job_id=job.id,
                idempotency_key=f"refund:{job.id}",
            )
        )
