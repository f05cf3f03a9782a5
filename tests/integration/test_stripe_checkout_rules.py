"""The further rules of selling through Stripe, end to end on PostgreSQL with the fake
Stripe: payment pages that close after 30 minutes, at most 5 pending checkouts per
account, and webhook events that count only for the Checkout Session a purchase stored.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest

from support.api import register
from support.server import serving
from support.stripe_shop import (
    Buyer,
    Shop,
    ledger,
    new_buyer,
    stripe_env,
)

PAGE_LIFETIME = 30 * 60
HEADROOM = 60  # what the adapter adds for Stripe's clock (see docs/payments.md)
MAX_PENDING = 5


def stored_purchase(database_url: str, purchase_id: str) -> tuple[Any, ...]:
    """The purchase's row as stored: status, session, payment, updated_at."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT status, checkout_session_id, payment_intent_id, updated_at FROM purchases "
            "WHERE id = %s",
            (purchase_id,),
        ).fetchone()
    assert row is not None
    return tuple(row)


def purchase_count(database_url: str, user_id: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM purchases WHERE user_id = %s", (user_id,))
        return int(row.fetchone()[0])  # type: ignore[index]


def warnings_in_log(shop: Shop, *words: str) -> list[str]:
    return [
        line
        for line in shop.server.output(tail=None).splitlines()
        if "WARNING" in line and all(word in line for word in words)
    ]


def sessions_of(shop: Shop, user_id: str) -> list[dict[str, Any]]:
    return [s for s in shop.fake.sessions if s["metadata"].get("user_id") == user_id]


# --- checkout limits --------------------------------------------------------------------------


def test_the_checkout_session_expires_30_minutes_ahead(shop: Shop) -> None:
    with shop.client() as client:
        register(client)
        before = int(time.time())

        response = client.post("/api/credits/checkout", json={"pack": 5})

        after = int(time.time()) + 1
    assert response.status_code == 200, response.text
    call = shop.fake.requests[-1]
    assert call.path == "/v1/checkout/sessions"
    expires_at = int(call.form["expires_at"])
    assert before + PAGE_LIFETIME <= expires_at <= after + PAGE_LIFETIME + HEADROOM
    session = shop.fake.sessions[-1]
    assert session["client_reference_id"] == response.json()["purchaseId"]
    assert session["expires_at"] == expires_at  # Stripe (the fake) took it as it was


def test_the_sixth_pending_checkout_is_429_and_opens_no_stripe_session(shop: Shop) -> None:
    with shop.client() as client:
        user = register(client)
        for _ in range(MAX_PENDING):
            assert client.post("/api/credits/checkout", json={"pack": 5}).status_code == 200
        requests_before = len(shop.fake.requests)

        refused = client.post("/api/credits/checkout", json={"pack": 20})

        assert refused.status_code == 429, refused.text
        assert refused.json()["status_code"] == 429
        assert "5 unfinished checkouts" in refused.json()["detail"]
        retry_after = int(refused.headers["retry-after"])
        assert PAGE_LIFETIME - 60 <= retry_after <= PAGE_LIFETIME
        assert shop.fake.requests[requests_before:] == []  # Stripe was not asked
        assert len(sessions_of(shop, user["id"])) == MAX_PENDING
        assert purchase_count(shop.database_url, user["id"]) == MAX_PENDING
        purchases = client.get("/api/credits/purchases").json()["purchases"]
        assert [p["pack"] for p in purchases] == [5] * MAX_PENDING


def test_a_purchase_that_ends_makes_room_for_another_checkout(shop: Shop) -> None:
    with shop.client() as client:
        buyers = [new_buyer(shop, client, 5)]
        for _ in range(MAX_PENDING - 1):
            assert client.post("/api/credits/checkout", json={"pack": 5}).status_code == 200
        assert client.post("/api/credits/checkout", json={"pack": 5}).status_code == 429

        assert shop.deliver(shop.fake.expired(buyers[0].session)).is_success

        assert client.post("/api/credits/checkout", json={"pack": 5}).status_code == 200
        assert client.post("/api/credits/checkout", json={"pack": 5}).status_code == 429


def test_ten_checkouts_at_once_across_two_api_processes_open_five_sessions(shop: Shop) -> None:
    with shop.client() as client:
        user = register(client)
        cookies = dict(client.cookies)
    with serving(stripe_env(shop.fake, shop.database_url)) as second:
        bases = [shop.server.base_url, second.base_url]

        def checkout(index: int) -> httpx.Response:
            with httpx.Client(base_url=bases[index % 2], cookies=cookies, timeout=30) as c:
                return c.post("/api/credits/checkout", json={"pack": 5})

        with ThreadPoolExecutor(max_workers=10) as pool:
            statuses = sorted(r.status_code for r in pool.map(checkout, range(10)))

    assert statuses == [200] * MAX_PENDING + [429] * (10 - MAX_PENDING)
    assert len(sessions_of(shop, user["id"])) == MAX_PENDING
    assert purchase_count(shop.database_url, user["id"]) == MAX_PENDING


# --- which events count -----------------------------------------------------------------------


def another_session(buyer: Buyer, **changes: Any) -> dict[str, Any]:
    """A Checkout Session the service never opened (a Payment Link, another app on the
    same Stripe account) that names the buyer's purchase."""
    session = dict(buyer.session)
    session.update(
        id=f"cs_test_elsewhere_{uuid.uuid4().hex[:12]}",
        customer="cus_someone_else",
        client_reference_id=buyer.purchase_id,
        metadata={"purchase_id": buyer.purchase_id},
        **changes,
    )
    return session


@pytest.mark.parametrize("kind", ["completed", "async_succeeded", "async_failed", "expired"])
def test_an_event_for_another_session_naming_the_purchase_changes_nothing(
    shop: Shop, buyer: Buyer, kind: str
) -> None:
    before = stored_purchase(shop.database_url, buyer.purchase_id)
    assert before[1] == buyer.session["id"]
    stranger = another_session(buyer)
    event = getattr(shop.fake, kind)(stranger)

    response = shop.deliver(event)

    assert response.status_code == 200, response.text
    assert response.json() == {"received": True}
    assert stored_purchase(shop.database_url, buyer.purchase_id) == before
    assert ledger(shop.database_url, buyer.user_id) == (0, [])
    assert warnings_in_log(shop, stranger["id"], buyer.purchase_id, buyer.session["id"])


def test_another_session_cannot_fulfil_a_paid_purchase_twice(shop: Shop, buyer: Buyer) -> None:
    assert shop.deliver(shop.fake.completed(buyer.session, payment_intent="pi_first")).is_success
    paid = stored_purchase(shop.database_url, buyer.purchase_id)
    stranger = another_session(buyer)

    assert shop.deliver(shop.fake.completed(stranger, payment_intent="pi_second")).is_success

    assert stored_purchase(shop.database_url, buyer.purchase_id) == paid
    assert ledger(shop.database_url, buyer.user_id)[0] == 10
    assert warnings_in_log(shop, stranger["id"], buyer.purchase_id)


def test_a_paid_event_without_amount_total_credits_nothing(shop: Shop, buyer: Buyer) -> None:
    event = shop.fake.completed(buyer.session, payment_intent="pi_no_amount")
    del event["data"]["object"]["amount_total"]

    assert shop.deliver(event).is_success

    assert buyer.purchase()["status"] == "pending"
    assert ledger(shop.database_url, buyer.user_id) == (0, [])
    assert warnings_in_log(shop, event["id"], buyer.purchase_id, "amount_total")
    # The genuine event, with its amount, still counts.
    assert shop.deliver(
        shop.fake.completed(buyer.session, payment_intent="pi_no_amount")
    ).is_success
    assert buyer.purchase()["status"] == "paid"
