"""The mails the service sends: a plain text part and an HTML part, no tracking."""

from __future__ import annotations

import html
from datetime import timedelta

import msgspec

PRODUCT = "PicPayGo"


class MailContent(msgspec.Struct, frozen=True, kw_only=True):
    """What a mail says."""

    subject: str
    text: str
    html: str


def link_to(public_url: str, parameter: str, token: str) -> str:
    """The address a mailed link opens: ``{PUBLIC_URL}/?<parameter>=<token>``."""
    return f"{public_url.rstrip('/')}/?{parameter}={token}"


def verification_mail(link: str, ttl: timedelta) -> MailContent:
    """Confirm that this address is yours."""
    hours = int(ttl.total_seconds() // 3600)
    return _mail(
        subject=f"Confirm your email address for {PRODUCT}",
        lines=[
            f"Please confirm that this is your email address for {PRODUCT} by opening this link:",
        ],
        link=link,
        button="Confirm my email address",
        after=[
            f"The link works once and for {hours} hours.",
            "If you did not create an account, you can ignore this mail.",
        ],
    )


def reset_mail(link: str, ttl: timedelta) -> MailContent:
    """Choose a new password."""
    minutes = int(ttl.total_seconds() // 60)
    return _mail(
        subject=f"Reset your {PRODUCT} password",
        lines=["Someone (we hope you) asked to reset the password of your account."],
        link=link,
        button="Choose a new password",
        after=[
            f"The link works once and for {minutes} minutes; asking again voids it.",
            "If you did not ask, ignore this mail: your password stays as it is.",
        ],
    )


def deletion_mail() -> MailContent:
    """The account is gone."""
    return _mail(
        subject=f"Your {PRODUCT} account was deleted",
        lines=[
            f"Your {PRODUCT} account has been deleted, as asked: your email address, "
            "names, password, sessions, photos and pictures are erased.",
            "Unspent paid credits were forfeited with the account. Records of payments are "
            "kept for the books, without your name or email address.",
            "You can sign up again with this address at any time.",
        ],
    )


def trial_mail() -> MailContent:
    """Proof that the mail settings work."""
    return _mail(
        subject=f"{PRODUCT} test mail",
        lines=[f"This mail was sent by `picpaygo mail test`: {PRODUCT} can send mail."],
    )


def _mail(
    *,
    subject: str,
    lines: list[str],
    link: str | None = None,
    button: str = "",
    after: tuple[str, ...] | list[str] = (),
) -> MailContent:
    text_parts = [*lines]
    html_parts = [f"<p>{html.escape(line)}</p>" for line in lines]
    if link is not None:
        text_parts.append(link)
        href = html.escape(link, quote=True)
        html_parts.append(f'<p><a href="{href}">{html.escape(button)}</a></p>')
        html_parts.append(f"<p>Or copy this address into your browser: {html.escape(link)}</p>")
    text_parts += after
    html_parts += [f"<p>{html.escape(line)}</p>" for line in after]
    text = "\n\n".join([*text_parts, f"-- {PRODUCT}"]) + "\n"
    body = "\n".join(html_parts)
    page = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head>\n<body>\n{body}\n"
        f"<p>&mdash; {PRODUCT}</p>\n</body></html>\n"
    )
    return MailContent(subject=subject, text=text, html=page)
