"""What the spend statements (``SPEND_SQL``, ``SESSION_SPEND_SQL``) answer, read back.

The statement's row holds, in order: the network's free credits left after taking them
(NULL if it did not), the paid balance left after taking it (NULL if it did not), the
free credits the network had (NULL for a network never seen), the user's balance, and,
for a session's spend, the paying user and the session's expiry.
"""

from __future__ import annotations

from typing import Any

import msgspec

from adapters.postgres.database import Row
from picpaygo_core.errors import InsufficientCredits
from picpaygo_core.models import Charge, SessionCharge, Spending


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


def session_spend_params(token_hash: str | None, spending: Spending) -> dict[str, Any]:
    """The parameters of ``SESSION_SPEND_SQL`` for ``spending`` by the session ``token_hash``."""
    return msgspec.structs.asdict(spending) | {"token_hash": token_hash}


def session_payer(row: Row, spending: Spending) -> Spending:
    """``spending`` as the session's spend statement resolved it: paid by the session's
    user, or anonymous when the session is missing or expired."""
    user_id = row[4]
    if user_id is None:
        return msgspec.structs.replace(spending, user_id=None)
    return msgspec.structs.replace(spending, user_id=user_id, actor=f"user:{user_id}")


def session_charge(row: Row, charge: Charge) -> SessionCharge:
    """The session spend's outcome: ``charge``, and who paid as the statement's ``row`` says."""
    user_id, expires_at = row[4:6]
    return SessionCharge(
        charge=charge, user_id=user_id, expired=user_id is None and expires_at is not None
    )
