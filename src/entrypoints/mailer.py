"""The mail transport the settings ask for (part of the composition root)."""

from __future__ import annotations

from adapters.mail import DevelopmentMailer, SmtpMailer, SmtpTarget
from entrypoints.settings import MEMORY_URL, Settings
from picpaygo_core.ports import Mailer


def build_mailer(settings: Settings) -> Mailer:
    """The mail transport ``MAIL_URL`` asks for: SMTP, or without it the development
    outbox (``.eml`` files in ``PICPAYGO_DATA_DIR/outbox/``, in memory with ``memory://``)."""
    mail = settings.mail
    if mail.url is not None and mail.url != MEMORY_URL:
        return SmtpMailer(SmtpTarget.parse(mail.url), mail.sender)
    in_memory = mail.url == MEMORY_URL or settings.database.in_memory
    return DevelopmentMailer(
        None if in_memory else settings.database.data_dir / "outbox", mail.sender
    )
