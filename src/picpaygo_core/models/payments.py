"""Purchases of credit packs and the payment provider's events about them."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import msgspec

from picpaygo_core.models.credits import CreditsView


class PurchaseStatus(enum.StrEnum):
    """Where the purchase of a credit pack is in its life."""

    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    REVERSED = "reversed"


class Purchase(msgspec.Struct, frozen=True, kw_only=True):
    """One attempt of a user to buy a credit pack, and what became of the money.

    ``amount`` is in minor units of ``currency`` (cents for ``usd``). The provider's
    checkout session and payment are kept once known, so its events can be matched.
    """

    id: UUID
    user_id: UUID
    pack: int
    amount: int
    currency: str
    status: PurchaseStatus
    created_at: datetime
    updated_at: datetime
    checkout_session_id: str | None = None
    payment_intent_id: str | None = None


class PendingCheckouts(msgspec.Struct, frozen=True, kw_only=True):
    """A buyer's unfinished checkouts started since some time: how many, and when the
    oldest of them started (None without any)."""

    count: int
    oldest_created_at: datetime | None = None


class CheckoutSession(msgspec.Struct, frozen=True, kw_only=True):
    """A payment page the provider opened for a purchase: where to send the buyer."""

    id: str
    url: str
    customer_id: str | None = None


class CheckoutOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What a checkout did: the purchase, the buyer's credits now, and the payment page.

    ``checkout_url`` is None when the purchase was completed at once.
    """

    purchase: Purchase
    credits: CreditsView
    checkout_url: str | None


class CheckoutPaid(msgspec.Struct, frozen=True, kw_only=True, tag="checkout_paid"):
    """The provider says the money of a checkout arrived (at once or after a delay)."""

    event_id: str
    session_id: str
    purchase_reference: str | None
    payment_intent_id: str | None
    amount_total: int | None = None
    currency: str | None = None


class CheckoutUnpaid(msgspec.Struct, frozen=True, kw_only=True, tag="checkout_unpaid"):
    """A checkout was completed but the money has not arrived yet (a delayed method)."""

    event_id: str
    session_id: str
    purchase_reference: str | None
    payment_intent_id: str | None


class CheckoutFailed(msgspec.Struct, frozen=True, kw_only=True, tag="checkout_failed"):
    """A delayed payment of a checkout failed: no money will come."""

    event_id: str
    session_id: str
    purchase_reference: str | None


class CheckoutExpired(msgspec.Struct, frozen=True, kw_only=True, tag="checkout_expired"):
    """The buyer never finished the checkout and its page expired."""

    event_id: str
    session_id: str
    purchase_reference: str | None


class PaymentReversed(msgspec.Struct, frozen=True, kw_only=True, tag="payment_reversed"):
    """The money of a payment went back to the buyer: a full refund or a dispute."""

    event_id: str
    payment_intent_id: str
    kind: str
    reference: str


class IgnoredPaymentEvent(msgspec.Struct, frozen=True, kw_only=True, tag="ignored"):
    """An event of a kind the service does not act on (acknowledged all the same)."""

    event_id: str
    event_type: str


PaymentEvent = (
    CheckoutPaid
    | CheckoutUnpaid
    | CheckoutFailed
    | CheckoutExpired
    | PaymentReversed
    | IgnoredPaymentEvent
)


class PaymentReversal(msgspec.Struct, frozen=True, kw_only=True):
    """A refund or dispute reported for a payment, kept even before its purchase is known
    (events may arrive in any order), so the purchase is reversed whenever it is paid."""

    payment_intent_id: str
    kind: str
    reference: str
    created_at: datetime
