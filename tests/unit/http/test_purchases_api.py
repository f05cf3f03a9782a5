"""/api/credits/checkout with instant payments, and /api/credits/purchases over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from entrypoints.container import Container
from support.fakes import FakeClock

Client = AsyncTestClient[Litestar]
OpenClient = Callable[[Container], Awaitable[Client]]
ContainerFactory = Callable[..., Container]


async def sign_in(client: Client, email: str = "ada@example.com") -> None:
    response = await client.post(
        "/api/auth/register", json={"email": email, "password": "correct horse battery"}
    )
    assert response.status_code == 201, response.text


async def buy(client: Client, pack: int) -> dict[str, object]:
    response = await client.post("/api/credits/checkout", json={"pack": pack})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_an_instant_checkout_answers_completed_with_its_purchase(client: Client) -> None:
    await sign_in(client)

    bought = await buy(client, 10)

    assert bought["status"] == "completed"
    assert bought["checkoutUrl"] is None
    purchase = (await client.get(f"/api/credits/purchases/{bought['purchaseId']}")).json()
    assert purchase == {
        "purchaseId": bought["purchaseId"],
        "pack": 10,
        "amount": 900,
        "currency": "usd",
        "status": "paid",
        "createdAt": purchase["createdAt"],
        "updatedAt": purchase["updatedAt"],
    }


async def test_prices_and_currency_follow_the_settings(
    make_container: ContainerFactory, open_client: OpenClient
) -> None:
    container = make_container(CREDIT_PACK_PRICES="5:250,10:450,20:800", PAYMENTS_CURRENCY="EUR")
    client = await open_client(container)
    await sign_in(client)

    bought = await buy(client, 20)

    purchase = (await client.get(f"/api/credits/purchases/{bought['purchaseId']}")).json()
    assert (purchase["amount"], purchase["currency"]) == (800, "eur")


async def test_purchases_are_listed_newest_first(client: Client, clock: FakeClock) -> None:
    await sign_in(client)
    ids = []
    for pack in (5, 10, 20):
        ids.append((await buy(client, pack))["purchaseId"])
        clock.advance(seconds=1)

    listed = (await client.get("/api/credits/purchases")).json()["purchases"]

    assert [p["purchaseId"] for p in listed] == ids[::-1]
    assert [p["pack"] for p in listed] == [20, 10, 5]


async def test_the_purchase_list_is_limited(client: Client) -> None:
    await sign_in(client)
    for _ in range(3):
        await buy(client, 5)

    response = await client.get("/api/credits/purchases", params={"limit": 2})

    assert response.status_code == 200
    assert len(response.json()["purchases"]) == 2


@pytest.mark.parametrize("limit", ["0", "101", "-1"])
async def test_a_limit_out_of_range_is_refused(client: Client, limit: str) -> None:
    await sign_in(client)

    response = await client.get("/api/credits/purchases", params={"limit": limit})

    assert response.status_code == 422, response.text


async def test_a_limit_that_is_not_a_number_is_a_400(client: Client) -> None:
    await sign_in(client)

    response = await client.get("/api/credits/purchases", params={"limit": "many"})

    assert response.status_code == 400, response.text


async def test_a_new_user_has_no_purchases(client: Client) -> None:
    await sign_in(client)

    assert (await client.get("/api/credits/purchases")).json() == {"purchases": []}


async def test_anonymous_clients_have_no_purchases_to_see(client: Client) -> None:
    assert (await client.get("/api/credits/purchases")).status_code == 401
    assert (await client.get(f"/api/credits/purchases/{uuid.uuid4()}")).status_code == 401


@pytest.mark.parametrize("purchase_id", ["9b2f4c7e-3a1d-4e8b-9c6f-2d7a1e5b3c40", "not-a-uuid"])
async def test_an_unknown_purchase_is_404(client: Client, purchase_id: str) -> None:
    await sign_in(client)

    response = await client.get(f"/api/credits/purchases/{purchase_id}")

    assert response.status_code == 404
    assert response.json()["detail"] == "No such purchase."


async def test_someone_elses_purchase_is_404_and_not_listed(client: Client) -> None:
    await sign_in(client, "ada@example.com")
    bought = await buy(client, 5)
    await client.post("/api/auth/logout")
    await sign_in(client, "grace@example.com")

    assert (await client.get(f"/api/credits/purchases/{bought['purchaseId']}")).status_code == 404
    assert (await client.get("/api/credits/purchases")).json() == {"purchases": []}


async def test_with_payments_disabled_checkout_is_503_and_stores_no_purchase(
    make_container: ContainerFactory, open_client: OpenClient
) -> None:
    client = await open_client(make_container(PAYMENTS_MODE="disabled"))
    await sign_in(client)

    response = await client.post("/api/credits/checkout", json={"pack": 5})

    assert response.status_code == 503
    assert (await client.get("/api/credits/purchases")).json() == {"purchases": []}
