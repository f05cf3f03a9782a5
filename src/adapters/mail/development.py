"""The development outbox: each mail written as an ``.eml`` file (or kept in memory),
its links logged, so a developer can follow them without any mail server."""

from __future__ import annotations

import asyncio
import logging
import re
from email.message import EmailMessage
from pathlib import Path

from adapters.mail.message import mime_message
from picpaygo_core.errors import MailDeliveryFailed
from picpaygo_core.models import OutgoingMail

logger = logging.getLogger("picpaygo.mail")

_LINK = re.compile(r"https?://\S+")


class DevelopmentMailer:
    """Writes mails to ``directory`` (``<time>-<id>.eml``), or keeps them in ``messages``
    when ``directory`` is None; logs each mail's recipient, subject and links."""

    def __init__(self, directory: Path | None, sender: str) -> None:
        self._directory = directory
        self._sender = sender
        self.messages: list[EmailMessage] = []

    @property
    def description(self) -> str:
        if self._directory is None:
            return "the development outbox in memory (no mail leaves this process)"
        return f"the development outbox in {self._directory} (.eml files; no mail is sent)"

    async def send(self, mail: OutgoingMail) -> None:
        message = mime_message(mail, self._sender)
        if self._directory is None:
            self.messages.append(message)
            where = "kept in memory"
        else:
            path = self._directory / f"{mail.created_at:%Y%m%dT%H%M%S}-{mail.id.hex}.eml"
            try:
                await asyncio.to_thread(_write, path, message.as_bytes())
            except OSError as exc:  # a full disk, a folder not writable: try again later
                raise MailDeliveryFailed(
                    f"the mail could not be written to {path} ({exc.strerror or exc})",
                    transient=True,
                ) from None
            where = f"written to {path}"
        links = " ".join(_LINK.findall(mail.text)) or "no links"
        logger.info(
            "development mail to %s (%s) %s: %s", mail.recipient, mail.subject, where, links
        )


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
