"""Credits: the paid balance and its ledger, free credits, and how a spend is covered."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import msgspec

from picpaygo_core.errors import InsufficientCredits


class CreditSource(enum.StrEnum):
    """Which pot a job's credit was taken from, so a refund returns it there."""

    FREE = "free"
    PAID = "paid"


class LedgerEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One change of a user's paid balance. The balance is the sum of these."""

    id: UUID
    user_id: UUID
    amount: int
    reason: str
    actor: str
    created_at: datetime
    job_id: UUID | None = None
    idempotency_key: str | None = None
    purchase_id: UUID | None = None


class Charge(msgspec.Struct, frozen=True, kw_only=True):
    """How a spend was covered (free credits first, then the paid balance), and what is
    left afterwards: ``free_left`` for the network, ``balance`` for the user (0 if none)."""

    free: int
    paid: int
    free_left: int
    balance: int


def free_first(amount: int, *, free_left: int, balance: int | None) -> tuple[int, int]:
    """How a spend of ``amount`` credits is covered, as (free, paid): the network's free
    credits first (``free_left`` of them), the rest from the paid ``balance`` (None for an
    anonymous client, who has none).

    Raises ``InsufficientCredits`` when the two together do not cover the amount.
    """
    free = min(free_left, amount)
    paid = amount - free
    if paid and (balance is None or balance < paid):
        raise InsufficientCredits
    return free, paid


class Spending(msgspec.Struct, frozen=True, kw_only=True):
    """A request to take ``amount`` credits: free ones of ``network`` first (a network
    never seen has ``initial_free``), then the paid balance of ``user_id`` (None for an
    anonymous client), the paid part written to the ledger as entry ``entry_id``."""

    client_network: str
    amount: int
    initial_free: int
    user_id: UUID | None
    entry_id: UUID
    reason: str
    actor: str
    now: datetime
    job_id: UUID | None = None
    idempotency_key: str | None = None

    def paid_entry(self, user_id: UUID, paid: int) -> LedgerEntry:
        """The ledger entry that takes the ``paid`` part of this spend from ``user_id``."""
        return LedgerEntry(
            id=self.entry_id,
            user_id=user_id,
            amount=-paid,
            reason=self.reason,
            actor=self.actor,
            created_at=self.now,
            job_id=self.job_id,
            idempotency_key=self.idempotency_key,
        )


class CreditsView(msgspec.Struct, frozen=True, kw_only=True):
    """What a client may spend: free credits of its network plus its paid balance."""

    credits: int
    balance: int
    free_credits: int
    authenticated: bool
