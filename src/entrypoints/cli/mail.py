"""``picpaygo mail``: what the outbox holds, and a test mail through the mail settings."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import click

from entrypoints.cli.context import CliContext, fail
from entrypoints.cli.output import TEXT, emit, json_option, pass_context
from picpaygo_core.errors import DomainError
from picpaygo_core.models import OutgoingMail
from picpaygo_core.ports import Mailer
from picpaygo_core.services.account_links import new_mail
from picpaygo_core.services.account_mail import trial_mail
from picpaygo_core.services.outbox import MailSender
from picpaygo_core.validation import normalise_email


@click.group()
def mail() -> None:
    """Look at the mail outbox and check the mail settings."""


@mail.command("outbox")
@click.option("--limit", type=click.IntRange(1, 10000), default=100, show_default=True)
@json_option
@pass_context
def mail_outbox(context: CliContext, limit: int, as_json: bool) -> None:
    """List queued and failed mails, oldest first (never their bodies: they hold links)."""
    sender: MailSender = context.shared("mail outbox").mail_sender()
    found = context.run(lambda: sender.pending(limit))
    emit(
        as_json,
        [_payload(m) for m in found],
        "\n".join(_line(m) for m in found) or "no queued or failed mail",
    )


@mail.command("test")
@click.argument("email", type=TEXT)
@json_option
@pass_context
def mail_test(context: CliContext, email: str, as_json: bool) -> None:
    """Send a test mail to EMAIL now, through MAIL_URL (not through the outbox)."""
    mailer: Mailer = context.container.mailer()
    try:
        recipient = normalise_email(email)
        message = new_mail(recipient, trial_mail(), user_id=None, now=datetime.now(UTC))
        asyncio.run(mailer.send(message))
    except DomainError as exc:
        fail(exc.message)
    emit(
        as_json,
        {"recipient": recipient, "sent": True, "transport": mailer.description},
        f"sent a test mail to {recipient} through {mailer.description}",
    )


def _payload(mail: OutgoingMail) -> dict[str, object]:
    return {
        "id": str(mail.id),
        "recipient": mail.recipient,
        "subject": mail.subject,
        "status": mail.status.value,
        "attempts": mail.attempts,
        "createdAt": mail.created_at,
        "nextAttemptAt": mail.next_attempt_at,
        "lastError": mail.last_error,
    }


def _line(mail: OutgoingMail) -> str:
    error = f": {mail.last_error}" if mail.last_error else ""
    return (
        f"{mail.created_at:%Y-%m-%d %H:%M:%S} {mail.id} {mail.status.value} to "
        f"{mail.recipient} ({mail.subject}), {mail.attempts} attempt(s){error}"
    )
