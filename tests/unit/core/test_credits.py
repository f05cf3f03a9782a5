"""A client's credits: free credits per network, the paid balance, spending and buying."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from entrypoints.container import Container
from picpaygo_core.errors import (
    InsufficientCredits,
    InvalidInput,
    InvalidPack,
    NotAuthenticated,
    PaymentsNotConfigured,
)
from picpaygo_core.models import Caller, CreditsView, LedgerEntry, PurchaseStatus, User
from picpaygo_core.networks import client_network
from support.fakes import FakeClock

ContainerFactory = Callable[..., Container]

NETWORK = "203.0.113.7"
OTHER_NETWORK = "198.51.100.20"
PASSWORD = "correct horse battery"


def anonymous(client_network: str = NETWORK) -> Caller:
    return Caller(user=None, client_network=client_network)


async def sign_up(container: Container, email: str = "ada@example.com") -> User:
    return (await container.auth_service().register(email=email, password=PASSWORD)).user


async def grant(container: Container, user: User, amount: int) -> None:
    await container.admin_service().grant(user.email, amount, reason="test", actor="test")


async def signed_in_with_balance(container: Container, balance: int) -> Caller:
    user = await sign_up(container)
    if balance:
        await grant(container, user, balance)
    return Caller(user=user, client_network=NETWORK)


async def ledger(container: Container, user: User) -> list[LedgerEntry]:
    """The user's ledger, oldest first."""
    return list(reversed(await container.admin_service().history(user.email, limit=1000)))


async def view(container: Container, caller: Caller) -> CreditsView:
    return await container.credit_service().view(caller)


# --- looking -----------------------------------------------------------------------------


async def test_an_anonymous_client_has_three_free_credits_and_no_balance(
    container: Container,
) -> None:
    assert await view(container, anonymous()) == CreditsView(
        credits=3, balance=0, free_credits=3, authenticated=False
    )


async def test_a_signed_in_user_sees_free_credits_plus_the_paid_balance(
    container: Container,
) -> None:
    caller = await signed_in_with_balance(container, 4)

    assert await view(container, caller) == CreditsView(
        credits=7, balance=4, free_credits=3, authenticated=True
    )


async def test_the_default_free_credits_setting_sets_the_free_credits(
    make_container: ContainerFactory,
) -> None:
    container = make_container(DEFAULT_FREE_CREDITS="5")

    assert (await view(container, anonymous())).free_credits == 5


# --- free credits per network ------------------------------------------------------------


async def test_spent_free_credits_do_not_come_back(container: Container, clock: FakeClock) -> None:
    await container.credit_service().consume(anonymous(), 3)

    clock.advance(days=2)

    assert (await view(container, anonymous())).free_credits == 0
    with pytest.raises(InsufficientCredits):
        await container.credit_service().consume(anonymous(), 1)


async def test_another_network_still_has_its_own_free_credits(container: Container) -> None:
    await container.credit_service().consume(anonymous(NETWORK), 3)

    assert (await view(container, anonymous(OTHER_NETWORK))).free_credits == 3


async def test_signing_in_gives_a_network_no_new_free_credits(container: Container) -> None:
    await container.credit_service().consume(anonymous(), 3)

    caller = await signed_in_with_balance(container, 0)

    assert (await view(container, caller)).free_credits == 0


async def test_two_ipv6_addresses_in_the_same_64_share_their_free_credits(
    container: Container,
) -> None:
    first = anonymous(client_network("2001:db8:1:2::1"))
    second = anonymous(client_network("2001:db8:1:2:ffff:eeee:dddd:cccc"))

    await container.credit_service().consume(first, 3)

    assert (await view(container, second)).free_credits == 0


async def test_ipv6_addresses_in_different_64s_have_separate_free_credits(
    container: Container,
) -> None:
    first = anonymous(client_network("2001:db8:1:2::1"))
    neighbour = anonymous(client_network("2001:db8:1:3::1"))

    await container.credit_service().consume(first, 3)

    assert (await view(container, neighbour)).free_credits == 3


async def test_an_ipv4_mapped_ipv6_address_shares_the_ipv4_clients_free_credits(
    container: Container,
) -> None:
    await container.credit_service().consume(anonymous(client_network("203.0.113.7")), 3)

    mapped = anonymous(client_network("::ffff:203.0.113.7"))

    assert (await view(container, mapped)).free_credits == 0


# --- spending ----------------------------------------------------------------------------


async def test_spending_takes_free_credits_before_the_paid_balance(
    container: Container,
) -> None:
    caller = await signed_in_with_balance(container, 5)

    after_two = await container.credit_service().consume(caller, 2)
    after_three_more = await container.credit_service().consume(caller, 3)

    assert (after_two.free_credits, after_two.balance) == (1, 5)
    assert (after_three_more.free_credits, after_three_more.balance) == (0, 3)


async def test_the_paid_part_of_a_spend_is_a_consume_entry_in_the_ledger(
    container: Container,
) -> None:
    caller = await signed_in_with_balance(container, 5)
    assert caller.user is not None

    await container.credit_service().consume(caller, 4)

    spent = (await ledger(container, caller.user))[-1]
    assert (spent.amount, spent.reason, spent.actor) == (-1, "consume", f"user:{caller.user.id}")


async def test_spending_only_free_credits_writes_no_ledger_entry(container: Container) -> None:
    caller = await signed_in_with_balance(container, 0)
    assert caller.user is not None

    await container.credit_service().consume(caller, 2)

    assert await ledger(container, caller.user) == []


async def test_an_anonymous_client_cannot_spend_beyond_its_free_credits(
    container: Container,
) -> None:
    with pytest.raises(InsufficientCredits):
        await container.credit_service().consume(anonymous(), 4)

    assert (await view(container, anonymous())).free_credits == 3


async def test_insufficient_credits_spends_neither_free_nor_paid_credits(
    container: Container,
) -> None:
    caller = await signed_in_with_balance(container, 1)
    assert caller.user is not None
    entries_before = await ledger(container, caller.user)

    with pytest.raises(InsufficientCredits):
        await container.credit_service().consume(caller, 5)

    assert await view(container, caller) == CreditsView(
        credits=4, balance=1, free_credits=3, authenticated=True
    )
    assert await ledger(container, caller.user) == entries_before


async def test_spending_exactly_everything_leaves_zero(container: Container) -> None:
    caller = await signed_in_with_balance(container, 2)

    spent = await container.credit_service().consume(caller, 5)

    assert spent == CreditsView(credits=0, balance=0, free_credits=0, authenticated=True)


@pytest.mark.parametrize("amount", [0, -1, -5])
async def test_spending_zero_or_a_negative_amount_is_invalid(
    container: Container, amount: int
) -> None:
    caller = await signed_in_with_balance(container, 2)

    with pytest.raises(InvalidInput):
        await container.credit_service().consume(caller, amount)

    assert (await view(container, caller)).credits == 5


# --- buying ------------------------------------------------------------------------------


@pytest.mark.parametrize("pack", [5, 10, 20])
async def test_buying_a_pack_adds_it_to_the_balance_with_a_purchase_entry(
    container: Container, pack: int
) -> None:
    caller = await signed_in_with_balance(container, 0)
    assert caller.user is not None

    bought = await container.credit_service().checkout(caller, pack)

    assert bought.credits.balance == pack
    assert bought.checkout_url is None
    assert bought.purchase.status is PurchaseStatus.PAID
    (entry,) = await ledger(container, caller.user)
    assert (entry.amount, entry.reason) == (pack, "purchase")
    assert entry.purchase_id == bought.purchase.id


async def test_buying_twice_adds_both_packs(container: Container) -> None:
    caller = await signed_in_with_balance(container, 0)

    await container.credit_service().checkout(caller, 5)
    bought = await container.credit_service().checkout(caller, 10)

    assert bought.credits.balance == 15


async def test_buying_a_pack_of_another_size_is_refused_with_invalid_pack(
    container: Container,
) -> None:
    caller = await signed_in_with_balance(container, 0)
    assert caller.user is not None

    with pytest.raises(InvalidPack):
        await container.credit_service().checkout(caller, 7)

    assert (await view(container, caller)).balance == 0
    assert await ledger(container, caller.user) == []


async def test_an_anonymous_client_cannot_buy_credits(container: Container) -> None:
    with pytest.raises(NotAuthenticated):
        await container.credit_service().checkout(anonymous(), 5)


async def test_buying_with_payments_disabled_is_refused_and_adds_nothing(
    make_container: ContainerFactory,
) -> None:
    container = make_container(PAYMENTS_MODE="disabled")
    caller = await signed_in_with_balance(container, 0)
    assert caller.user is not None

    with pytest.raises(PaymentsNotConfigured):
        await container.credit_service().checkout(caller, 5)

    assert (await view(container, caller)).balance == 0
    assert await ledger(container, caller.user) == []
