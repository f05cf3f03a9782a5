"""``POST /api/stripe/webhook``: Stripe's signed events about Checkout Sessions and charges."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency

from entrypoints.http.dependencies import Services
from entrypoints.http.schemas import WebhookReceived

# Stripe events are small (a few kilobytes); this leaves room for large metadata.
MAX_EVENT_BYTES = 512 * 1024


class StripeWebhookController(Controller):
    path = "/api/stripe/webhook"
    tags = ["payments"]  # noqa: RUF012 - Litestar reads this class attribute

    @post("/", status_code=200, operation_id="stripeWebhook", request_max_body_size=MAX_EVENT_BYTES)
    async def receive(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> WebhookReceived:
        """A Stripe event: the raw body, verified with its ``Stripe-Signature`` header first.

        400 for a missing, wrong or stale signature or a body that is no event (nothing
        changes); 503 when storage is down, so Stripe sends the event again.
        """
        body = await request.body()
        await services.payment_events.receive(body, request.headers.get("stripe-signature"))
        return WebhookReceived(received=True)
