"""Reading the settings from the environment: msgspec converts and checks each variable.

A variable's text is first put in the shape its field wants (a comma-separated list as a
list, ``5:500,10:900`` as a mapping, ``yes``/``no`` as a flag, a choice in any letter
case), then ``msgspec.convert`` turns it into the field's type and checks its
constraints. Each variable is tried on its own, so every refused one is reported, one
line each, and is left at its default while the rest are checked.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from msgspec import inspect

from entrypoints.logs import redact
from entrypoints.settings import rules
from entrypoints.settings.sections import (
    DatabaseSettings,
    GoogleSettings,
    JobSettings,
    MailSettings,
    Networks,
    OpenRouterSettings,
    PaymentSettings,
    PictureSettings,
    PolicySettings,
    Profile,
    ServerSettings,
    SessionSettings,
    Settings,
    variable,
)

S = TypeVar("S", bound=msgspec.Struct)

# The concerns, by their attribute on ``Settings``.
SECTIONS: dict[str, type[msgspec.Struct]] = {
    "server": ServerSettings,
    "database": DatabaseSettings,
    "sessions": SessionSettings,
    "google": GoogleSettings,
    "jobs": JobSettings,
    "openrouter": OpenRouterSettings,
    "payments": PaymentSettings,
    "mail": MailSettings,
    "pictures": PictureSettings,
}
# Where the production profile wants another default than development.
PRODUCTION_DEFAULTS = {"LOG_FORMAT": "json", "SESSION_COOKIE_SECURE": "true"}
# Variables whose values are never shown, and are masked in the logs.
SECRETS = frozenset(
    {
        "DATABASE_URL",
        "OPENROUTER_API_KEY",
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "MAIL_URL",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    }
)
FLAGS = {"yes": "true", "on": "true", "no": "false", "off": "false"}


class SettingsError(Exception):
    """Settings are missing or malformed; one line per problem, each naming its variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class ProfileSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Which profile's defaults and checks apply."""

    env: Profile = variable("PICPAYGO_ENV", "development")


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Read and check every setting from ``environ`` (usually ``os.environ``).

    Raises ``SettingsError`` naming every refused variable, one line each.
    """
    reader = _Reader(environ)
    env = reader.section(ProfileSettings).env
    production = env == "production"
    defaults = PRODUCTION_DEFAULTS if production else {}
    sections: dict[str, Any] = {
        name: reader.section(cls, defaults) for name, cls in SECTIONS.items()
    }
    policy = reader.section(PolicySettings).policy()
    settings = Settings(env=env, policy=policy, **sections)
    problems = [*reader.problems, *rules.unsupported(settings)]
    if production:
        payments_chosen = bool(environ.get("PAYMENTS_MODE", "").strip())
        problems += rules.missing_for_production(settings, payments_chosen=payments_chosen)
        problems += rules.missing_mail_for_production(environ)
    problems += rules.missing_for_stripe(settings)
    if problems:
        raise SettingsError(problems)
    return settings


class _Reader:
    """Reads the variables of one section at a time, keeping one line per refused value."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.problems: list[str] = []

    def section(self, cls: type[S], defaults: Mapping[str, str] | None = None) -> S:
        """An instance of ``cls``: its variables that are set and well-formed, the rest at
        their defaults (``defaults`` first, as text, then the field's own)."""
        accepted: dict[str, Any] = {}
        for field in _variables(cls):
            name = field.encode_name
            raw = self._environ.get(name, "").strip() or (defaults or {}).get(name, "")
            if not raw:
                continue
            try:
                value = _shaped(field.type, raw)
                _convert(cls, {name: value})
            except ValueError:  # msgspec.ValidationError is one
                self.problems.append(_refusal(field, raw))
            else:
                accepted[name] = value
        return _convert(cls, accepted)


def _variables(cls: type[msgspec.Struct]) -> list[inspect.Field]:
    """The fields of ``cls`` read from the environment (named after their variable)."""
    info = inspect.type_info(cls)
    assert isinstance(info, inspect.StructType)
    return [field for field in info.fields if field.encode_name != field.name]


def _convert(cls: type[S], values: dict[str, Any]) -> S:
    return msgspec.convert(values, cls, strict=False, dec_hook=_decoded)


def _decoded(kind: type, value: Any) -> Any:
    """The types msgspec does not know: IP networks and paths, from their text."""
    if kind is Networks:
        return Networks.parse(value)
    if kind is Path:
        return Path(value)
    raise NotImplementedError(kind)


def _required(kind: inspect.Type) -> inspect.Type:
    """``kind`` without ``| None``."""
    if isinstance(kind, inspect.UnionType):
        return next(k for k in kind.types if not isinstance(k, inspect.NoneType))
    return kind


def _bare(kind: inspect.Type) -> inspect.Type:
    """``kind`` without its constraints and without ``| None``."""
    kind = _required(kind)
    return kind.type if isinstance(kind, inspect.Metadata) else kind


def _shaped(kind: inspect.Type, raw: str) -> object:
    """``raw`` in the shape msgspec converts to ``kind`` (``ValueError`` if it has none)."""
    bare = _bare(kind)
    if isinstance(bare, inspect.BoolType):
        return FLAGS.get(raw.lower(), raw)
    if isinstance(bare, inspect.LiteralType):
        return next((v for v in bare.values if str(v).lower() == raw.lower()), raw)
    if isinstance(bare, inspect.VarTupleType):
        return [part.strip() for part in raw.split(",") if part.strip()]
    if isinstance(bare, inspect.DictType):
        pairs = [part.strip().partition(":") for part in raw.split(",")]
        shaped = {key.strip(): value.strip() for key, _, value in pairs}
        if any(not sep for _, sep, _ in pairs) or len(shaped) != len(pairs):
            raise ValueError(raw)
        return shaped
    return raw


def _refusal(field: inspect.Field, raw: str) -> str:
    """The one line that says the variable of ``field`` refused ``raw``."""
    return f"{field.encode_name} must be {_wants(field.type)}, got {_shown(field.encode_name, raw)}"


def _wants(kind: inspect.Type) -> str:
    """What a refused value should have been: the description of its constraints."""
    kind = _required(kind)
    if isinstance(kind, inspect.Metadata) and kind.extra_json_schema:
        return str(kind.extra_json_schema["description"])
    if isinstance(kind, inspect.LiteralType):
        return "one of " + ", ".join(map(str, kind.values))
    return "true or false"


def _shown(name: str, raw: str) -> str:
    """How a refused value appears in the error: with URL passwords masked, and of a
    secret variable only its URL scheme."""
    if name not in SECRETS:
        return repr(redact(raw))
    scheme, separator, _ = raw.partition("://")
    if separator and scheme.replace("+", "").isalnum():
        return f"a {scheme}:// URL"
    return "a value that is not a URL (not shown: it may hold a password)"


def secret_values(settings: Settings) -> list[str]:
    """The values of the secret settings, to mask in logs (of a URL, its password)."""
    values = []
    for attribute, cls in SECTIONS.items():
        section = getattr(settings, attribute)
        for field in _variables(cls):
            value = getattr(section, field.name)
            if field.encode_name not in SECRETS or not isinstance(value, str):
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
