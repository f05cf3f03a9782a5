"""The gateway used when no payment provider is configured."""

from __future__ import annotations

from uuid import UUID

from picpaygo_core.errors import PaymentsNotConfigured
from picpaygo_core.models import CheckoutResult


class DisabledPaymentGateway:
    """Refuses every purchase with ``PaymentsNotConfigured``."""

    async def checkout(self, user_id: UUID, pack: int) -> CheckoutResult:
        raise PaymentsNotConfigured
