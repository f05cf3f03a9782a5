"""The start-up log: the profile, and every development fallback in force, said once."""

from __future__ import annotations

import logging

from entrypoints.container import Container, StorageFamily, generator_kind
from entrypoints.pictures import picture_store_kind
from entrypoints.settings import MEMORY_URL, Settings

logger = logging.getLogger("picpaygo")


def announce_profile(container: Container) -> None:
    """Log once, at start-up, every development fallback in force."""
    settings: Settings = container.settings()
    storage: StorageFamily = container.storage()
    logger.info("profile: %s", settings.env)
    if storage.shared:
        logger.info("storage: %s (pool of %d)", storage.description, settings.database.pool_size)
    else:
        logger.warning("DATABASE_URL=memory://: %s", storage.description)
    if generator_kind(settings) == "offline":
        logger.warning(
            "OPENROUTER_API_KEY is not set: using the offline image generator "
            "(local Pillow filters, no AI model)"
        )
    else:
        logger.info(
            "image generator: OpenRouter model %s at %s (at most %d calls at once)",
            settings.openrouter.model,
            settings.openrouter.url,
            settings.policy.generator_concurrency,
        )
    if not settings.sessions.cookie_secure:
        logger.warning("SESSION_COOKIE_SECURE is off: session cookies work over plain HTTP")
    if settings.payments.mode == "instant":
        logger.warning("PAYMENTS_MODE=instant: credit packs are added without payment")
    elif settings.payments.mode == "stripe":
        logger.info("payments: Stripe Checkout at %s", settings.payments.stripe_api_base)
    else:
        logger.info("PAYMENTS_MODE=disabled: checkout answers 503")
    if not settings.google.client_id:
        logger.info("GOOGLE_CLIENT_ID is not set: Google login is disabled")
    if settings.mail.url is None or settings.mail.url == MEMORY_URL:
        logger.warning("MAIL_URL is not set: mail goes to %s", container.mailer().description)
    if picture_store_kind(settings) == "s3":
        logger.info("pictures: %s", container.pictures().description)
    else:
        logger.info("PICTURE_STORE is not set: pictures are kept with the other data")
