"""The rule of every spend: the network's free credits first, then the paid balance."""

from __future__ import annotations

import pytest

from picpaygo_core.errors import InsufficientCredits
from picpaygo_core.models import free_first


def test_the_rule_takes_free_credits_first_then_paid_ones() -> None:
    assert free_first(2, free_left=3, balance=None) == (2, 0)
    assert free_first(3, free_left=1, balance=2) == (1, 2)
    assert free_first(3, free_left=0, balance=5) == (0, 3)


@pytest.mark.parametrize(
    ("amount", "free_left", "balance"),
    [(2, 1, None), (3, 1, 1), (1, 0, 0), (1, 0, None)],
)
def test_the_rule_refuses_what_free_and_paid_credits_together_do_not_cover(
    amount: int, free_left: int, balance: int | None
) -> None:
    with pytest.raises(InsufficientCredits):
        free_first(amount, free_left=free_left, balance=balance)
