"""The settings, one small msgspec Struct per concern.

Each field that is read from the environment is named after its variable (the field's
encoded name) and constrained where it is declared (``Annotated`` with ``msgspec.Meta``,
whose description says what a refused value should have been). The domain's limits are
the core's ``Policy``: ``PolicySettings`` only says which variable sets which of its
fields, and leaves the defaults to the core.
"""

from __future__ import annotations

import ipaddress
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from entrypoints.logs import LogFormat
from picpaygo_core.policy import CREDIT_PACKS, Policy

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Profile = Literal["development", "production"]
PaymentsMode = Literal["instant", "disabled", "stripe"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

MEGABYTE = 1024 * 1024
MEMORY_URL = "memory://"


class Networks(tuple[Network, ...]):
    """IP networks, read from a comma-separated list such as ``10.0.0.0/8,::1``."""

    @classmethod
    def parse(cls, text: str) -> Networks:
        """The networks of ``text`` (``ValueError`` for one that is not a network)."""
        parts = (part.strip() for part in text.split(","))
        return cls(ipaddress.ip_network(part, strict=False) for part in parts if part)


def variable(name: str, default: Any = None) -> Any:
    """A field read from the environment variable ``name`` (``default`` when unset or blank)."""
    return msgspec.field(default=default, name=name)


def whole(minimum: int, maximum: int, unit: str = "") -> msgspec.Meta:
    """A whole number from ``minimum`` to ``maximum``."""
    wants = f"a whole number from {minimum} to {maximum}" + (f" ({unit})" if unit else "")
    return msgspec.Meta(ge=minimum, le=maximum, description=wants)


def at_least(minimum: float) -> msgspec.Meta:
    """A finite number of at least ``minimum``."""
    wants = f"a number of at least {minimum:g}"
    return msgspec.Meta(ge=minimum, le=sys.float_info.max, description=wants)


def described(wants: str, pattern: str | None = None) -> msgspec.Meta:
    """Text (matching ``pattern``, if given) that should be ``wants``."""
    return msgspec.Meta(pattern=pattern, description=wants)


Text = Annotated[str, described("text")]
HttpUrl = Annotated[str, described("an http:// or https:// URL", r"^https?://")]
Seconds = Annotated[float, at_least(0.0)]
Timeout = Annotated[float, at_least(0.1)]
Origins = Annotated[tuple[str, ...], described("a comma-separated list")]
Proxies = Annotated[Networks, described("comma-separated IP networks such as 10.0.0.0/8,::1")]
DatabaseUrl = Annotated[
    str,
    described(
        "a postgresql:// URL or memory:// (unset: embedded)",
        r"^(postgresql://|postgres://|(?i:memory://)$)",
    ),
]
MailUrl = Annotated[
    str,
    described(
        "an smtp://[user:password@]host[:port] or smtps:// URL, or memory://",
        r"^((?i:smtps?)://[^/?#]*[^/?#:@]|(?i:memory://)$)",
    ),
]
CookieName = Annotated[str, described("letters, digits, '-' and '_' only", r"^[A-Za-z0-9_-]+$")]
Currency = Annotated[
    str, described("a three-letter ISO currency code such as usd", r"^[A-Za-z]{3}$")
]
PackPrices = Annotated[
    dict[int, Annotated[int, msgspec.Meta(ge=1, le=10**9)]],
    described("a price in minor units for each pack, like 5:500,10:900,20:1600"),
]


def _without_trailing_slash(section: msgspec.Struct, *names: str) -> None:
    for name in names:
        value = getattr(section, name)
        if isinstance(value, str):
            msgspec.structs.force_setattr(section, name, value.rstrip("/"))


class ServerSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The HTTP server: where it listens, what it lets in, how it logs and stops."""

    host: Text = variable("HOST", "127.0.0.1")
    port: Annotated[int, whole(1, 65535)] = variable("PORT", 8081)
    log_level: LogLevel = variable("LOG_LEVEL", "INFO")
    log_format: LogFormat = variable("LOG_FORMAT", "text")
    metrics_enabled: bool = variable("METRICS_ENABLED", True)
    shutdown_grace_seconds: Seconds = variable("SHUTDOWN_GRACE_SECONDS", 20.0)
    cors_origins: Origins = variable("CORS_ORIGINS", ())
    trusted_proxies: Proxies = variable("TRUSTED_PROXIES", Networks())
    header_timeout_seconds: Timeout = variable("HEADER_TIMEOUT_SECONDS", 30.0)
    body_timeout_seconds: Timeout = variable("BODY_TIMEOUT_SECONDS", 30.0)
    max_connections: Annotated[int, whole(1, 1_000_000)] = variable("MAX_CONNECTIONS", 1000)
    max_json_body_bytes: int = 64 * 1024


class DatabaseSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Where the data lives: unset URL, the embedded server in ``data_dir``."""

    url: DatabaseUrl | None = variable("DATABASE_URL")
    data_dir: Annotated[Path, described("a directory path")] = variable(
        "PICPAYGO_DATA_DIR", Path(".picpaygo")
    )
    pool_size: Annotated[int, whole(1, 500)] = variable("DATABASE_POOL_SIZE", 10)
    timeout_seconds: Annotated[float, at_least(0.5)] = variable("DATABASE_TIMEOUT_SECONDS", 5.0)
    migrate_on_start: bool = variable("DATABASE_MIGRATE_ON_START", False)

    def __post_init__(self) -> None:
        if self.url is not None and self.url.lower() == MEMORY_URL:
            msgspec.structs.force_setattr(self, "url", MEMORY_URL)

    @property
    def in_memory(self) -> bool:
        return self.url == MEMORY_URL

    @property
    def external(self) -> bool:
        """A PostgreSQL server of the deployment's own (``postgresql://...``)."""
        return self.url is not None and not self.in_memory


class SessionSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The session cookie (its lifetime is the policy's ``session_ttl``)."""

    cookie: CookieName = variable("SESSION_COOKIE", "picpaygo_session")
    cookie_secure: bool = variable("SESSION_COOKIE_SECURE", False)


class GoogleSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Sign-in with Google: off without a client id."""

    client_id: Text | None = variable("GOOGLE_CLIENT_ID")


class JobSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Job workers (the timings of one job are the policy's)."""

    workers: Annotated[int, whole(0, 256)] = variable("JOB_WORKERS", 2)
    poll_seconds: Annotated[float, at_least(0.05)] = variable("JOB_POLL_SECONDS", 2.0)


class OpenRouterSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The OpenRouter image model: off (offline generator) without an API key."""

    api_key: Text | None = variable("OPENROUTER_API_KEY")
    model: Text = variable("OPENROUTER_MODEL", "google/gemini-3-pro-image-preview")
    url: HttpUrl = variable("OPENROUTER_URL", "https://openrouter.ai/api/v1")
    connect_timeout_seconds: Timeout = variable("OPENROUTER_CONNECT_TIMEOUT_SECONDS", 10.0)
    read_timeout_seconds: Timeout = variable("OPENROUTER_READ_TIMEOUT_SECONDS", 110.0)
    site_url: HttpUrl | None = variable("OPENROUTER_SITE_URL")
    app_title: Text | None = variable("OPENROUTER_APP_TITLE")

    def __post_init__(self) -> None:
        _without_trailing_slash(self, "url", "site_url")


class PaymentSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How credit packs are paid for."""

    mode: PaymentsMode = variable("PAYMENTS_MODE", "instant")
    stripe_secret_key: Text | None = variable("STRIPE_SECRET_KEY")
    stripe_webhook_secret: Text | None = variable("STRIPE_WEBHOOK_SECRET")
    stripe_api_base: HttpUrl = variable("STRIPE_API_BASE", "https://api.stripe.com")
    stripe_timeout_seconds: Timeout = variable("STRIPE_TIMEOUT_SECONDS", 30.0)
    checkout_success_url: HttpUrl | None = variable("CHECKOUT_SUCCESS_URL")
    checkout_cancel_url: HttpUrl | None = variable("CHECKOUT_CANCEL_URL")

    def __post_init__(self) -> None:
        _without_trailing_slash(self, "stripe_api_base", "checkout_success_url")
        _without_trailing_slash(self, "checkout_cancel_url")


class MailSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Mail to people (verification and reset links) and the address links point to.

    Without ``MAIL_URL`` mail goes to the development outbox: ``.eml`` files in
    ``PICPAYGO_DATA_DIR/outbox/`` (in memory with ``memory://``), links logged.
    """

    public_url: HttpUrl = variable("PUBLIC_URL", "http://127.0.0.1:8081")
    url: MailUrl | None = variable("MAIL_URL")
    sender: Text = variable("MAIL_FROM", "PicPayGo <noreply@localhost>")

    def __post_init__(self) -> None:
        _without_trailing_slash(self, "public_url")
        if self.url is not None and self.url.lower() == MEMORY_URL:
            msgspec.structs.force_setattr(self, "url", MEMORY_URL)


PictureStoreUrl = Annotated[
    str,
    described(
        "s3://bucket or s3://bucket/prefix", r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$"
    ),
]


class PictureSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Where picture bytes live: unset store, in the database; else an S3-compatible store."""

    store: PictureStoreUrl | None = variable("PICTURE_STORE")
    endpoint_url: HttpUrl | None = variable("S3_ENDPOINT_URL")
    region: Text = variable("S3_REGION", "us-east-1")
    access_key_id: Text | None = variable("AWS_ACCESS_KEY_ID")
    secret_access_key: Text | None = variable("AWS_SECRET_ACCESS_KEY")
    session_token: Text | None = variable("AWS_SESSION_TOKEN")
    url_ttl_seconds: Annotated[int, whole(1, 7 * 24 * 3600, "seconds")] = variable(
        "PICTURE_URL_TTL_SECONDS", 300
    )

    def __post_init__(self) -> None:
        _without_trailing_slash(self, "store", "endpoint_url")

    @property
    def bucket(self) -> str | None:
        """The bucket of ``PICTURE_STORE`` (None when pictures stay in the database)."""
        return self.store.removeprefix("s3://").partition("/")[0] if self.store else None

    @property
    def prefix(self) -> str:
        """The key prefix of ``PICTURE_STORE`` (empty for the whole bucket)."""
        return self.store.removeprefix("s3://").partition("/")[2].strip("/") if self.store else ""


class PolicySettings(msgspec.Struct, frozen=True, kw_only=True):
    """Which variable sets which field of the core's ``Policy`` (unset: the core's default)."""

    free_credits: Annotated[int, whole(0, 1000)] | None = variable("DEFAULT_FREE_CREDITS")
    session_ttl: Annotated[int, whole(1, 24 * 365, "hours")] | None = variable("SESSION_TTL_HOURS")
    max_upload_bytes: Annotated[int, whole(1024, 200 * MEGABYTE)] | None = variable(
        "MAX_UPLOAD_BYTES"
    )
    max_image_pixels: Annotated[int, whole(1, 10**9)] | None = variable("MAX_IMAGE_PIXELS")
    job_timeout_seconds: Annotated[float, at_least(1.0)] | None = variable("JOB_TIMEOUT_SECONDS")
    job_deadline_seconds: Annotated[float, at_least(1.0)] | None = variable("JOB_DEADLINE_SECONDS")
    job_max_attempts: Annotated[int, whole(1, 20)] | None = variable("JOB_MAX_ATTEMPTS")
    job_lease_seconds: Annotated[float, at_least(3.0)] | None = variable("JOB_LEASE_SECONDS")
    retry_base_seconds: Seconds | None = variable("JOB_RETRY_BASE_SECONDS")
    retry_max_seconds: Seconds | None = variable("JOB_RETRY_MAX_SECONDS")
    generator_concurrency: Annotated[int, whole(1, 1000)] | None = variable(
        "GENERATOR_MAX_CONCURRENCY"
    )
    output_retention: Annotated[int, whole(1, 24 * 3650, "hours")] | None = variable(
        "OUTPUT_RETENTION_HOURS"
    )
    auth_attempts_per_minute: Annotated[int, whole(0, 1_000_000)] | None = variable(
        "AUTH_ATTEMPTS_PER_MINUTE"
    )
    password_reset_ttl: Annotated[int, whole(5, 24 * 60, "minutes")] | None = variable(
        "PASSWORD_RESET_TTL_MINUTES"
    )
    mail_retry_base_seconds: Annotated[float, at_least(0.1)] | None = variable(
        "MAIL_RETRY_BASE_SECONDS"
    )
    pack_prices: PackPrices | None = variable("CREDIT_PACK_PRICES")
    currency: Currency | None = variable("PAYMENTS_CURRENCY")

    def __post_init__(self) -> None:
        if self.pack_prices is not None and set(self.pack_prices) != CREDIT_PACKS:
            raise ValueError("one price for each pack")
        if self.currency is not None:
            msgspec.structs.force_setattr(self, "currency", self.currency.lower())

    def policy(self) -> Policy:
        """The core's ``Policy`` with the fields set here (hours read as durations)."""
        values: dict[str, Any] = {
            name: value
            for name in self.__struct_fields__
            if (value := getattr(self, name)) is not None
        }
        for name in ("session_ttl", "output_retention"):
            if name in values:
                values[name] = timedelta(hours=values[name])
        if "password_reset_ttl" in values:
            values["password_reset_ttl"] = timedelta(minutes=values["password_reset_ttl"])
        return Policy(**values)


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the service reads from its environment."""

    env: Profile = "development"
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    sessions: SessionSettings = msgspec.field(default_factory=SessionSettings)
    google: GoogleSettings = msgspec.field(default_factory=GoogleSettings)
    jobs: JobSettings = msgspec.field(default_factory=JobSettings)
    openrouter: OpenRouterSettings = msgspec.field(default_factory=OpenRouterSettings)
    payments: PaymentSettings = msgspec.field(default_factory=PaymentSettings)
    mail: MailSettings = msgspec.field(default_factory=MailSettings)
    pictures: PictureSettings = msgspec.field(default_factory=PictureSettings)
    policy: Policy = msgspec.field(default_factory=Policy)

    @property
    def is_production(self) -> bool:
        return self.env == "production"
