"""Stripe webhook events, once their signature is verified, read into the core's events.

Only the fields the service acts on are read, with their types checked; anything else in
Stripe's objects is ignored, so new fields Stripe adds never break the webhook.
"""

from __future__ import annotations

import msgspec

from picpaygo_core.errors import InvalidPaymentEvent
from picpaygo_core.models import (
    CheckoutExpired,
    CheckoutFailed,
    CheckoutPaid,
    CheckoutUnpaid,
    IgnoredPaymentEvent,
    PaymentEvent,
    PaymentReversed,
)

# Payment statuses of a completed Checkout Session that mean the money is there.
SETTLED = ("paid", "no_payment_required")


class _Data(msgspec.Struct):
    object: msgspec.Raw


class _Envelope(msgspec.Struct):
    id: str
    type: str
    data: _Data


class _Session(msgspec.Struct):
    id: str
    client_reference_id: str | None = None
    metadata: dict[str, str] | None = None
    payment_status: str | None = None
    payment_intent: str | None = None
    amount_total: int | None = None
    currency: str | None = None

    @property
    def purchase_reference(self) -> str | None:
        """Our purchase id: the client reference, or the metadata if it was lost."""
        return self.client_reference_id or (self.metadata or {}).get("purchase_id")


class _Charge(msgspec.Struct):
    id: str
    payment_intent: str | None = None
    refunded: bool = False


class _Dispute(msgspec.Struct):
    id: str
    payment_intent: str | None = None


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_SESSION = msgspec.json.Decoder(_Session)
_CHARGE = msgspec.json.Decoder(_Charge)
_DISPUTE = msgspec.json.Decoder(_Dispute)


def read_verified_event(payload: bytes) -> PaymentEvent:
    """The core's event for a verified payload; ``InvalidPaymentEvent`` if it is no event."""
    try:
        envelope = _ENVELOPE.decode(payload)
        return _event_of(envelope)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidPaymentEvent(f"The body is not a Stripe event: {exc}.") from None


def _event_of(envelope: _Envelope) -> PaymentEvent:
    kind = envelope.type
    raw = envelope.data.object
    if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        session = _SESSION.decode(raw)
        paid = kind.endswith("succeeded") or session.payment_status in SETTLED
        if paid:
            return CheckoutPaid(
                event_id=envelope.id,
                session_id=session.id,
                purchase_reference=session.purchase_reference,
                payment_intent_id=session.payment_intent,
                amount_total=session.amount_total,
                currency=session.currency,
            )
        return CheckoutUnpaid(
            event_id=envelope.id,
            session_id=session.id,
            purchase_reference=session.purchase_reference,
            payment_intent_id=session.payment_intent,
        )
    if kind == "checkout.session.async_payment_failed":
        session = _SESSION.decode(raw)
        return CheckoutFailed(
            event_id=envelope.id,
            session_id=session.id,
            purchase_reference=session.purchase_reference,
        )
    if kind == "checkout.session.expired":
        session = _SESSION.decode(raw)
        return CheckoutExpired(
            event_id=envelope.id,
            session_id=session.id,
            purchase_reference=session.purchase_reference,
        )
    if kind == "charge.refunded":
        charge = _CHARGE.decode(raw)
        # A partial refund leaves the payment standing: only a full one is a reversal.
        if charge.refunded and charge.payment_intent:
            return PaymentReversed(
                event_id=envelope.id,
                payment_intent_id=charge.payment_intent,
                kind="refund",
                reference=charge.id,
            )
    if kind == "charge.dispute.created":
        dispute = _DISPUTE.decode(raw)
        if dispute.payment_intent:
            return PaymentReversed(
                event_id=envelope.id,
                payment_intent_id=dispute.payment_intent,
                kind="dispute",
                reference=dispute.id,
            )
    return IgnoredPaymentEvent(event_id=envelope.id, event_type=kind)
