"""The instant gateway: credits added at once, no money taken. Development only."""

from __future__ import annotations

import uuid
from uuid import UUID

from picpaygo_core.models import CheckoutResult


class InstantPaymentGateway:
    """Completes every purchase immediately, as the original service did."""

    async def checkout(self, user_id: UUID, pack: int) -> CheckoutResult:
        return CheckoutResult(completed=True, reference=f"instant-{uuid.uuid4()}")
