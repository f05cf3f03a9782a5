"""What the spend statement (``SPEND_SQL``) answers, read back.

The statement's row holds, in order: the network's free credits left after taking them
(NULL if it did not), the paid balance left after taking it (NULL if it did not), the
free credits the network had (NULL for a network never seen), and the user's balance.
"""

from __future__ import annotations

from adapters.postgres.database import Row
from picpaygo_core.errors import InsufficientCredits
from picpaygo_core.models import Charge


def charge_in_row(row: Row, amount: int) -> Charge | None:
    """The charge of a spend of ``amount`` the statement made, or None when it changed
    nothing and the step-by-step path must decide (a network never seen, or one with
    fewer free credits than the amount but not none).

    Raises ``InsufficientCredits`` when the network has no free credits and the paid
    balance does not cover the amount.
    """
    free_left, paid_balance, known, balance = row[:4]
    if free_left is not None:
        return Charge(free=amount, paid=0, free_left=free_left, balance=balance or 0)
    if paid_balance is not None:
        return Charge(free=0, paid=amount, free_left=0, balance=paid_balance)
    if known == 0:
        raise InsufficientCredits
    return None
