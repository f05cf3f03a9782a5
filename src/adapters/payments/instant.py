"""The instant gateway: credits added at once, no money taken. Development only."""

from __future__ import annotations

from datetime import datetime

from picpaygo_core.errors import PaymentsNotConfigured
from picpaygo_core.models import CheckoutSession, PaymentEvent, Purchase, User


class InstantPaymentGateway:
    """Settles every purchase at once, as the original service did; it has no provider,
    so it opens no payment page and receives no provider events."""

    enabled = True
    settles_at_once = True

    async def start_checkout(
        self, purchase: Purchase, buyer: User, customer_id: str | None, expires_at: datetime
    ) -> CheckoutSession:
        raise PaymentsNotConfigured("Instant payments settle at once; there is no payment page.")

    def read_event(self, payload: bytes, signature: str | None) -> PaymentEvent:
        raise PaymentsNotConfigured("Payment events need PAYMENTS_MODE=stripe.")
