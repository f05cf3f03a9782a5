"""The gateway used when no payment provider is configured."""

from __future__ import annotations

from datetime import datetime

from picpaygo_core.errors import PaymentsNotConfigured
from picpaygo_core.models import CheckoutSession, PaymentEvent, Purchase, User


class DisabledPaymentGateway:
    """Refuses every purchase and every provider event with ``PaymentsNotConfigured``."""

    enabled = False
    settles_at_once = False

    async def start_checkout(
        self, purchase: Purchase, buyer: User, customer_id: str | None, expires_at: datetime
    ) -> CheckoutSession:
        raise PaymentsNotConfigured

    def read_event(self, payload: bytes, signature: str | None) -> PaymentEvent:
        raise PaymentsNotConfigured
