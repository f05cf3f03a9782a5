"""Stripe: Checkout Sessions for credit packs and signed webhook events (official library)."""

from adapters.stripe.client import build_stripe_client, build_stripe_http_client
from adapters.stripe.gateway import StripePaymentGateway

__all__ = ["StripePaymentGateway", "build_stripe_client", "build_stripe_http_client"]
