"""GET /api/credits/packs: the packs for sale and their prices, public, in every mode."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from entrypoints.container import Container

Client = AsyncTestClient[Litestar]
OpenClient = Callable[[Container], Awaitable[Client]]


async def test_the_default_prices_are_listed_smallest_pack_first(client: Client) -> None:
    response = await client.get("/api/credits/packs")

    assert response.status_code == 200
    assert response.json() == {
        "packs": [
            {"pack": 5, "amount": 500, "currency": "usd"},
            {"pack": 10, "amount": 900, "currency": "usd"},
            {"pack": 20, "amount": 1600, "currency": "usd"},
        ]
    }


@pytest.mark.parametrize("mode", ["instant", "disabled", "stripe"])
async def test_the_prices_follow_the_settings_in_every_payment_mode(
    make_container: Callable[..., Container], open_client: OpenClient, mode: str
) -> None:
    stripe = (
        {
            "STRIPE_SECRET_KEY": "sk_test_x",
            "STRIPE_WEBHOOK_SECRET": "whsec_x",
            "CHECKOUT_SUCCESS_URL": "https://picpaygo.test/?paid",
            "CHECKOUT_CANCEL_URL": "https://picpaygo.test/",
        }
        if mode == "stripe"
        else {}
    )
    container = make_container(
        PAYMENTS_MODE=mode,
        CREDIT_PACK_PRICES="5:450,10:800,20:1500",
        PAYMENTS_CURRENCY="EUR",
        **stripe,
    )
    client = await open_client(container)

    response = await client.get("/api/credits/packs")

    assert response.status_code == 200
    assert [(p["pack"], p["amount"], p["currency"]) for p in response.json()["packs"]] == [
        (5, 450, "eur"),
        (10, 800, "eur"),
        (20, 1500, "eur"),
    ]


async def test_the_packs_are_public_and_need_no_session(client: Client) -> None:
    client.cookies.clear()

    response = await client.get("/api/credits/packs")

    assert response.status_code == 200
