"""/api/credits over HTTP: free credits per client network, paid balance, packs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from entrypoints.container import Container
from entrypoints.http import create_app
from support.fakes import FakeClock, PaymentPagesGateway

Client = AsyncTestClient[Litestar]
OpenClient = Callable[[Container], Awaitable[Client]]

ANONYMOUS_START = {"credits": 3, "balance": 0, "freeCredits": 3, "authenticated": False}


async def sign_in(client: Client, email: str = "ada@example.com") -> None:
    response = await client.post(
        "/api/auth/register", json={"email": email, "password": "correct horse battery"}
    )
    assert response.status_code == 201, response.text


async def credits(client: Client) -> dict[str, object]:
    response = await client.get("/api/credits")
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


def assert_error(response: httpx.Response, status_code: int) -> None:
    assert response.status_code == status_code, response.text
    assert response.json()["status_code"] == status_code
    assert isinstance(response.json()["detail"], str)


@asynccontextmanager
async def behind_peer(container: Container, peer: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose socket peer is ``peer`` (Litestar's test client is always 'testclient')."""
    transport = httpx.ASGITransport(create_app(container), client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://picpaygo.test") as client:
        yield client


async def test_an_anonymous_client_starts_with_the_free_credits(client: Client) -> None:
    assert await credits(client) == ANONYMOUS_START


async def test_the_number_of_free_credits_follows_the_settings(
    make_container: Callable[..., Container], open_client: OpenClient
) -> None:
    client = await open_client(make_container(DEFAULT_FREE_CREDITS="5"))

    assert (await credits(client))["freeCredits"] == 5


async def test_a_signed_in_user_without_purchases_has_only_the_free_credits(
    client: Client,
) -> None:
    await sign_in(client)

    assert await credits(client) == {**ANONYMOUS_START, "authenticated": True}


async def test_consume_without_a_body_spends_one_credit(client: Client) -> None:
    response = await client.post("/api/credits/consume")

    assert response.status_code == 200
    assert response.json() == {"credits": 2, "balance": 0, "freeCredits": 2, "authenticated": False}


async def test_consume_with_an_empty_object_spends_one_credit(client: Client) -> None:
    response = await client.post("/api/credits/consume", json={})

    assert response.json()["credits"] == 2


async def test_consume_spends_the_amount_asked(client: Client) -> None:
    response = await client.post("/api/credits/consume", json={"amount": 2})

    assert response.json()["freeCredits"] == 1
    assert await credits(client) == response.json()


async def test_spending_takes_free_credits_first_then_the_paid_balance(client: Client) -> None:
    await sign_in(client)
    await client.post("/api/credits/checkout", json={"pack": 5})

    response = await client.post("/api/credits/consume", json={"amount": 4})

    assert response.status_code == 200
    assert response.json() == {"credits": 4, "balance": 4, "freeCredits": 0, "authenticated": True}


async def test_consuming_more_than_there_is_is_402_and_spends_nothing(client: Client) -> None:
    await sign_in(client)
    await client.post("/api/credits/checkout", json={"pack": 5})
    before = await credits(client)

    response = await client.post("/api/credits/consume", json={"amount": 9})

    assert_error(response, 402)
    assert await credits(client) == before


async def test_an_anonymous_client_cannot_spend_past_the_free_credits(client: Client) -> None:
    await client.post("/api/credits/consume", json={"amount": 3})

    assert_error(await client.post("/api/credits/consume"), 402)
    assert (await credits(client))["credits"] == 0


@pytest.mark.parametrize("amount", [0, -1, 1_000_001])
async def test_an_amount_out_of_range_is_422_and_spends_nothing(
    client: Client, amount: int
) -> None:
    assert_error(await client.post("/api/credits/consume", json={"amount": amount}), 422)
    assert await credits(client) == ANONYMOUS_START


@pytest.mark.parametrize("pack", [5, 10, 20])
async def test_checkout_of_a_pack_adds_its_credits(client: Client, pack: int) -> None:
    await sign_in(client)

    response = await client.post("/api/credits/checkout", json={"pack": pack})

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "credits": pack + 3,
        "balance": pack,
        "freeCredits": 3,
        "authenticated": True,
        "status": "completed",
        "checkoutUrl": None,
        "purchaseId": body["purchaseId"],
    }
    purchase = await client.get(f"/api/credits/purchases/{body['purchaseId']}")
    assert purchase.status_code == 200
    assert purchase.json()["status"] == "paid"


async def test_two_checkouts_add_up(client: Client) -> None:
    await sign_in(client)

    await client.post("/api/credits/checkout", json={"pack": 5})
    response = await client.post("/api/credits/checkout", json={"pack": 10})

    assert response.json()["balance"] == 15


@pytest.mark.parametrize("pack", [7, 0, -5, 1])
async def test_checkout_of_another_pack_is_422_and_adds_nothing(client: Client, pack: int) -> None:
    await sign_in(client)

    assert_error(await client.post("/api/credits/checkout", json={"pack": pack}), 422)
    assert (await credits(client))["balance"] == 0


async def test_anonymous_checkout_is_401(client: Client) -> None:
    assert_error(await client.post("/api/credits/checkout", json={"pack": 5}), 401)


async def test_checkout_is_503_when_payments_are_disabled(
    make_container: Callable[..., Container], open_client: OpenClient
) -> None:
    client = await open_client(make_container(PAYMENTS_MODE="disabled"))
    await sign_in(client)

    response = await client.post("/api/credits/checkout", json={"pack": 5})

    assert_error(response, 503)
    assert (await credits(client))["balance"] == 0


async def test_the_sixth_pending_checkout_is_429_with_retry_after_and_opens_no_page(
    container: Container, open_client: OpenClient, clock: FakeClock
) -> None:
    gateway = PaymentPagesGateway()
    container.payments.override(gateway)
    client = await open_client(container)
    await sign_in(client)
    for _ in range(5):
        response = await client.post("/api/credits/checkout", json={"pack": 5})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "pending"
    clock.advance(minutes=20, seconds=30)

    response = await client.post(
        "/api/credits/checkout", json={"pack": 10}, headers={"Idempotency-Key": "sixth"}
    )

    assert_error(response, 429)
    assert response.headers["retry-after"] == "570"  # the oldest page closes in 9.5 minutes
    assert "10 minutes" in response.json()["detail"]
    assert len(gateway.checkouts) == 5
    purchases = (await client.get("/api/credits/purchases")).json()["purchases"]
    assert [p["pack"] for p in purchases] == [5] * 5
    # The refusal is not kept as the key's answer: once there is room, the same key buys.
    clock.advance(minutes=10)
    again = await client.post(
        "/api/credits/checkout", json={"pack": 10}, headers={"Idempotency-Key": "sixth"}
    )
    assert again.status_code == 200, again.text
    assert len(gateway.checkouts) == 6


async def test_the_paid_balance_belongs_to_the_user_not_the_browser(client: Client) -> None:
    await sign_in(client)
    await client.post("/api/credits/checkout", json={"pack": 5})

    await client.post("/api/auth/logout")

    assert (await credits(client))["balance"] == 0
    await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": "correct horse battery"}
    )
    assert (await credits(client))["balance"] == 5


async def test_free_credits_belong_to_the_network_so_signing_up_mints_none(
    client: Client,
) -> None:
    await client.post("/api/credits/consume", json={"amount": 3})

    await sign_in(client)

    assert (await credits(client))["freeCredits"] == 0


async def test_forwarded_for_from_an_untrusted_client_mints_no_free_credits(
    client: Client,
) -> None:
    await client.post("/api/credits/consume", json={"amount": 3})

    response = await client.get("/api/credits", headers={"X-Forwarded-For": "198.51.100.7"})

    assert response.json()["freeCredits"] == 0


async def test_forwarded_for_is_ignored_even_when_a_trusted_proxy_is_configured_elsewhere(
    make_container: Callable[..., Container],
) -> None:
    container = make_container(TRUSTED_PROXIES="10.0.0.0/8")
    async with behind_peer(container, "203.0.113.5") as client:
        await client.post("/api/credits/consume", json={"amount": 3})

        response = await client.get("/api/credits", headers={"X-Forwarded-For": "198.51.100.7"})

    assert response.json()["freeCredits"] == 0


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_free_credits(
    make_container: Callable[..., Container],
) -> None:
    container = make_container(TRUSTED_PROXIES="10.0.0.0/8")
    async with behind_peer(container, "10.0.0.2") as proxy:
        await proxy.post(
            "/api/credits/consume", json={"amount": 3}, headers={"X-Forwarded-For": "198.51.100.7"}
        )

        spent = await proxy.get("/api/credits", headers={"X-Forwarded-For": "198.51.100.7"})
        other = await proxy.get("/api/credits", headers={"X-Forwarded-For": "198.51.100.8"})

    assert spent.json()["freeCredits"] == 0
    assert other.json()["freeCredits"] == 3


async def test_a_spoofed_forwarded_for_line_before_the_proxys_own_mints_nothing(
    make_container: Callable[..., Container],
) -> None:
    container = make_container(TRUSTED_PROXIES="10.0.0.0/8")
    async with behind_peer(container, "10.0.0.2") as proxy:
        await proxy.post(
            "/api/credits/consume", json={"amount": 3}, headers={"X-Forwarded-For": "198.51.100.7"}
        )

        # The client sent the first line; the proxy appended the second, naming the client.
        response = await proxy.get(
            "/api/credits",
            headers=[("X-Forwarded-For", "203.0.113.99"), ("X-Forwarded-For", "198.51.100.7")],
        )

    assert response.json()["freeCredits"] == 0


async def test_ipv6_clients_in_one_64_share_their_free_credits(
    make_container: Callable[..., Container],
) -> None:
    container = make_container()
    async with behind_peer(container, "2001:db8:1:2::1") as first:
        await first.post("/api/credits/consume", json={"amount": 3})
    async with behind_peer(container, "2001:db8:1:2:ffff::9") as neighbour:
        same_network = await neighbour.get("/api/credits")
    async with behind_peer(container, "2001:db8:1:3::1") as elsewhere:
        other_network = await elsewhere.get("/api/credits")

    assert same_network.json()["freeCredits"] == 0
    assert other_network.json()["freeCredits"] == 3
