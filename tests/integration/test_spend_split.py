"""A spend on either storage covers the amount as the core's ``free_first`` says.

PostgreSQL spends in one statement in the usual cases and step by step otherwise (a
network's first spend, or one crossing from free credits to paid ones); the memory
adapter and the step-by-step path call ``free_first``, the statement has the rule in SQL.
Whatever the balances, each must take the same free and paid credits, or refuse alike.
"""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from picpaygo_core.errors import InsufficientCredits
from picpaygo_core.models import Caller, User, free_first
from picpaygo_core.ports import UnitOfWorkFactory
from picpaygo_core.services.ledger import ledger_entry, spending_of
from support.builders import a_user
from support.fakes import START

INITIAL_FREE = 3


async def a_payer(uow_factory: UnitOfWorkFactory, balance: int | None) -> User | None:
    """A new user with ``balance`` paid credits; None (anonymous) when ``balance`` is None."""
    if balance is None:
        return None
    user = a_user(f"{uuid.uuid4().hex}@example.com")
    async with uow_factory() as uow:
        await uow.users.add(user)
        if balance:
            grant = ledger_entry(
                user_id=user.id, amount=balance, reason="grant", actor="test", now=START
            )
            await uow.credits.record(grant)
        await uow.commit()
    return user


async def a_network(uow_factory: UnitOfWorkFactory, free_left: int | None) -> str:
    """A new network with ``free_left`` free credits; one never seen when None."""
    client_network = f"net-{uuid.uuid4().hex}"
    if free_left is not None:
        async with uow_factory() as uow:
            await uow.free_credits.give_back(client_network, 0, INITIAL_FREE)
            await uow.free_credits.take(client_network, INITIAL_FREE - free_left, INITIAL_FREE)
            await uow.commit()
    return client_network


async def books(uow_factory: UnitOfWorkFactory, caller: Caller) -> tuple[int, int | None]:
    """(free credits left, paid balance or None for an anonymous caller)."""
    async with uow_factory() as uow:
        free = await uow.free_credits.remaining(caller.client_network, INITIAL_FREE)
        balance = await uow.credits.balance(caller.user.id) if caller.user else None
    return free, balance


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    amount=st.integers(1, 6),
    free_left=st.none() | st.integers(0, INITIAL_FREE),
    balance=st.none() | st.integers(0, 6),
)
async def test_a_spend_takes_free_credits_first_as_the_core_rule_says(
    uow_factory: UnitOfWorkFactory, amount: int, free_left: int | None, balance: int | None
) -> None:
    caller = Caller(
        user=await a_payer(uow_factory, balance),
        client_network=await a_network(uow_factory, free_left),
    )
    before = await books(uow_factory, caller)
    try:
        expected: tuple[int, int] | None = free_first(amount, free_left=before[0], balance=balance)
    except InsufficientCredits:
        expected = None

    spending = spending_of(
        caller, amount=amount, free_credits=INITIAL_FREE, reason="consume", now=START
    )
    try:
        async with uow_factory() as uow:
            charge = await uow.credits.spend(spending)
            await uow.commit()
        split: tuple[int, int] | None = (charge.free, charge.paid)
    except InsufficientCredits:
        split = None

    assert split == expected
    free, paid = expected or (0, 0)
    after = (before[0] - free, None if balance is None else balance - paid)
    assert await books(uow_factory, caller) == after
    if split is not None:
        assert (charge.free_left, charge.balance) == (after[0], after[1] or 0)
