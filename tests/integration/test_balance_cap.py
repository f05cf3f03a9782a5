"""Balances are 64-bit with one cap, the same on every storage."""

from __future__ import annotations

import pytest

from picpaygo_core.errors import BalanceLimitExceeded
from picpaygo_core.ports import UnitOfWorkFactory
from picpaygo_core.validation import MAX_BALANCE
from support.builders import a_user, an_entry


async def test_a_balance_past_32_bits_is_kept_up_to_the_cap_and_refused_beyond(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    async with uow_factory() as uow:
        await uow.users.add(user)
        assert await uow.credits.record(an_entry(user, 2**31 + 5)) == 2**31 + 5
        assert await uow.credits.record(an_entry(user, MAX_BALANCE - 2**31 - 5)) == MAX_BALANCE
        await uow.commit()

    async with uow_factory() as uow:
        with pytest.raises(BalanceLimitExceeded):
            await uow.credits.record(an_entry(user, 1))
        assert await uow.credits.balance(user.id) == MAX_BALANCE
        assert [e.amount for e in await uow.credits.history(user.id, 5)] == [
            MAX_BALANCE - 2**31 - 5,
            2**31 + 5,
        ]
