"""The payment-gateway port: takes the money for a credit pack and reports what happened."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from picpaygo_core.models import CheckoutSession, PaymentEvent, Purchase, User


class PaymentGateway(Protocol):
    @property
    def enabled(self) -> bool:
        """False when no provider is set up: checkout is refused before anything is stored."""
        ...

    @property
    def settles_at_once(self) -> bool:
        """True for a gateway that takes no money (development): a purchase is paid at once."""
        ...

    async def start_checkout(
        self, purchase: Purchase, buyer: User, customer_id: str | None, expires_at: datetime
    ) -> CheckoutSession:
        """Open the provider's payment page for ``purchase``, to close at ``expires_at``.

        ``customer_id`` is the buyer's customer at the provider when one was made before;
        otherwise the gateway makes one and returns its id in the session. Calling again
        for the same purchase opens no second page (the purchase id is the idempotency
        key). Raises ``PaymentProviderRefused`` when the provider refuses the request and
        ``PaymentProviderUnavailable`` when it cannot be reached or is overloaded.
        """
        ...

    def read_event(self, payload: bytes, signature: str | None) -> PaymentEvent:
        """Check the signature of a provider notification, then read it.

        Raises ``InvalidPaymentEvent`` for a missing, wrong or stale signature and for a
        payload that is not an event; nothing of the payload is used before the check.
        """
        ...
