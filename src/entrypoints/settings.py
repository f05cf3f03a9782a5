"""Settings, read from the environment once into a typed object.

Every variable has a safe default for the development profile. Malformed values
raise one ``SettingsError`` listing every problem, one line each, naming the variable
and saying what it wants; a secret's value is never repeated in it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

from entrypoints.logs import LogFormat, redact
from picpaygo_core.policy import CREDIT_PACKS

T = TypeVar("T")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Profile = Literal["development", "production"]
PaymentsMode = Literal["instant", "disabled"]

DEFAULT_OPENROUTER_MODEL = "google/gemini-3-pro-image-preview"
DEFAULT_OPENROUTER_URL = "https://openrouter.ai/api/v1"
MEGABYTE = 1024 * 1024
PROFILES: tuple[Profile, ...] = ("development", "production")
PAYMENTS_MODES: tuple[PaymentsMode, ...] = ("instant", "disabled")
DEFAULT_PACK_PRICES: tuple[tuple[int, int], ...] = ((5, 500), (10, 900), (20, 1600))
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")


class SettingsError(Exception):
    """Settings are missing or malformed; the message has one line per problem, each
    naming its variable."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the service reads from its environment."""

    env: Profile = "development"
    host: str = "127.0.0.1"
    port: int = 8081
    log_level: str = "INFO"
    log_format: LogFormat = "text"
    metrics_enabled: bool = True
    shutdown_grace_seconds: float = 20.0
    database_url: str | None = None
    database_pool_size: int = 10
    database_timeout_seconds: float = 5.0
    database_migrate_on_start: bool = False
    google_client_id: str | None = None
    openrouter_api_key: str | None = None
    openrouter_model: str = DEFAULT_OPENROUTER_MODEL
    openrouter_url: str = DEFAULT_OPENROUTER_URL
    openrouter_connect_timeout_seconds: float = 10.0
    openrouter_read_timeout_seconds: float = 110.0
    openrouter_site_url: str | None = None
    openrouter_app_title: str | None = None
    generator_max_concurrency: int = 4
    session_ttl_hours: int = 168
    session_cookie: str = "picpaygo_session"
    session_cookie_secure: bool = False
    default_free_credits: int = 3
    cors_origins: tuple[str, ...] = ()
    trusted_proxies: tuple[Network, ...] = ()
    job_workers: int = 2
    job_timeout_seconds: float = 120.0
    job_deadline_seconds: float = 900.0
    job_max_attempts: int = 3
    job_lease_seconds: float = 60.0
    job_poll_seconds: float = 2.0
    job_retry_base_seconds: float = 2.0
    job_retry_max_seconds: float = 300.0
    max_upload_bytes: int = 10 * MEGABYTE
    max_image_pixels: int = 50_000_000
    output_retention_hours: int = 168
    payments_mode: PaymentsMode = "instant"
    credit_pack_prices: tuple[tuple[int, int], ...] = DEFAULT_PACK_PRICES
    payments_currency: str = "usd"
    auth_attempts_per_minute: int = 20
    max_json_body_bytes: int = 64 * 1024

    @property
    def is_production(self) -> bool:
        return self.env == "production"


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Read and check every setting from ``environ`` (usually ``os.environ``)."""
    read = _Reader(environ)
    env = read.choice("PICPAYGO_ENV", PROFILES, "development")
    production = env == "production"
    settings = Settings(
        env=env,
        host=read.text("HOST", "127.0.0.1"),
        port=read.integer("PORT", 8081, minimum=1, maximum=65535),
        log_level=read.choice(
            "LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO", upper=True
        ),
        log_format=read.choice("LOG_FORMAT", LOG_FORMATS, "json" if production else "text"),
        metrics_enabled=read.boolean("METRICS_ENABLED", True),
        shutdown_grace_seconds=read.number("SHUTDOWN_GRACE_SECONDS", 20.0, minimum=0.0),
        database_url=read.database_url("DATABASE_URL"),
        database_pool_size=read.integer("DATABASE_POOL_SIZE", 10, minimum=1, maximum=500),
        database_timeout_seconds=read.number("DATABASE_TIMEOUT_SECONDS", 5.0, minimum=0.5),
        database_migrate_on_start=read.boolean("DATABASE_MIGRATE_ON_START", False),
        google_client_id=read.optional("GOOGLE_CLIENT_ID"),
        openrouter_api_key=read.optional("OPENROUTER_API_KEY"),
        openrouter_model=read.text("OPENROUTER_MODEL", DEFAULT_OPENROUTER_MODEL),
        openrouter_url=read.http_url("OPENROUTER_URL", DEFAULT_OPENROUTER_URL),
        openrouter_connect_timeout_seconds=read.number(
            "OPENROUTER_CONNECT_TIMEOUT_SECONDS", 10.0, minimum=0.1
        ),
        openrouter_read_timeout_seconds=read.number(
            "OPENROUTER_READ_TIMEOUT_SECONDS", 110.0, minimum=0.1
        ),
        openrouter_site_url=read.optional_http_url("OPENROUTER_SITE_URL"),
        openrouter_app_title=read.optional("OPENROUTER_APP_TITLE"),
        generator_max_concurrency=read.integer(
            "GENERATOR_MAX_CONCURRENCY", 4, minimum=1, maximum=1000
        ),
        session_ttl_hours=read.integer("SESSION_TTL_HOURS", 168, minimum=1, maximum=24 * 365),
        session_cookie=read.cookie_name("SESSION_COOKIE", "picpaygo_session"),
        session_cookie_secure=read.boolean("SESSION_COOKIE_SECURE", production),
        default_free_credits=read.integer("DEFAULT_FREE_CREDITS", 3, minimum=0, maximum=1000),
        cors_origins=read.csv("CORS_ORIGINS"),
        trusted_proxies=read.networks("TRUSTED_PROXIES"),
        job_workers=read.integer("JOB_WORKERS", 2, minimum=0, maximum=256),
        job_timeout_seconds=read.number("JOB_TIMEOUT_SECONDS", 120.0, minimum=1.0),
        job_deadline_seconds=read.number("JOB_DEADLINE_SECONDS", 900.0, minimum=1.0),
        job_max_attempts=read.integer("JOB_MAX_ATTEMPTS", 3, minimum=1, maximum=20),
        job_lease_seconds=read.number("JOB_LEASE_SECONDS", 60.0, minimum=3.0),
        job_poll_seconds=read.number("JOB_POLL_SECONDS", 2.0, minimum=0.05),
        job_retry_base_seconds=read.number("JOB_RETRY_BASE_SECONDS", 2.0, minimum=0.0),
        job_retry_max_seconds=read.number("JOB_RETRY_MAX_SECONDS", 300.0, minimum=0.0),
        max_upload_bytes=read.integer(
            "MAX_UPLOAD_BYTES", 10 * MEGABYTE, minimum=1024, maximum=200 * MEGABYTE
        ),
        max_image_pixels=read.integer("MAX_IMAGE_PIXELS", 50_000_000, minimum=1, maximum=10**9),
        output_retention_hours=read.integer(
            "OUTPUT_RETENTION_HOURS", 168, minimum=1, maximum=24 * 3650
        ),
        auth_attempts_per_minute=read.integer(
            "AUTH_ATTEMPTS_PER_MINUTE", 20, minimum=0, maximum=1_000_000
        ),
        payments_mode=read.choice(
            "PAYMENTS_MODE", PAYMENTS_MODES, "disabled" if production else "instant"
        ),
        credit_pack_prices=read.pack_prices("CREDIT_PACK_PRICES", DEFAULT_PACK_PRICES),
        payments_currency=read.currency("PAYMENTS_CURRENCY", "usd"),
    )
    problems = [*read.problems, *_unsupported(settings)]
    if production:
        problems.extend(_production_problems(settings))
    if problems:
        raise SettingsError("\n".join(problems))
    return settings


def _unsupported(settings: Settings) -> list[str]:
    problems = []
    if "*" in settings.cors_origins:
        problems.append(
            "CORS_ORIGINS cannot be '*': the API uses session cookies, so list the origins"
        )
    if settings.job_deadline_seconds < settings.job_timeout_seconds:
        problems.append(
            "JOB_DEADLINE_SECONDS must be at least JOB_TIMEOUT_SECONDS, got "
            f"{settings.job_deadline_seconds:g} < {settings.job_timeout_seconds:g}"
        )
    if settings.job_retry_max_seconds < settings.job_retry_base_seconds:
        problems.append(
            "JOB_RETRY_MAX_SECONDS must be at least JOB_RETRY_BASE_SECONDS, got "
            f"{settings.job_retry_max_seconds:g} < {settings.job_retry_base_seconds:g}"
        )
    return problems


def _production_problems(settings: Settings) -> list[str]:
    """Every production requirement ``settings`` misses, one sentence each."""
    problems = []
    if not settings.database_url:
        problems.append("DATABASE_URL is required when PICPAYGO_ENV=production")
    if not settings.openrouter_api_key:
        problems.append("OPENROUTER_API_KEY is required when PICPAYGO_ENV=production")
    if not settings.session_cookie_secure:
        problems.append("SESSION_COOKIE_SECURE must be true when PICPAYGO_ENV=production")
    if settings.payments_mode == "instant":
        problems.append(
            "PAYMENTS_MODE=instant gives credits away and is refused when PICPAYGO_ENV=production"
        )
    return problems


class _Reader:
    """Parses variables; each malformed one adds a line to ``problems`` and reads as its
    default, so every problem is reported at once."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.problems: list[str] = []

    def optional(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def _parse(
        self,
        name: str,
        default: T,
        parse: Callable[[str], T],
        wants: str,
        *,
        secret: bool = False,
    ) -> T:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError:
            self.problems.append(f"{name} must be {wants}, got {_shown(raw, secret=secret)}")
            return default

    def integer(self, name: str, default: int, *, minimum: int, maximum: int) -> int:
        def parse(raw: str) -> int:
            value = int(raw)
            if not minimum <= value <= maximum:
                raise ValueError
            return value

        return self._parse(name, default, parse, f"a whole number from {minimum} to {maximum}")

    def number(self, name: str, default: float, *, minimum: float) -> float:
        def parse(raw: str) -> float:
            value = float(raw)
            if not value >= minimum or value == float("inf"):
                raise ValueError
            return value

        return self._parse(name, default, parse, f"a number of at least {minimum:g}")

    def boolean(self, name: str, default: bool) -> bool:
        def parse(raw: str) -> bool:
            lowered = raw.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError

        return self._parse(name, default, parse, "true or false")

    def choice(self, name: str, options: tuple[T, ...], default: T, *, upper: bool = False) -> T:
        def parse(raw: str) -> T:
            wanted = raw.upper() if upper else raw.lower()
            for option in options:
                if option == wanted:
                    return option
            raise ValueError

        return self._parse(name, default, parse, "one of " + ", ".join(map(str, options)))

    def csv(self, name: str) -> tuple[str, ...]:
        raw = self.optional(name) or ""
        return tuple(part.strip() for part in raw.split(",") if part.strip())

    def networks(self, name: str) -> tuple[Network, ...]:
        def parse(raw: str) -> tuple[Network, ...]:
            return tuple(
                ipaddress.ip_network(part.strip(), strict=False)
                for part in raw.split(",")
                if part.strip()
            )

        return self._parse(name, (), parse, "comma-separated IP networks such as 10.0.0.0/8,::1")

    def database_url(self, name: str) -> str | None:
        def parse(raw: str) -> str | None:
            if not raw.startswith(("postgresql://", "postgres://")):
                raise ValueError
            return raw

        return self._parse(name, None, parse, "a postgresql:// URL", secret=True)

    def http_url(self, name: str, default: str) -> str:
        def parse(raw: str) -> str:
            if not raw.startswith(("http://", "https://")):
                raise ValueError
            return raw.rstrip("/")

        return self._parse(name, default, parse, "an http:// or https:// URL")

    def optional_http_url(self, name: str) -> str | None:
        if self.optional(name) is None:
            return None
        return self.http_url(name, "")

    def pack_prices(
        self, name: str, default: tuple[tuple[int, int], ...]
    ) -> tuple[tuple[int, int], ...]:
        """``pack:price`` pairs, one for each of the packs 5, 10 and 20, in minor units."""

        def parse(raw: str) -> tuple[tuple[int, int], ...]:
            prices: dict[int, int] = {}
            for part in raw.split(","):
                pack, sep, price = part.strip().partition(":")
                if not sep or int(pack) in prices or int(price) < 1 or int(price) > 10**9:
                    raise ValueError
                prices[int(pack)] = int(price)
            if sorted(prices) != sorted(CREDIT_PACKS):
                raise ValueError
            return tuple(sorted(prices.items()))

        return self._parse(
            name, default, parse, "a price in minor units for each pack, like 5:500,10:900,20:1600"
        )

    def currency(self, name: str, default: str) -> str:
        def parse(raw: str) -> str:
            if len(raw) != 3 or not raw.isascii() or not raw.isalpha():
                raise ValueError
            return raw.lower()

        return self._parse(name, default, parse, "a three-letter ISO currency code such as usd")

    def cookie_name(self, name: str, default: str) -> str:
        def parse(raw: str) -> str:
            if not raw.replace("_", "").replace("-", "").isalnum() or not raw.isascii():
                raise ValueError
            return raw

        return self._parse(name, default, parse, "letters, digits, '-' and '_' only")


def _shown(raw: str, *, secret: bool) -> str:
    """How a refused value appears in the error: masked URL passwords, and of a value that
    may hold a secret (the database URL) only its scheme."""
    if not secret:
        return repr(redact(raw))
    scheme, separator, _ = raw.partition("://")
    if separator and scheme.replace("+", "").isalnum():
        return f"a {scheme}:// URL"
    return "a value that is not a URL (not shown: it may hold a password)"
