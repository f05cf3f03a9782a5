"""The Stripe gateway's reading of webhook events: the signature first, then only the
fields the service acts on, each checked (no network: events are signed locally)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
import stripe

from adapters.stripe import StripePaymentGateway
from picpaygo_core.errors import InvalidPaymentEvent
from picpaygo_core.models import (
    CheckoutExpired,
    CheckoutFailed,
    CheckoutPaid,
    CheckoutUnpaid,
    IgnoredPaymentEvent,
    PaymentReversed,
)
from support.fake_stripe import signature_header

SECRET = "whsec_unit"


@pytest.fixture
def gateway() -> StripePaymentGateway:
    return StripePaymentGateway(
        client=stripe.StripeClient("sk_test_unit"),
        webhook_secret=SECRET,
        success_url="https://app.example/ok",
        cancel_url="https://app.example/no",
    )


def signed(event: dict[str, Any], secret: str = SECRET, at: int | None = None) -> tuple[bytes, str]:
    payload = json.dumps(event).encode()
    return payload, signature_header(payload, secret, at)


def event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"id": "evt_1", "object": "event", "type": kind, "data": {"object": obj}}


SESSION = {
    "id": "cs_1",
    "object": "checkout.session",
    "client_reference_id": "purchase-1",
    "metadata": {"purchase_id": "purchase-1", "pack": "5"},
    "payment_status": "paid",
    "payment_intent": "pi_1",
    "amount_total": 500,
    "currency": "usd",
    "customer_details": {"email": "ada@example.com", "address": None},
}


def read(gateway: StripePaymentGateway, evt: dict[str, Any]) -> object:
    return gateway.read_event(*signed(evt))


def test_a_paid_session_is_read_with_its_payment(gateway: StripePaymentGateway) -> None:
    assert read(gateway, event("checkout.session.completed", SESSION)) == CheckoutPaid(
        event_id="evt_1",
        session_id="cs_1",
        purchase_reference="purchase-1",
        payment_intent_id="pi_1",
        amount_total=500,
        currency="usd",
    )


@pytest.mark.parametrize("status", ["paid", "no_payment_required"])
def test_settled_payment_statuses_mean_paid(gateway: StripePaymentGateway, status: str) -> None:
    session = {**SESSION, "payment_status": status}

    assert isinstance(read(gateway, event("checkout.session.completed", session)), CheckoutPaid)


def test_an_unpaid_completed_session_is_unpaid(gateway: StripePaymentGateway) -> None:
    session = {**SESSION, "payment_status": "unpaid", "payment_intent": None}

    assert isinstance(read(gateway, event("checkout.session.completed", session)), CheckoutUnpaid)


def test_the_metadata_names_the_purchase_when_the_client_reference_is_missing(
    gateway: StripePaymentGateway,
) -> None:
    session = {**SESSION, "client_reference_id": None}

    paid = read(gateway, event("checkout.session.async_payment_succeeded", session))

    assert isinstance(paid, CheckoutPaid)
    assert paid.purchase_reference == "purchase-1"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("checkout.session.async_payment_failed", CheckoutFailed),
        ("checkout.session.expired", CheckoutExpired),
    ],
)
def test_sessions_that_end_without_money(
    gateway: StripePaymentGateway, kind: str, expected: type
) -> None:
    assert isinstance(read(gateway, event(kind, SESSION)), expected)


def test_a_full_refund_and_a_dispute_are_reversals(gateway: StripePaymentGateway) -> None:
    charge = {"id": "ch_1", "object": "charge", "payment_intent": "pi_1", "refunded": True}
    dispute = {"id": "dp_1", "object": "dispute", "payment_intent": "pi_1", "charge": "ch_1"}

    assert read(gateway, event("charge.refunded", charge)) == PaymentReversed(
        event_id="evt_1", payment_intent_id="pi_1", kind="refund", reference="ch_1"
    )
    assert read(gateway, event("charge.dispute.created", dispute)) == PaymentReversed(
        event_id="evt_1", payment_intent_id="pi_1", kind="dispute", reference="dp_1"
    )


@pytest.mark.parametrize(
    ("kind", "obj"),
    [
        ("charge.refunded", {"id": "ch_1", "payment_intent": "pi_1", "refunded": False}),
        ("charge.refunded", {"id": "ch_1", "payment_intent": None, "refunded": True}),
        ("charge.dispute.created", {"id": "dp_1", "payment_intent": None}),
        ("customer.created", {"id": "cus_1"}),
    ],
    ids=["partial refund", "refund without payment", "dispute without payment", "other"],
)
def test_events_the_service_does_not_act_on_are_ignored(
    gateway: StripePaymentGateway, kind: str, obj: dict[str, Any]
) -> None:
    assert isinstance(read(gateway, event(kind, obj)), IgnoredPaymentEvent)


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        ("no header", "(no header)"),
        ("another secret", "(no matching signature)"),
        ("stale", "(stale timestamp)"),
        ("not a header", "(unreadable header)"),
        ("tampered body", "(no matching signature)"),
        ("not utf-8", "not UTF-8"),
    ],
)
def test_unverifiable_payloads_are_refused_before_being_read(
    gateway: StripePaymentGateway, spoil: str, reason: str
) -> None:
    payload, header = signed(event("checkout.session.completed", SESSION))
    signature: str | None = header
    if spoil == "no header":
        signature = None
    elif spoil == "another secret":
        signature = signed(event("checkout.session.completed", SESSION), "whsec_other")[1]
    elif spoil == "stale":
        signature = signature_header(payload, SECRET, int(time.time()) - 301)
    elif spoil == "not a header":
        signature = "garbage"
    elif spoil == "tampered body":
        payload = payload.replace(b"500", b"5")
    else:
        payload = b"\xff" + payload
        signature = signature_header(payload, SECRET)

    with pytest.raises(InvalidPaymentEvent, match=re.escape(reason)):
        gateway.read_event(payload, signature)


@pytest.mark.parametrize(
    "body",
    [
        {"id": "evt_1"},
        {"id": "evt_1", "type": "checkout.session.completed", "data": {"object": {"x": 1}}},
        {"id": "evt_1", "type": "charge.refunded", "data": {"object": {"id": 5}}},
        {
            "id": "evt_1",
            "type": "checkout.session.completed",
            "data": {"object": {**SESSION, "metadata": {"a": 1}}},
        },
        [1, 2],
    ],
)
def test_signed_bodies_that_are_no_readable_event_are_refused(
    gateway: StripePaymentGateway, body: Any
) -> None:
    with pytest.raises(InvalidPaymentEvent):
        gateway.read_event(*signed(body))
