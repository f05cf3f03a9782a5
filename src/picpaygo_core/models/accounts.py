"""Accounts people can keep: links mailed to them, the mail outbox, what an export holds."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import msgspec

from picpaygo_core.models.credits import LedgerEntry
from picpaygo_core.models.images import Picture
from picpaygo_core.models.jobs import Job
from picpaygo_core.models.payments import Purchase
from picpaygo_core.models.users import User


class TokenPurpose(enum.StrEnum):
    """What a mailed link may do: nothing else."""

    VERIFY = "verify"
    RESET = "reset"


class AccountToken(msgspec.Struct, frozen=True, kw_only=True):
    """A link's secret as stored: only its hash, bound to a purpose, a user and an email."""

    token_hash: str
    purpose: TokenPurpose
    user_id: UUID
    email: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        """Not used yet and not expired at ``now``."""
        return self.used_at is None and now < self.expires_at


class MailStatus(enum.StrEnum):
    """Where a mail of the outbox is: waiting (maybe after failed tries), sent, given up."""

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class OutgoingMail(msgspec.Struct, frozen=True, kw_only=True):
    """A mail in the outbox: written with the change it tells of, sent by a worker later.

    ``user_id`` ties it to an account (its mails go when the account is erased); the
    recipient and bodies are emptied once it is sent, so no link outlives its delivery
    in the database, nor the address of an erased account its confirmation mail.
    """

    id: UUID
    recipient: str
    subject: str
    text: str
    html: str
    user_id: UUID | None
    status: MailStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_error: str | None = None
    sent_at: datetime | None = None


class AccountEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Something done to an account that is kept on record (never with a password)."""

    user_id: UUID | None
    kind: str
    client_network: str | None
    created_at: datetime


class ExportedPicture(msgspec.Struct, frozen=True, kw_only=True):
    """A generated picture still kept, with the job it belongs to."""

    job_id: UUID
    picture: Picture


class AccountExport(msgspec.Struct, frozen=True, kw_only=True):
    """Everything held about one person."""

    user: User
    balance: int
    ledger: list[LedgerEntry]
    purchases: list[Purchase]
    jobs: list[Job]
    pictures: list[ExportedPicture]
    exported_at: datetime
