"""Checkout limits on the in-memory adapters: payment pages close 30 minutes after the
checkout started, and an account holds at most 5 pending purchases whose pages may still
be open; the sixth checkout is refused before anything is stored or asked of the provider.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from entrypoints.container import Container
from picpaygo_core.errors import TooManyPendingCheckouts
from picpaygo_core.models import Caller, CheckoutExpired, CheckoutOutcome, Purchase, User
from support.fakes import FakeClock, PaymentPagesGateway

ContainerFactory = Callable[..., Container]

EXPIRY = timedelta(minutes=30)


class Shop:
    """A container selling through ``PaymentPagesGateway``, and its signed-up buyers."""

    def __init__(self, container: Container, clock: FakeClock) -> None:
        self.container = container
        self.clock = clock
        self.gateway = PaymentPagesGateway()
        container.payments.override(self.gateway)

    async def buyer(self, email: str = "ada@example.com") -> Caller:
        registered = await self.container.auth_service().register(
            email=email, password="correct horse battery"
        )
        return Caller(user=registered.user, client_network="203.0.113.7")

    async def checkout(self, caller: Caller, pack: int = 5) -> CheckoutOutcome:
        return await self.container.credit_service().checkout(caller, pack)

    async def purchases(self, user: User | None) -> list[Purchase]:
        assert user is not None
        async with self.container.uow_factory()() as uow:
            return await uow.purchases.list_recent(user.id, 100)


@pytest.fixture
def shop(make_container: ContainerFactory, clock: FakeClock) -> Shop:
    return Shop(make_container(), clock)


async def test_the_payment_page_closes_30_minutes_after_the_checkout_started(shop: Shop) -> None:
    caller = await shop.buyer()

    outcome = await shop.checkout(caller)

    [(purchase, _, expires_at)] = shop.gateway.checkouts
    assert purchase.id == outcome.purchase.id
    assert expires_at == outcome.purchase.created_at + EXPIRY
    assert outcome.purchase.checkout_session_id == "cs_page_1"


async def test_the_sixth_pending_checkout_is_refused_before_anything_is_made(shop: Shop) -> None:
    caller = await shop.buyer()
    for _ in range(5):
        await shop.checkout(caller)

    with pytest.raises(TooManyPendingCheckouts) as refused:
        await shop.checkout(caller)

    assert refused.value.retry_after == EXPIRY.total_seconds()
    assert "5 unfinished checkouts" in refused.value.message
    assert "30 minutes" in refused.value.message
    assert len(shop.gateway.checkouts) == 5  # no sixth payment page
    assert len(await shop.purchases(caller.user)) == 5  # and no sixth purchase


async def test_retry_after_says_when_the_oldest_page_closes_and_then_there_is_room(
    shop: Shop,
) -> None:
    caller = await shop.buyer()
    await shop.checkout(caller)
    shop.clock.advance(minutes=10)
    for _ in range(4):
        await shop.checkout(caller)
    shop.clock.advance(minutes=12)

    with pytest.raises(TooManyPendingCheckouts) as refused:
        await shop.checkout(caller)
    assert refused.value.retry_after == timedelta(minutes=8).total_seconds()

    shop.clock.advance(minutes=8)  # the first page has closed: it counts no more
    await shop.checkout(caller)
    with pytest.raises(TooManyPendingCheckouts):
        await shop.checkout(caller)
    assert len(shop.gateway.checkouts) == 6


async def test_a_purchase_that_is_no_longer_pending_makes_room(shop: Shop) -> None:
    caller = await shop.buyer()
    first = await shop.checkout(caller)
    for _ in range(4):
        await shop.checkout(caller)
    session_id = first.purchase.checkout_session_id
    assert session_id is not None

    await shop.container.payment_event_service().apply(
        CheckoutExpired(
            event_id="evt_expired", session_id=session_id, purchase_reference=str(first.purchase.id)
        )
    )

    await shop.checkout(caller)
    assert len(shop.gateway.checkouts) == 6


async def test_the_limit_is_per_account(shop: Shop) -> None:
    ada, grace = await shop.buyer(), await shop.buyer("grace@example.com")
    for _ in range(5):
        await shop.checkout(ada)

    await shop.checkout(grace)

    assert len(shop.gateway.checkouts) == 6
