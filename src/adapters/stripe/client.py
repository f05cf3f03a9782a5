"""The one Stripe client of a process: the official library, asynchronous over httpx."""

from __future__ import annotations

import stripe

# A request that failed on the way (timeout, connection reset, 5xx, 409) is sent again
# this many times, with the same idempotency key, by the library itself.
NETWORK_RETRIES = 2


def build_stripe_http_client(*, timeout_seconds: float) -> stripe.HTTPXClient:
    """The library's httpx transport (one connection pool); close it with ``close_async()``."""
    return stripe.HTTPXClient(timeout=timeout_seconds)


def build_stripe_client(
    *, secret_key: str, api_base: str, http_client: stripe.HTTPXClient
) -> stripe.StripeClient:
    """A ``StripeClient`` that talks to ``api_base`` through ``http_client``."""
    return stripe.StripeClient(
        secret_key,
        http_client=http_client,
        base_addresses={"api": api_base},
        max_network_retries=NETWORK_RETRIES,
    )
