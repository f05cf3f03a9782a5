"""The payment-gateway port: takes the money for a credit pack."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from picpaygo_core.models import CheckoutResult


class PaymentGateway(Protocol):
    async def checkout(self, user_id: UUID, pack: int) -> CheckoutResult:
        """Start (or, for the instant gateway, complete) the purchase of ``pack`` credits.

        Raises ``PaymentsNotConfigured`` when no provider is set up.
        """
        ...
