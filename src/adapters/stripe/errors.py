"""Stripe's failures as the core's: refused (our fault, 502) or unavailable (try again, 503)."""

from __future__ import annotations

import logging

import stripe

from picpaygo_core.errors import (
    DomainError,
    PaymentProviderRefused,
    PaymentProviderUnavailable,
)

logger = logging.getLogger(__name__)

# Failures that pass: Stripe is overloaded, down or unreachable, or the answer was late.
_TRANSIENT = (stripe.RateLimitError, stripe.APIConnectionError, stripe.APIError)


def translate(error: stripe.StripeError, doing: str) -> DomainError:
    """The core's error for ``error``, logged once with what we were ``doing``.

    Stripe's messages never carry the secret key in full (it masks it), and the
    request id they name helps Stripe's support find the request.
    """
    status = error.http_status
    transient = isinstance(error, _TRANSIENT) or status == 429 or (status or 0) >= 500
    summary = (
        f"could not make {doing}: Stripe is unavailable" if transient else f"Stripe refused {doing}"
    )
    detail = f"{type(error).__name__} (HTTP {status or 'none'}): {_message(error)}"
    if transient:
        logger.warning("%s: %s", summary, detail)
        return PaymentProviderUnavailable()
    # A bad key or an invalid request is the operator's to fix, not the buyer's.
    logger.error("%s: %s", summary, detail)
    return PaymentProviderRefused()


def _message(error: stripe.StripeError) -> str:
    text = (error.user_message or str(error)).strip().splitlines()
    return text[0] if text else "no message"
