"""The knobs of the product that the core enforces, set once from the settings."""

from __future__ import annotations

from datetime import timedelta

import msgspec

CREDIT_PACKS: frozenset[int] = frozenset({5, 10, 20})
# What each pack costs, in minor units of the currency (cents for usd).
DEFAULT_PACK_PRICES: dict[int, int] = {5: 500, 10: 900, 20: 1600}


class Policy(msgspec.Struct, frozen=True, kw_only=True):
    """Limits and timings of the domain rules.

    The defaults here are the documented ones, and the only place they are stated: the
    settings read each field from its environment variable and leave the rest alone.
    """

    free_credits: int = 3
    session_ttl: timedelta = timedelta(hours=168)
    max_upload_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = 50_000_000
    job_timeout_seconds: float = 120.0
    job_deadline_seconds: float = 900.0
    job_max_attempts: int = 3
    job_lease_seconds: float = 60.0
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 300.0
    generator_concurrency: int = 4
    output_retention: timedelta = timedelta(days=7)
    auth_attempts_per_minute: int = 20
    # How long a mailed password-reset link works.
    password_reset_ttl: timedelta = timedelta(minutes=30)
    # The first wait after a mail could not be sent; it doubles per try, up to an hour.
    mail_retry_base_seconds: float = 30.0
    # Password hashes one client network may have in flight at once in one process: a
    # flood from one network waits behind itself, and another network's sign-in waits
    # for at most this many of its hashes.
    hashes_in_flight_per_network: int = 2
    # Uploaded photos decoded (and cleaned of metadata) at once per process: each can
    # take hundreds of megabytes while it is decoded.
    image_decoders: int = 2
    # A provider's payment page closes this long after its checkout started; until then
    # an unfinished (pending) purchase counts against the buyer's limit below.
    checkout_expiry: timedelta = timedelta(minutes=30)
    max_pending_checkouts: int = 5
    pack_prices: dict[int, int] = msgspec.field(default_factory=lambda: dict(DEFAULT_PACK_PRICES))
    currency: str = "usd"


class PackPrice(msgspec.Struct, frozen=True, kw_only=True):
    """What one credit pack costs: ``amount`` in minor units of ``currency``."""

    pack: int
    amount: int
    currency: str


def price_list(policy: Policy) -> list[PackPrice]:
    """The packs for sale, smallest first, priced from the policy (every payment mode)."""
    return [
        PackPrice(pack=pack, amount=policy.pack_prices[pack], currency=policy.currency)
        for pack in sorted(CREDIT_PACKS)
    ]
