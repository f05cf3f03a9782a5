"""The process's log lines: one format (``LOG_FORMAT`` text or json), one handler, on stderr.

Every line carries the request id of the request it was written for (a context
variable set by the HTTP access middleware), and secrets are masked before a line is
written: the values registered with ``register_secret`` and the password part of any
URL. Structured values go in ``extra={"fields": {...}}``; the text format appends them
as ``key=value``, the json format as keys of the line's object.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "picpaygo_request_id", default=None
)

# user:password@ in URLs such as postgresql://app:s3cret@db/app.
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://[^/:@\s]*):[^@\s/]*@")
_MASK = "***"
_MIN_SECRET_LENGTH = 4
_secrets: set[str] = set()

# The HTTP server (Granian) logs as ``_granian``, the name of its Rust module; its lines
# are shown as ``granian``.
_SERVER_LOGGER = "_granian"
_SERVER_ACCESS_LOGGER = "granian.access"
# Granian's own logging set-up (it applies it in each of its processes): its lines go to
# the root logger, and so through the one handler below, in LOG_FORMAT.
SERVER_LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {
        _SERVER_LOGGER: {"handlers": [], "propagate": True},
        _SERVER_ACCESS_LOGGER: {"handlers": [], "propagate": True},
    },
}

# Loggers whose routine INFO lines say nothing an operator needs.
_QUIET_LOGGERS = ("httpx", "httpcore", "stripe")
# psycopg_pool reports every failed connection attempt as a multi-line warning; the
# service reports the outage itself, once.
_POOL_LOGGERS = ("psycopg.pool",)


def register_secret(value: str | None) -> None:
    """Mask ``value`` wherever it appears in a log line from now on."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        _secrets.add(value)


def redact(text: str) -> str:
    """``text`` with URL passwords and registered secrets replaced by ``***``."""
    text = _URL_PASSWORD.sub(rf"\g<scheme>:{_MASK}@", text)
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, _MASK)
    return text


def _logger_name(record: logging.LogRecord) -> str:
    name = record.name
    return name[1:] if name.startswith(_SERVER_LOGGER) else name


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


class TextFormatter(logging.Formatter):
    """``2026-01-01T12:00:00.000Z INFO name: message key=value ... request_id=...``."""

    def format(self, record: logging.LogRecord) -> str:
        name = _logger_name(record)
        parts = [_timestamp(record), record.levelname, f"{name}:", record.getMessage()]
        fields = _fields(record)
        request_id = request_id_var.get()
        if request_id and "request_id" not in fields:
            fields["request_id"] = request_id
        parts.extend(f"{key}={value}" for key, value in fields.items())
        line = " ".join(parts)
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return redact(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message``, the fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": _logger_name(record),
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            line["request_id"] = request_id
        line.update(_fields(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(line, default=str, ensure_ascii=False))


def formatter_for(log_format: LogFormat) -> logging.Formatter:
    """The formatter of ``LOG_FORMAT``."""
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure_logging(
    level: str, log_format: LogFormat, secrets: Iterable[str | None] = ()
) -> None:
    """Send every log record to stderr in ``log_format`` at ``level``; idempotent.

    Replaces the root logger's handlers (so each line is written once, whoever set up
    logging before), quietens chatty libraries and masks ``secrets``.
    """
    for secret in secrets:
        register_secret(secret)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter_for(log_format))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in (_SERVER_LOGGER, _SERVER_ACCESS_LOGGER):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    numeric_level = logging.getLevelName(level)
    quiet = max(logging.WARNING, numeric_level if isinstance(numeric_level, int) else 0)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
    for name in _POOL_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
