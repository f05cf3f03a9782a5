"""What no single variable can say: settings that do not go together, and what the
production profile and Stripe payments cannot do without. One line per problem."""

from __future__ import annotations

from collections.abc import Mapping

from adapters.mail.smtp import SmtpTarget
from entrypoints.settings.sections import MEMORY_URL, Settings

# What stripe mode cannot work without: the variable, the field, what it is.
STRIPE_REQUIRED = (
    ("STRIPE_SECRET_KEY", "stripe_secret_key", "the secret API key (sk_live_... or sk_test_...)"),
    ("STRIPE_WEBHOOK_SECRET", "stripe_webhook_secret", "the webhook signing secret (whsec_...)"),
    ("CHECKOUT_SUCCESS_URL", "checkout_success_url", "where Stripe sends the buyer after paying"),
    ("CHECKOUT_CANCEL_URL", "checkout_cancel_url", "where Stripe sends a buyer who gives up"),
)


def unsupported(settings: Settings) -> list[str]:
    """Values that are each well-formed but do not work, alone or together."""
    problems = []
    policy = settings.policy
    if "*" in settings.server.cors_origins:
        problems.append(
            "CORS_ORIGINS cannot be '*': the API uses session cookies, so list the origins"
        )
    if policy.job_deadline_seconds < policy.job_timeout_seconds:
        problems.append(
            "JOB_DEADLINE_SECONDS must be at least JOB_TIMEOUT_SECONDS, got "
            f"{policy.job_deadline_seconds:g} < {policy.job_timeout_seconds:g}"
        )
    if settings.mail.url is not None and settings.mail.url != MEMORY_URL:
        try:
            SmtpTarget.parse(settings.mail.url)
        except ValueError:
            problems.append("MAIL_URL must name a host and a port from 1 to 65535")
    if policy.retry_max_seconds < policy.retry_base_seconds:
        problems.append(
            "JOB_RETRY_MAX_SECONDS must be at least JOB_RETRY_BASE_SECONDS, got "
            f"{policy.retry_max_seconds:g} < {policy.retry_base_seconds:g}"
        )
    pictures = settings.pictures
    if pictures.store and bool(pictures.access_key_id) != bool(pictures.secret_access_key):
        problems.append(
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together: set both, or neither "
            "to use the environment's role"
        )
    return problems


def missing_for_stripe(settings: Settings) -> list[str]:
    """One line per setting that ``PAYMENTS_MODE=stripe`` needs and lacks."""
    if settings.payments.mode != "stripe":
        return []
    return [
        f"{name} is required when PAYMENTS_MODE=stripe: {what}"
        for name, attribute, what in STRIPE_REQUIRED
        if not getattr(settings.payments, attribute)
    ]


def missing_for_production(settings: Settings, *, payments_chosen: bool) -> list[str]:
    """What production needs and lacks. It sells through Stripe, or says explicitly that it
    sells nothing (``PAYMENTS_MODE=disabled``)."""
    problems = []
    if not settings.database.external:
        problems.append(
            "DATABASE_URL must be a postgresql:// URL when PICPAYGO_ENV=production "
            "(the embedded and in-memory databases are for development)"
        )
    if not settings.openrouter.api_key:
        problems.append("OPENROUTER_API_KEY is required when PICPAYGO_ENV=production")
    if not settings.sessions.cookie_secure:
        problems.append("SESSION_COOKIE_SECURE must be true when PICPAYGO_ENV=production")
    if not payments_chosen:
        problems.append(
            "PAYMENTS_MODE is required when PICPAYGO_ENV=production: stripe (with the "
            "STRIPE_* and CHECKOUT_* settings), or disabled to sell nothing"
        )
    elif settings.payments.mode == "instant":
        problems.append(
            "PAYMENTS_MODE=instant gives credits away and is refused when PICPAYGO_ENV=production: "
            "use stripe (or disabled to sell nothing)"
        )
    return problems


# What production mails cannot do without: the variable, what it is.
MAIL_REQUIRED = (
    ("PUBLIC_URL", "the https:// address people open, used in mailed links"),
    ("MAIL_URL", "the smtp:// or smtps:// server that sends mail"),
    ("MAIL_FROM", "the sender of mails, such as PicPayGo <noreply@example.com>"),
)


def missing_mail_for_production(environ: Mapping[str, str]) -> list[str]:
    """One line per mail setting production lacks (their development defaults send no
    mail, or links to this machine)."""
    problems = [
        f"{name} is required when PICPAYGO_ENV=production: {what}"
        for name, what in MAIL_REQUIRED
        if not environ.get(name, "").strip()
    ]
    if environ.get("MAIL_URL", "").strip().lower() == MEMORY_URL:
        problems.append(
            "MAIL_URL=memory:// sends no mail and is refused when PICPAYGO_ENV=production"
        )
    return problems
