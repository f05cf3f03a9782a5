"""Sending mail over SMTP with aiosmtplib.

``smtp://[user:password@]host[:port]`` (port 587 by default) upgrades to TLS with
STARTTLS whenever the server offers it; ``smtps://`` (port 465 by default) speaks TLS
from the first byte. A 4xx answer and any connection trouble are transient (the outbox
tries again later); a 5xx answer is final.
"""

from __future__ import annotations

import urllib.parse

import aiosmtplib
import msgspec

from adapters.mail.message import mime_message
from picpaygo_core.errors import MailDeliveryFailed
from picpaygo_core.models import OutgoingMail

DEFAULT_PORTS = {"smtp": 587, "smtps": 465}
TIMEOUT_SECONDS = 30.0


class SmtpTarget(msgspec.Struct, frozen=True, kw_only=True):
    """Where ``MAIL_URL`` says to send: host, port, TLS from the start, credentials."""

    host: str
    port: int
    implicit_tls: bool
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        """The target of an ``smtp://`` or ``smtps://`` URL (``ValueError`` otherwise)."""
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError("not an smtp:// or smtps:// URL with a host")
        port = parts.port  # ValueError past 65535
        if port == 0:
            raise ValueError("port 0 names no server")
        return cls(
            host=parts.hostname,
            port=DEFAULT_PORTS[scheme] if port is None else port,
            implicit_tls=scheme == "smtps",
            username=urllib.parse.unquote(parts.username) if parts.username else None,
            password=urllib.parse.unquote(parts.password) if parts.password else None,
        )


class SmtpMailer:
    """One SMTP connection per mail: the outbox sends few, and a connection kept open
    would only go stale between them."""

    def __init__(self, target: SmtpTarget, sender: str) -> None:
        self._target = target
        self._sender = sender

    @property
    def description(self) -> str:
        tls = "TLS" if self._target.implicit_tls else "STARTTLS when offered"
        return f"SMTP at {self._target.host}:{self._target.port} ({tls})"

    async def send(self, mail: OutgoingMail) -> None:
        target = self._target
        try:
            await aiosmtplib.send(
                mime_message(mail, self._sender),
                hostname=target.host,
                port=target.port,
                username=target.username,
                password=target.password,
                use_tls=target.implicit_tls,
                start_tls=False if target.implicit_tls else None,
                timeout=TIMEOUT_SECONDS,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            raise MailDeliveryFailed(
                f"the SMTP server refused the recipient ({', '.join(map(str, codes))})",
                transient=all(400 <= code < 500 for code in codes),
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise MailDeliveryFailed(
                f"the SMTP server answered {exc.code}: {_one_line(exc.message)}",
                transient=not 500 <= exc.code < 600,
            ) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            reason = f"{type(exc).__name__}: {_one_line(str(exc))}"
            raise MailDeliveryFailed(
                f"the SMTP server could not be reached ({reason})",
                transient=True,
            ) from None


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
