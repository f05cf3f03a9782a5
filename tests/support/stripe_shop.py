"""A server selling through a fake Stripe, for the integration tests of payments: its
settings, handles on it and its buyers, and what the database holds for them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from support.api import register
from support.fake_stripe import FakeStripe
from support.postgres import empty_tables
from support.server import ServerProcess, serving

SECRET_KEY = "sk_test_picpaygo"
WEBHOOK_SECRET = "whsec_picpaygo_test"
SUCCESS_URL = "https://app.example/paid?session={CHECKOUT_SESSION_ID}"
CANCEL_URL = "https://app.example/cancelled"
PRICES = {5: 500, 10: 900, 20: 1600}


def stripe_env(fake: FakeStripe, database_url: str, **extra: str) -> dict[str, str]:
    """Settings of a server that sells through ``fake`` and stores in ``database_url``."""
    return {
        "DATABASE_URL": database_url,
        "JOB_WORKERS": "0",
        "DEFAULT_FREE_CREDITS": "0",
        "AUTH_ATTEMPTS_PER_MINUTE": "0",
        "PAYMENTS_MODE": "stripe",
        "STRIPE_SECRET_KEY": SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": fake.url,
        "STRIPE_TIMEOUT_SECONDS": "1",
        "CHECKOUT_SUCCESS_URL": SUCCESS_URL,
        "CHECKOUT_CANCEL_URL": CANCEL_URL,
        **extra,
    }


@dataclass
class Shop:
    """The shared server, its fake Stripe and the database behind them."""

    server: ServerProcess
    fake: FakeStripe
    database_url: str

    @property
    def webhook_url(self) -> str:
        return f"{self.server.base_url}/api/stripe/webhook"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.base_url, timeout=30.0)

    def deliver(self, event: dict[str, Any], **options: Any) -> httpx.Response:
        return self.fake.deliver(self.webhook_url, event, **options)


@dataclass
class Buyer:
    """A signed-in user with a pending purchase and its Checkout Session at the fake."""

    client: httpx.Client
    user_id: str
    email: str
    checkout: dict[str, Any]
    session: dict[str, Any]

    @property
    def purchase_id(self) -> str:
        value: str = self.checkout["purchaseId"]
        return value

    def purchase(self) -> dict[str, Any]:
        response = self.client.get(f"/api/credits/purchases/{self.purchase_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def balance(self) -> int:
        value: int = self.client.get("/api/credits").json()["balance"]
        return value


def new_buyer(shop: Shop, client: httpx.Client, pack: int) -> Buyer:
    user = register(client)
    response = client.post("/api/credits/checkout", json={"pack": pack})
    assert response.status_code == 200, response.text
    body = response.json()
    (session,) = [s for s in shop.fake.sessions if s["client_reference_id"] == body["purchaseId"]]
    return Buyer(client, user["id"], user["email"], body, session)


def ledger(database_url: str, user_id: str) -> tuple[int, list[tuple[Any, ...]]]:
    """The user's stored balance and ledger entries (amount, reason, key, purchase id)."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT balance FROM credits WHERE user_id = %s", (user_id,)).fetchone()
        entries = conn.execute(
            "SELECT amount, reason, idempotency_key, purchase_id::text FROM credit_ledger "
            "WHERE user_id = %s ORDER BY seq",
            (user_id,),
        ).fetchall()
    assert row is not None
    assert row[0] == sum(entry[0] for entry in entries)  # the balance is the ledger's sum
    return row[0], entries


def spend(client: httpx.Client, amount: int) -> None:
    response = client.post("/api/credits/consume", json={"amount": amount})
    assert response.status_code == 200, response.text


# Fixtures of the test modules that sell through one server per module (the integration
# tests' conftest makes them known).


@pytest.fixture(scope="module")
def fake_stripe() -> Iterator[FakeStripe]:
    """A fake Stripe for the module."""
    with FakeStripe(secret_key=SECRET_KEY, webhook_secret=WEBHOOK_SECRET) as fake:
        yield fake


@pytest.fixture(scope="module")
def shop(postgres_server: str, fake_stripe: FakeStripe) -> Iterator[Shop]:
    """A server of the module selling through ``fake_stripe``; its tables emptied after."""
    try:
        with serving(stripe_env(fake_stripe, postgres_server)) as server:
            yield Shop(server, fake_stripe, postgres_server)
    finally:
        empty_tables(postgres_server)


@pytest.fixture
def buyer(shop: Shop) -> Iterator[Buyer]:
    """A new signed-in user of ``shop`` with a pending pack of 10."""
    with shop.client() as client:
        yield new_buyer(shop, client, 10)
