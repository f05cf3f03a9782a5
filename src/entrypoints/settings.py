"""Settings, read from the environment once into small typed objects, one per concern.

Each setting is declared once, where its field is: its variable, its default, and, where
the production profile wants another, its production default. The domain's limits (free
credits, session lifetime, upload limits, job timings, ...) are the core's ``Policy``,
read straight into it: its defaults are the core's, stated there and nowhere else.

A malformed value raises ``SettingsError`` with one line that names the variable and
says what it wants (never echoing a secret); when several are wrong, one line each.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from entrypoints.logs import LogFormat, redact
from picpaygo_core.policy import CREDIT_PACKS, Policy

T = TypeVar("T")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Profile = Literal["development", "production"]
PaymentsMode = Literal["instant", "disabled", "stripe"]

MEGABYTE = 1024 * 1024
PROFILES: tuple[Profile, ...] = ("development", "production")
PAYMENTS_MODES: tuple[PaymentsMode, ...] = ("instant", "disabled", "stripe")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
MEMORY_URL = "memory://"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class SettingsError(Exception):
    """Settings are missing or malformed; one line per problem, each naming its variable."""


# --- how one variable is read -------------------------------------------------------------


@dataclass(frozen=True)
class Parser(Generic[T]):
    """Turns a variable's (trimmed, non-empty) text into a value, or raises ``ValueError``."""

    parse: Callable[[str], T]
    wants: str


@dataclass(frozen=True)
class Variable(Generic[T]):
    """An environment variable: its name, how to read it, and its production default."""

    name: str
    parser: Parser[T]
    production: T | None = None
    secret: bool = False

    def refusal(self, raw: str) -> str:
        """The one line that says this variable's value ``raw`` was refused."""
        return f"{self.name} must be {self.parser.wants}, got {_shown(raw, secret=self.secret)}"


def _shown(raw: str, *, secret: bool) -> str:
    """How a refused value appears in the error: masked URL passwords, and of a value that
    may hold a secret (the database URL) only its scheme."""
    if not secret:
        return repr(redact(raw))
    scheme, separator, _ = raw.partition("://")
    if separator and scheme.replace("+", "").isalnum():
        return f"a {scheme}:// URL"
    return "a value that is not a URL (not shown: it may hold a password)"


def setting(
    name: str,
    parser: Parser[T],
    default: T,
    *,
    production: T | None = None,
    secret: bool = False,
) -> Any:
    """A settings field read from variable ``name`` (``default`` when unset or blank)."""
    return field(default=default, metadata={"variable": Variable(name, parser, production, secret)})


def integer(minimum: int, maximum: int) -> Parser[int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if not minimum <= value <= maximum:
            raise ValueError
        return value

    return Parser(parse, f"a whole number from {minimum} to {maximum}")


def number(minimum: float) -> Parser[float]:
    def parse(raw: str) -> float:
        value = float(raw)
        if not value >= minimum or value == float("inf"):
            raise ValueError
        return value

    return Parser(parse, f"a number of at least {minimum:g}")


def hours(minimum: int, maximum: int) -> Parser[timedelta]:
    whole = integer(minimum, maximum)
    return Parser(lambda raw: timedelta(hours=whole.parse(raw)), whole.wants + " (hours)")


def _boolean(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError


BOOLEAN = Parser(_boolean, "true or false")
TEXT = Parser(str, "text")
OPTIONAL_TEXT: Parser[str | None] = Parser(str, "text")
PATH = Parser(Path, "a directory path")


def choice(options: tuple[T, ...], *, upper: bool = False) -> Parser[T]:
    def parse(raw: str) -> T:
        wanted = raw.upper() if upper else raw.lower()
        for option in options:
            if option == wanted:
                return option
        raise ValueError

    return Parser(parse, "one of " + ", ".join(map(str, options)))


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


CSV = Parser(_csv, "a comma-separated list")


def _networks(raw: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(part, strict=False) for part in _csv(raw))


NETWORKS = Parser(_networks, "comma-separated IP networks such as 10.0.0.0/8,::1")


def _http_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError
    return raw.rstrip("/")


HTTP_URL = Parser(_http_url, "an http:// or https:// URL")
OPTIONAL_HTTP_URL: Parser[str | None] = Parser(_http_url, HTTP_URL.wants)


def _database_url(raw: str) -> str | None:
    if raw.lower() == MEMORY_URL:
        return MEMORY_URL
    if not raw.startswith(POSTGRES_SCHEMES):
        raise ValueError
    return raw


DATABASE_URL = Parser(_database_url, "a postgresql:// URL or memory:// (unset: embedded)")


def _pack_prices(raw: str) -> dict[int, int]:
    prices: dict[int, int] = {}
    for part in raw.split(","):
        pack, sep, price = part.strip().partition(":")
        if not sep or int(pack) in prices or not 1 <= int(price) <= 10**9:
            raise ValueError
        prices[int(pack)] = int(price)
    if sorted(prices) != sorted(CREDIT_PACKS):
        raise ValueError
    return prices


PACK_PRICES = Parser(
    _pack_prices, "a price in minor units for each pack, like 5:500,10:900,20:1600"
)


def _currency(raw: str) -> str:
    if len(raw) != 3 or not raw.isascii() or not raw.isalpha():
        raise ValueError
    return raw.lower()


CURRENCY = Parser(_currency, "a three-letter ISO currency code such as usd")


def _cookie_name(raw: str) -> str:
    if not raw.replace("_", "").replace("-", "").isalnum() or not raw.isascii():
        raise ValueError
    return raw


COOKIE_NAME = Parser(_cookie_name, "letters, digits, '-' and '_' only")


# --- the settings, one small object per concern -------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ServerSettings:
    """The HTTP server: where it listens, what it lets in, how it logs and stops."""

    host: str = setting("HOST", TEXT, "127.0.0.1")
    port: int = setting("PORT", integer(1, 65535), 8081)
    log_level: str = setting("LOG_LEVEL", choice(LOG_LEVELS, upper=True), "INFO")
    log_format: LogFormat = setting("LOG_FORMAT", choice(LOG_FORMATS), "text", production="json")
    metrics_enabled: bool = setting("METRICS_ENABLED", BOOLEAN, True)
    shutdown_grace_seconds: float = setting("SHUTDOWN_GRACE_SECONDS", number(0.0), 20.0)
    cors_origins: tuple[str, ...] = setting("CORS_ORIGINS", CSV, ())
    trusted_proxies: tuple[Network, ...] = setting("TRUSTED_PROXIES", NETWORKS, ())
    header_timeout_seconds: float = setting("HEADER_TIMEOUT_SECONDS", number(0.1), 30.0)
    body_timeout_seconds: float = setting("BODY_TIMEOUT_SECONDS", number(0.1), 30.0)
    max_connections: int = setting("MAX_CONNECTIONS", integer(1, 1_000_000), 1000)
    max_json_body_bytes: int = 64 * 1024


@dataclass(frozen=True, kw_only=True)
class DatabaseSettings:
    """Where the data lives: unset URL, the embedded server in ``data_dir``."""

    url: str | None = setting("DATABASE_URL", DATABASE_URL, None, secret=True)
    data_dir: Path = setting("PICPAYGO_DATA_DIR", PATH, Path(".picpaygo"))
    pool_size: int = setting("DATABASE_POOL_SIZE", integer(1, 500), 10)
    timeout_seconds: float = setting("DATABASE_TIMEOUT_SECONDS", number(0.5), 5.0)
    migrate_on_start: bool = setting("DATABASE_MIGRATE_ON_START", BOOLEAN, False)

    @property
    def in_memory(self) -> bool:
        return self.url == MEMORY_URL

    @property
    def external(self) -> bool:
        """A PostgreSQL server of the deployment's own (``postgresql://...``)."""
        return self.url is not None and not self.in_memory


@dataclass(frozen=True, kw_only=True)
class SessionSettings:
    """The session cookie (its lifetime is the policy's ``session_ttl``)."""

    cookie: str = setting("SESSION_COOKIE", COOKIE_NAME, "picpaygo_session")
    cookie_secure: bool = setting("SESSION_COOKIE_SECURE", BOOLEAN, False, production=True)


@dataclass(frozen=True, kw_only=True)
class GoogleSettings:
    """Sign-in with Google: off without a client id."""

    client_id: str | None = setting("GOOGLE_CLIENT_ID", OPTIONAL_TEXT, None)


@dataclass(frozen=True, kw_only=True)
class JobSettings:
    """Job workers (the timings of one job are the policy's)."""

    workers: int = setting("JOB_WORKERS", integer(0, 256), 2)
    poll_seconds: float = setting("JOB_POLL_SECONDS", number(0.05), 2.0)


@dataclass(frozen=True, kw_only=True)
class OpenRouterSettings:
    """The OpenRouter image model: off (offline generator) without an API key."""

    api_key: str | None = setting("OPENROUTER_API_KEY", OPTIONAL_TEXT, None, secret=True)
    model: str = setting("OPENROUTER_MODEL", TEXT, "google/gemini-3-pro-image-preview")
    url: str = setting("OPENROUTER_URL", HTTP_URL, "https://openrouter.ai/api/v1")
    connect_timeout_seconds: float = setting(
        "OPENROUTER_CONNECT_TIMEOUT_SECONDS", number(0.1), 10.0
    )
    read_timeout_seconds: float = setting("OPENROUTER_READ_TIMEOUT_SECONDS", number(0.1), 110.0)
    site_url: str | None = setting("OPENROUTER_SITE_URL", OPTIONAL_HTTP_URL, None)
    app_title: str | None = setting("OPENROUTER_APP_TITLE", OPTIONAL_TEXT, None)


@dataclass(frozen=True, kw_only=True)
class PaymentSettings:
    """How credit packs are paid for."""

    mode: PaymentsMode = setting("PAYMENTS_MODE", choice(PAYMENTS_MODES), "instant")
    stripe_secret_key: str | None = setting("STRIPE_SECRET_KEY", OPTIONAL_TEXT, None, secret=True)
    stripe_webhook_secret: str | None = setting(
        "STRIPE_WEBHOOK_SECRET", OPTIONAL_TEXT, None, secret=True
    )
    stripe_api_base: str = setting("STRIPE_API_BASE", HTTP_URL, "https://api.stripe.com")
    stripe_timeout_seconds: float = setting("STRIPE_TIMEOUT_SECONDS", number(0.1), 30.0)
    checkout_success_url: str | None = setting("CHECKOUT_SUCCESS_URL", OPTIONAL_HTTP_URL, None)
    checkout_cancel_url: str | None = setting("CHECKOUT_CANCEL_URL", OPTIONAL_HTTP_URL, None)


# What stripe mode cannot work without: the variable, the field, what it is.
STRIPE_REQUIRED = (
    ("STRIPE_SECRET_KEY", "stripe_secret_key", "the secret API key (sk_live_... or sk_test_...)"),
    ("STRIPE_WEBHOOK_SECRET", "stripe_webhook_secret", "the webhook signing secret (whsec_...)"),
    ("CHECKOUT_SUCCESS_URL", "checkout_success_url", "where Stripe sends the buyer after paying"),
    ("CHECKOUT_CANCEL_URL", "checkout_cancel_url", "where Stripe sends a buyer who gives up"),
)


# The core's rules: which variable sets which ``Policy`` field (the defaults are the core's).
POLICY_VARIABLES: dict[str, Variable[Any]] = {
    "free_credits": Variable("DEFAULT_FREE_CREDITS", integer(0, 1000)),
    "session_ttl": Variable("SESSION_TTL_HOURS", hours(1, 24 * 365)),
    "max_upload_bytes": Variable("MAX_UPLOAD_BYTES", integer(1024, 200 * MEGABYTE)),
    "max_image_pixels": Variable("MAX_IMAGE_PIXELS", integer(1, 10**9)),
    "job_timeout_seconds": Variable("JOB_TIMEOUT_SECONDS", number(1.0)),
    "job_deadline_seconds": Variable("JOB_DEADLINE_SECONDS", number(1.0)),
    "job_max_attempts": Variable("JOB_MAX_ATTEMPTS", integer(1, 20)),
    "job_lease_seconds": Variable("JOB_LEASE_SECONDS", number(3.0)),
    "retry_base_seconds": Variable("JOB_RETRY_BASE_SECONDS", number(0.0)),
    "retry_max_seconds": Variable("JOB_RETRY_MAX_SECONDS", number(0.0)),
    "generator_concurrency": Variable("GENERATOR_MAX_CONCURRENCY", integer(1, 1000)),
    "output_retention": Variable("OUTPUT_RETENTION_HOURS", hours(1, 24 * 3650)),
    "auth_attempts_per_minute": Variable("AUTH_ATTEMPTS_PER_MINUTE", integer(0, 1_000_000)),
    "pack_prices": Variable("CREDIT_PACK_PRICES", PACK_PRICES),
    "currency": Variable("PAYMENTS_CURRENCY", CURRENCY),
}
PROFILE_VARIABLE = Variable("PICPAYGO_ENV", choice(PROFILES))


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the service reads from its environment."""

    env: Profile = "development"
    server: ServerSettings = field(default_factory=ServerSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    sessions: SessionSettings = field(default_factory=SessionSettings)
    google: GoogleSettings = field(default_factory=GoogleSettings)
    jobs: JobSettings = field(default_factory=JobSettings)
    openrouter: OpenRouterSettings = field(default_factory=OpenRouterSettings)
    payments: PaymentSettings = field(default_factory=PaymentSettings)
    policy: Policy = field(default_factory=Policy)

    @property
    def is_production(self) -> bool:
        return self.env == "production"


# The concerns, by their attribute on ``Settings``.
SECTIONS: dict[str, type[Any]] = {
    "server": ServerSettings,
    "database": DatabaseSettings,
    "sessions": SessionSettings,
    "google": GoogleSettings,
    "jobs": JobSettings,
    "openrouter": OpenRouterSettings,
    "payments": PaymentSettings,
}


# --- reading them -------------------------------------------------------------------------


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Read and check every setting from ``environ`` (usually ``os.environ``).

    Raises ``SettingsError`` naming every refused variable, one line each.
    """
    reader = _Reader(environ)
    env: Profile = reader.read(PROFILE_VARIABLE) or "development"
    production = env == "production"
    sections = {name: reader.section(cls, production) for name, cls in SECTIONS.items()}
    policy = {
        name: value
        for name, variable in POLICY_VARIABLES.items()
        if (value := reader.read(variable)) is not None
    }
    # A refused value reads as its default, so that every other problem is found too.
    settings = Settings(env=env, policy=Policy(**policy), **sections)
    problems = [*reader.problems, *_unsupported(settings)]
    if production:
        payments_chosen = bool(environ.get("PAYMENTS_MODE", "").strip())
        problems += _missing_for_production(settings, payments_chosen=payments_chosen)
    problems += _missing_for_stripe(settings)
    if problems:
        raise SettingsError("\n".join(problems))
    return settings


def _unsupported(settings: Settings) -> list[str]:
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
    if policy.retry_max_seconds < policy.retry_base_seconds:
        problems.append(
            "JOB_RETRY_MAX_SECONDS must be at least JOB_RETRY_BASE_SECONDS, got "
            f"{policy.retry_max_seconds:g} < {policy.retry_base_seconds:g}"
        )
    return problems


def _missing_for_stripe(settings: Settings) -> list[str]:
    """One line per setting that ``PAYMENTS_MODE=stripe`` needs and lacks."""
    if settings.payments.mode != "stripe":
        return []
    return [
        f"{name} is required when PAYMENTS_MODE=stripe: {what}"
        for name, attribute, what in STRIPE_REQUIRED
        if not getattr(settings.payments, attribute)
    ]


def _missing_for_production(settings: Settings, *, payments_chosen: bool) -> list[str]:
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


class _Reader:
    """Reads variables, keeping one line per refused value."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.problems: list[str] = []

    def read(self, variable: Variable[T]) -> T | None:
        """The variable's value, or None when it is unset or blank (or refused)."""
        raw = self._environ.get(variable.name, "").strip()
        if not raw:
            return None
        try:
            return variable.parser.parse(raw)
        except ValueError:
            self.problems.append(variable.refusal(raw))
            return None

    def section(self, cls: type[Any], production: bool) -> Any:
        """An instance of the settings dataclass ``cls``, its unset fields at their defaults."""
        values: dict[str, object] = {}
        for each in dataclasses.fields(cls):
            variable: Variable[Any] | None = each.metadata.get("variable")
            if variable is None:
                continue
            value = self.read(variable)
            if value is None and production:
                value = variable.production
            if value is not None:
                values[each.name] = value
        return cls(**values)


def secret_values(settings: Settings) -> list[str]:
    """The values of the secret settings, to mask in logs (of a URL, its password)."""
    values = []
    for name in SECTIONS:
        section = getattr(settings, name)
        for each in dataclasses.fields(section):
            variable: Variable[Any] | None = each.metadata.get("variable")
            value = getattr(section, each.name)
            if variable is None or not variable.secret or not isinstance(value, str):
                continue
            if "://" not in value:
                values.append(value)
                continue
            try:
                password = urllib.parse.urlsplit(value).password
            except ValueError:
                password = None
            if password:
                values.append(password)
    return values
