"""An outbox mail as an internet message: text and HTML parts, From, Message-ID, Date."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from picpaygo_core.models import OutgoingMail


def mime_message(mail: OutgoingMail, sender: str) -> EmailMessage:
    """``mail`` from ``sender`` (``MAIL_FROM``), dated when it was queued."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.recipient
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(mail.created_at)
    _, address = parseaddr(sender)
    domain = address.rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(idstring=mail.id.hex, domain=domain)
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    return message
