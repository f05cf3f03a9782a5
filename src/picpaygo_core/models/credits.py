"""Credits: the paid balance and its ledger, free credits, and how a spend is covered."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import msgspec


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


class Spending(msgspec.Struct, frozen=True, kw_only=True):
    """A request to take ``amount`` credits: free ones of ``network`` first (a network
    never seen has ``initial_free``), then the paid balance of ``user_id`` (None for an
    anonymous client), the paid part written to the ledger as entry ``entry_id``."""

    network: str
    amount: int
    initial_free: int
    user_id: UUID | None
    entry_id: UUID
    reason: str
    actor: str
    now: datetime
    job_id: UUID | None = None
    idempotency_key: str | None = None


class CreditsView(msgspec.Struct, frozen=True, kw_only=True):
    """What a client may spend: free credits of its network plus its paid balance."""

    credits: int
    balance: int
    free_credits: int
    authenticated: bool
