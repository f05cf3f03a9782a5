"""Selling credits through Stripe, end to end: ``picpaygo serve`` on PostgreSQL in stripe
mode, a fake Stripe server speaking Stripe's wire format, and signed webhook events
delivered over real HTTP.

Most tests share one server and one fake (each with its own user); tests that need a
process of their own (two API processes, a database taken away) start it themselves.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest

from support.api import register
from support.fake_stripe import StripeAnswer, signature_header
from support.server import serving
from support.stripe_shop import (
    CANCEL_URL,
    SECRET_KEY,
    SUCCESS_URL,
    WEBHOOK_SECRET,
    Buyer,
    Shop,
    ledger,
    new_buyer,
    spend,
    stripe_env,
)
from support.tcp_proxy import TcpProxy

# --- checkout -------------------------------------------------------------------------------


def test_checkout_opens_a_stripe_session_for_the_pack(shop: Shop) -> None:
    with shop.client() as client:
        user = register(client, name="Ada", surname="Lovelace")
        requests_before = len(shop.fake.requests)

        response = client.post("/api/credits/checkout", json={"pack": 20})

        assert response.status_code == 200, response.text
        body = response.json()
        customer_call, session_call = shop.fake.requests[requests_before:]
        assert customer_call.path == "/v1/customers"
        assert customer_call.headers["authorization"] == f"Bearer {SECRET_KEY}"
        assert customer_call.form["email"] == user["email"]
        assert customer_call.form["metadata"] == {"user_id": user["id"]}
        customer_id = shop.fake.customers[-1]["id"]
        assert session_call.path == "/v1/checkout/sessions"
        assert session_call.headers["authorization"] == f"Bearer {SECRET_KEY}"
        assert session_call.idempotency_key == body["purchaseId"]
        form = session_call.form
        assert form["mode"] == "payment"
        assert form["line_items"] == [
            {
                "quantity": "1",
                "price_data": {
                    "currency": "usd",
                    "unit_amount": "1600",
                    "product_data": {"name": "PicPayGo: 20 credits"},
                },
            }
        ]
        assert form["client_reference_id"] == body["purchaseId"]
        assert form["metadata"] == {
            "purchase_id": body["purchaseId"],
            "user_id": user["id"],
            "pack": "20",
        }
        assert form["customer"] == customer_id
        assert (form["success_url"], form["cancel_url"]) == (SUCCESS_URL, CANCEL_URL)
        session = shop.fake.sessions[-1]
        assert body == {
            "credits": 0,
            "balance": 0,
            "freeCredits": 0,
            "authenticated": True,
            "status": "pending",
            "checkoutUrl": session["url"],
            "purchaseId": body["purchaseId"],
        }
        purchase = client.get(f"/api/credits/purchases/{body['purchaseId']}").json()
        assert (purchase["status"], purchase["amount"], purchase["currency"]) == (
            "pending",
            1600,
            "usd",
        )
        with psycopg.connect(shop.database_url) as conn:
            stored = conn.execute("SELECT stripe_id FROM users WHERE id = %s", (user["id"],))
            assert stored.fetchone() == (customer_id,)

        # The second purchase reuses the customer kept in users.stripe_id.
        again = client.post("/api/credits/checkout", json={"pack": 5})
        assert again.status_code == 200, again.text
        (second_call,) = shop.fake.requests[requests_before + 2 :]
        assert second_call.path == "/v1/checkout/sessions"
        assert second_call.form["customer"] == customer_id
        assert second_call.form["line_items"][0]["price_data"]["unit_amount"] == "500"
        assert again.json()["purchaseId"] != body["purchaseId"]


@pytest.mark.parametrize(
    ("answers", "status_code"),
    [
        ([StripeAnswer.bad_key()], 502),
        ([StripeAnswer.invalid_request()], 502),
        ([StripeAnswer.rate_limited()], 503),
        ([StripeAnswer.server_error(500)] * 3, 503),
        ([StripeAnswer.server_error(503)] * 3, 503),
        ([StripeAnswer.slow(3)] * 3, 503),
    ],
    ids=["401 bad key", "400 invalid request", "429", "500", "503", "timeout"],
)
def test_stripe_failing_at_checkout_fails_the_purchase_and_moves_no_credit(
    shop: Shop, answers: list[StripeAnswer], status_code: int
) -> None:
    with shop.client() as client:
        user = register(client)
        # The customer is made first, normally; the Checkout Session then fails.
        client.post("/api/credits/checkout", json={"pack": 5})
        requests_before = len(shop.fake.requests)
        shop.fake.script(*answers)

        response = client.post("/api/credits/checkout", json={"pack": 10})

        assert response.status_code == status_code, response.text
        assert response.json()["status_code"] == status_code
        assert "no money was taken" in response.json()["detail"]
        attempts = shop.fake.requests[requests_before:]
        assert {r.path for r in attempts} == {"/v1/checkout/sessions"}
        # A retry is safe only with the same idempotency key: every attempt carries it.
        assert len({r.idempotency_key for r in attempts}) == 1
        (failed,) = [
            p for p in client.get("/api/credits/purchases").json()["purchases"] if p["pack"] == 10
        ]
        assert failed["status"] == "failed"
        assert attempts[0].idempotency_key == failed["purchaseId"]
        assert ledger(shop.database_url, user["id"]) == (0, [])


def test_a_passing_stripe_failure_is_retried_with_the_same_idempotency_key(shop: Shop) -> None:
    with shop.client() as client:
        register(client)
        client.post("/api/credits/checkout", json={"pack": 5})
        requests_before = len(shop.fake.requests)
        shop.fake.script(StripeAnswer.server_error(500))

        response = client.post("/api/credits/checkout", json={"pack": 10})

        assert response.status_code == 200, response.text
        assert response.json()["status"] == "pending"
        first, retry = shop.fake.requests[requests_before:]
        assert first.idempotency_key == retry.idempotency_key == response.json()["purchaseId"]
        assert first.form == retry.form


# --- the webhook ----------------------------------------------------------------------------


def test_a_signed_completed_event_credits_the_pack_exactly_once(shop: Shop, buyer: Buyer) -> None:
    event = shop.fake.completed(buyer.session, payment_intent="pi_once")

    first = shop.deliver(event)
    again = shop.deliver(event)
    duplicate = shop.deliver(shop.fake.completed(buyer.session, payment_intent="pi_once"))

    for response in (first, again, duplicate):
        assert response.status_code == 200, response.text
        assert response.json() == {"received": True}
    assert buyer.balance() == 10
    assert buyer.purchase()["status"] == "paid"
    balance, entries = ledger(shop.database_url, buyer.user_id)
    assert balance == 10
    assert entries == [(10, "purchase", f"checkout:{buyer.session['id']}", buyer.purchase_id)]


def test_the_same_event_ten_times_at_once_across_two_api_processes_credits_once(
    shop: Shop, buyer: Buyer
) -> None:
    event = shop.fake.completed(buyer.session, payment_intent="pi_concurrent")
    with serving(stripe_env(shop.fake, shop.database_url)) as second:
        urls = [shop.webhook_url, f"{second.base_url}/api/stripe/webhook"]
        with ThreadPoolExecutor(max_workers=10) as pool:
            responses = list(pool.map(lambda i: shop.fake.deliver(urls[i % 2], event), range(10)))

    assert [r.status_code for r in responses] == [200] * 10
    assert buyer.balance() == 10
    balance, entries = ledger(shop.database_url, buyer.user_id)
    assert (balance, len(entries)) == (10, 1)


@pytest.mark.parametrize(
    "spoil",
    ["wrong signature", "another secret", "older than 300 s", "no header", "garbage header"],
)
def test_an_unverifiable_event_is_a_400_and_changes_nothing(
    shop: Shop, buyer: Buyer, spoil: str
) -> None:
    event = shop.fake.completed(buyer.session)
    payload, header = shop.fake.signed(event)
    headers = {"Content-Type": "application/json", "Stripe-Signature": header}
    if spoil == "wrong signature":
        headers["Stripe-Signature"] = header[:-4] + ("0000" if header[-4:] != "0000" else "1111")
    elif spoil == "another secret":
        headers["Stripe-Signature"] = signature_header(payload, "whsec_someone_else")
    elif spoil == "older than 300 s":
        headers["Stripe-Signature"] = signature_header(
            payload, WEBHOOK_SECRET, int(time.time()) - 301
        )
    elif spoil == "no header":
        del headers["Stripe-Signature"]
    else:
        headers["Stripe-Signature"] = "t=abc,v1="

    response = httpx.post(shop.webhook_url, content=payload, headers=headers, timeout=30)

    assert response.status_code == 400, response.text
    assert response.json()["status_code"] == 400
    assert "Stripe-Signature" in response.json()["detail"]
    assert buyer.purchase()["status"] == "pending"
    assert ledger(shop.database_url, buyer.user_id) == (0, [])


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"id": "evt_1"}', b'{"id": "evt_1", "type": 7, "data": {}}', b"\xff\xfe"],
)
def test_a_signed_body_that_is_no_event_is_a_400(shop: Shop, body: bytes) -> None:
    header = signature_header(body, WEBHOOK_SECRET)

    response = httpx.post(
        shop.webhook_url,
        content=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": header},
        timeout=30,
    )

    assert response.status_code == 400, response.text


def test_a_delayed_payment_that_succeeds_is_credited_when_it_succeeds(
    shop: Shop, buyer: Buyer
) -> None:
    assert shop.deliver(shop.fake.completed(buyer.session, payment_status="unpaid")).is_success
    assert buyer.purchase()["status"] == "pending"
    assert buyer.balance() == 0

    assert shop.deliver(shop.fake.async_succeeded(buyer.session)).is_success

    assert buyer.purchase()["status"] == "paid"
    assert buyer.balance() == 10


def test_a_delayed_payment_that_fails_fails_the_purchase(shop: Shop, buyer: Buyer) -> None:
    shop.deliver(shop.fake.completed(buyer.session, payment_status="unpaid"))

    assert shop.deliver(shop.fake.async_failed(buyer.session)).is_success

    assert buyer.purchase()["status"] == "failed"
    assert ledger(shop.database_url, buyer.user_id) == (0, [])


def test_an_expired_checkout_expires_the_purchase(shop: Shop, buyer: Buyer) -> None:
    assert shop.deliver(shop.fake.expired(buyer.session)).is_success

    assert buyer.purchase()["status"] == "expired"
    assert ledger(shop.database_url, buyer.user_id) == (0, [])


@pytest.mark.parametrize("reversal", ["refund", "dispute"])
def test_a_refund_or_dispute_takes_the_credits_back_once(
    shop: Shop, buyer: Buyer, reversal: str
) -> None:
    shop.deliver(shop.fake.completed(buyer.session, payment_intent=f"pi_{reversal}_1"))
    event = (
        shop.fake.refunded(f"pi_{reversal}_1", 900)
        if reversal == "refund"
        else shop.fake.dispute(f"pi_{reversal}_1", 900)
    )

    for _ in range(3):
        assert shop.deliver(event).is_success

    assert buyer.purchase()["status"] == "reversed"
    balance, entries = ledger(shop.database_url, buyer.user_id)
    assert balance == 0
    assert [entry[:2] for entry in entries] == [(10, "purchase"), (-10, "payment_reversed")]
    assert entries[1][3] == buyer.purchase_id


def test_credits_already_spent_are_a_warned_shortfall_never_a_negative_balance(
    shop: Shop, buyer: Buyer
) -> None:
    shop.deliver(shop.fake.completed(buyer.session, payment_intent="pi_spent"))
    spend(buyer.client, 7)

    assert shop.deliver(shop.fake.refunded("pi_spent", 900)).is_success
    assert shop.deliver(shop.fake.dispute("pi_spent", 900)).is_success

    assert buyer.purchase()["status"] == "reversed"
    balance, entries = ledger(shop.database_url, buyer.user_id)
    assert balance == 0
    assert [entry[:2] for entry in entries] == [
        (10, "purchase"),
        (-7, "consume"),
        (-3, "payment_reversed"),
    ]
    log = shop.server.output(tail=None)
    (line,) = [
        line for line in log.splitlines() if buyer.purchase_id in line and "shortfall" in line
    ]
    assert "WARNING" in line
    assert "took back 3 of 10 credits" in line
    assert "a shortfall of 7 credits" in line


def test_a_partial_refund_takes_nothing_back(shop: Shop, buyer: Buyer) -> None:
    shop.deliver(shop.fake.completed(buyer.session, payment_intent="pi_partial"))

    assert shop.deliver(shop.fake.refunded("pi_partial", 900, amount_refunded=300)).is_success

    assert buyer.purchase()["status"] == "paid"
    assert buyer.balance() == 10


def test_a_refund_before_the_payment_is_confirmed_ends_reversed(shop: Shop, buyer: Buyer) -> None:
    assert shop.deliver(shop.fake.refunded("pi_early", 900)).is_success
    assert buyer.purchase()["status"] == "pending"

    assert shop.deliver(shop.fake.completed(buyer.session, payment_intent="pi_early")).is_success

    assert buyer.purchase()["status"] == "reversed"
    balance, entries = ledger(shop.database_url, buyer.user_id)
    assert balance == 0
    assert [entry[:2] for entry in entries] == [(10, "purchase"), (-10, "payment_reversed")]


def test_a_refund_racing_its_payments_confirmation_always_ends_reversed(shop: Shop) -> None:
    with shop.client() as client, ThreadPoolExecutor(max_workers=4) as pool:
        for attempt in range(5):
            buyer = new_buyer(shop, client, 5)
            payment = f"pi_race_{attempt}_{buyer.purchase_id[:8]}"
            events = [
                shop.fake.completed(buyer.session, payment_intent=payment),
                shop.fake.refunded(payment, 500),
            ]
            if attempt % 2:
                events.reverse()

            responses = list(pool.map(shop.deliver, events))

            assert [r.status_code for r in responses] == [200, 200]
            assert buyer.purchase()["status"] == "reversed"
            assert ledger(shop.database_url, buyer.user_id)[0] == 0
            client.post("/api/auth/logout")


def test_a_payment_confirmed_after_the_page_expired_is_credited(shop: Shop, buyer: Buyer) -> None:
    shop.deliver(shop.fake.expired(buyer.session))

    assert shop.deliver(shop.fake.completed(buyer.session, payment_intent="pi_late")).is_success
    assert shop.deliver(shop.fake.expired(buyer.session)).is_success

    assert buyer.purchase()["status"] == "paid"
    assert buyer.balance() == 10


def test_an_event_for_an_unknown_purchase_is_acknowledged_and_logged(shop: Shop) -> None:
    stranger = {
        "id": "cs_test_unknown",
        "object": "checkout.session",
        "client_reference_id": "00000000-0000-4000-8000-00000000beef",
        "metadata": {},
        "payment_status": "paid",
        "payment_intent": "pi_unknown",
        "amount_total": 500,
        "currency": "usd",
    }

    response = shop.deliver(shop.fake.event("checkout.session.completed", stranger))

    assert response.status_code == 200, response.text
    assert response.json() == {"received": True}
    log = shop.server.output(tail=None)
    assert any(
        "00000000-0000-4000-8000-00000000beef" in line and "does not exist" in line
        for line in log.splitlines()
    ), log


def test_other_event_types_are_acknowledged_and_ignored(shop: Shop, buyer: Buyer) -> None:
    event = shop.fake.event("customer.created", {"id": "cus_1", "object": "customer"})

    assert shop.deliver(event).json() == {"received": True}
    assert buyer.purchase()["status"] == "pending"


def test_with_storage_down_the_webhook_answers_503_so_stripe_retries(
    shop: Shop, buyer: Buyer
) -> None:
    event = shop.fake.completed(buyer.session, payment_intent="pi_outage")
    with (
        TcpProxy.to_database(shop.database_url) as proxy,
        serving(
            stripe_env(shop.fake, proxy.url(shop.database_url), DATABASE_TIMEOUT_SECONDS="1")
        ) as server,
    ):
        url = f"{server.base_url}/api/stripe/webhook"
        proxy.cut()

        down = shop.fake.deliver(url, event)

        assert down.status_code == 503, down.text
        assert down.json()["status_code"] == 503
        proxy.restore()
        assert buyer.purchase()["status"] == "pending"

        # Stripe sends it again later: now it counts, once.
        deadline = time.monotonic() + 20
        retried = shop.fake.deliver(url, event)
        while retried.status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.2)
            retried = shop.fake.deliver(url, event)
        assert retried.status_code == 200, retried.text

    assert buyer.purchase()["status"] == "paid"
    assert buyer.balance() == 10


def test_the_fake_payment_page_pays_through_the_webhook_and_redirects(
    shop: Shop, buyer: Buyer
) -> None:
    shop.fake.webhook_url = shop.webhook_url
    try:
        response = httpx.get(buyer.checkout["checkoutUrl"], timeout=30)
    finally:
        shop.fake.webhook_url = None

    assert response.status_code == 303
    assert response.headers["location"] == f"https://app.example/paid?session={buyer.session['id']}"
    assert buyer.purchase()["status"] == "paid"
    assert buyer.balance() == 10
