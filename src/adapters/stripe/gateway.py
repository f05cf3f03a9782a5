"""The Stripe payment gateway: Checkout Sessions out, signed webhook events in."""

from __future__ import annotations

import math
from datetime import datetime

import stripe
from stripe.params import CustomerCreateParams
from stripe.params.checkout import SessionCreateParams

from adapters.stripe.errors import translate
from adapters.stripe.events import read_verified_event
from picpaygo_core.errors import InvalidPaymentEvent, PaymentProviderUnavailable
from picpaygo_core.models import CheckoutSession, PaymentEvent, Purchase, User

# Stripe's own default: a signature older than five minutes is refused (replay attacks).
SIGNATURE_TOLERANCE_SECONDS = 300
# Stripe refuses an ``expires_at`` less than 30 minutes after it creates the session, by
# its own clock; the core asks for exactly 30 minutes from the start of the checkout. This
# much is added for the request's trip, the library's retries and the clocks' skew.
EXPIRY_HEADROOM_SECONDS = 60


class StripePaymentGateway:
    """Sells credit packs through Stripe Checkout (``mode=payment``, one line item).

    Nothing is credited here: the money arrives later, as a signed webhook event that
    ``read_event`` checks and reads for the core.
    """

    enabled = True
    settles_at_once = False

    def __init__(
        self,
        *,
        client: stripe.StripeClient,
        webhook_secret: str,
        success_url: str,
        cancel_url: str,
    ) -> None:
        self._client = client
        self._webhook_secret = webhook_secret
        self._success_url = success_url
        self._cancel_url = cancel_url

    async def start_checkout(
        self, purchase: Purchase, buyer: User, customer_id: str | None, expires_at: datetime
    ) -> CheckoutSession:
        """Make the buyer's Stripe customer if needed, then the Checkout Session, which
        Stripe closes at ``expires_at`` (plus ``EXPIRY_HEADROOM_SECONDS``).

        Both requests carry an idempotency key (the user id, the purchase id), so a retry
        (by the library after a timeout or a 5xx, or by the caller) makes nothing twice.
        """
        if customer_id is None:
            customer_id = await self._create_customer(buyer)
        params = self._session_params(purchase, customer_id)
        params["expires_at"] = math.ceil(expires_at.timestamp()) + EXPIRY_HEADROOM_SECONDS
        try:
            session = await self._client.v1.checkout.sessions.create_async(
                params=params,
                options={"idempotency_key": str(purchase.id)},
            )
        except stripe.StripeError as exc:
            raise translate(exc, f"the Checkout Session of purchase {purchase.id}") from exc
        if not session.url:
            raise PaymentProviderUnavailable("Stripe opened no payment page; try again shortly.")
        return CheckoutSession(id=session.id, url=session.url, customer_id=customer_id)

    async def _create_customer(self, buyer: User) -> str:
        params: CustomerCreateParams = {
            "email": buyer.email,
            "metadata": {"user_id": str(buyer.id)},
        }
        full_name = " ".join(part for part in (buyer.name, buyer.surname) if part)
        if full_name:
            params["name"] = full_name
        try:
            customer = await self._client.v1.customers.create_async(
                params=params, options={"idempotency_key": f"customer-{buyer.id}"}
            )
        except stripe.StripeError as exc:
            raise translate(exc, f"a customer for user {buyer.id}") from exc
        return customer.id

    def _session_params(self, purchase: Purchase, customer_id: str) -> SessionCreateParams:
        metadata = {
            "purchase_id": str(purchase.id),
            "user_id": str(purchase.user_id),
            "pack": str(purchase.pack),
        }
        return {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": purchase.currency,
                        "unit_amount": purchase.amount,
                        "product_data": {"name": f"PicPayGo: {purchase.pack} credits"},
                    },
                }
            ],
            "client_reference_id": str(purchase.id),
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "customer": customer_id,
            "success_url": self._success_url,
            "cancel_url": self._cancel_url,
        }

    def read_event(self, payload: bytes, signature: str | None) -> PaymentEvent:
        """Verify ``Stripe-Signature`` with the library, then read the event."""
        try:
            stripe.WebhookSignature.verify_header(
                payload, signature, self._webhook_secret, tolerance=SIGNATURE_TOLERANCE_SECONDS
            )
        except stripe.SignatureVerificationError as exc:
            raise InvalidPaymentEvent(
                f"The Stripe-Signature header is missing, wrong or too old ({_reason(exc)})."
            ) from None
        except ValueError:  # a body that is not UTF-8 cannot have been signed by Stripe
            raise InvalidPaymentEvent("The event body is not UTF-8 text.") from None
        return read_verified_event(payload)


def _reason(error: stripe.SignatureVerificationError) -> str:
    message = (error.user_message or "").lower()
    if "no stripe-signature" in message:
        return "no header"
    if "tolerance" in message:
        return "stale timestamp"
    if "unable to extract" in message or "no signatures found with expected scheme" in message:
        return "unreadable header"
    return "no matching signature"
