"""Reading mailed links: from the development mailer's memory, or from mails received."""

from __future__ import annotations

import re
from email.message import EmailMessage, Message

from adapters.mail import DevelopmentMailer
from entrypoints.container import Container
from picpaygo_core.services.outbox import MailSender

LINK = re.compile(r"https?://[^\s\"<>]+\?(verify|reset)=([A-Za-z0-9_-]+)")


def text_of(message: Message) -> str:
    """The plain text part of ``message``."""
    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def html_of(message: Message) -> str:
    """The HTML part of ``message``."""
    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def tokens_in(text: str, kind: str) -> list[str]:
    """Every ``?<kind>=`` token of the links in ``text``, in order."""
    return [token for found, token in LINK.findall(text) if found == kind]


async def deliver(container: Container) -> list[EmailMessage]:
    """Send every due mail with the container's (development, in-memory) mailer; every
    message it holds so far."""
    sender: MailSender = container.mail_sender()
    await sender.send_due()
    mailer = container.mailer()
    assert isinstance(mailer, DevelopmentMailer)
    return mailer.messages


async def mailed_token(container: Container, kind: str, recipient: str | None = None) -> str:
    """The token of the newest ``kind`` link (``verify`` or ``reset``) mailed so far."""
    for message in reversed(await deliver(container)):
        if recipient is not None and message["To"] != recipient:
            continue
        found = tokens_in(text_of(message), kind)
        if found:
            return found[-1]
    raise AssertionError(f"no {kind} link was mailed")
