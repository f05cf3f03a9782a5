"""Storage ports of accounts people keep: mailed links' tokens, the mail outbox, records."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from picpaygo_core.models import AccountEvent, AccountToken, MailStatus, OutgoingMail, TokenPurpose


class AccountTokenRepository(Protocol):
    """Tokens of mailed links, stored by hash."""

    async def add(self, token: AccountToken) -> None: ...

    async def find(self, token_hash: str) -> AccountToken | None: ...

    async def use(self, token_hash: str, now: datetime) -> bool:
        """Mark the token used, unless it already was; True when this call used it
        (concurrent uses of one token: exactly one gets True)."""
        ...

    async def void(self, user_id: UUID, purpose: TokenPurpose, now: datetime) -> int:
        """Mark every unused token of ``user_id`` for ``purpose`` used; returns how many."""
        ...

    async def usable_count(self, user_id: UUID, purpose: TokenPurpose, now: datetime) -> int:
        """How many tokens of ``user_id`` for ``purpose`` are unused and unexpired."""
        ...


class MailOutboxRepository(Protocol):
    """Mails waiting to be sent, and what became of them."""

    async def add(self, mail: OutgoingMail) -> None: ...

    async def claim(self, now: datetime, lease_until: datetime) -> OutgoingMail | None:
        """Take the oldest queued mail that is due, atomically on its own: its attempt
        counted and its next attempt put off to ``lease_until`` (so a worker that dies
        leaves it to another one then). Two workers never get the same mail at once."""
        ...

    async def sent(self, mail_id: UUID, now: datetime) -> None:
        """Mark a mail sent and forget its recipient and bodies."""
        ...

    async def retry_at(self, mail_id: UUID, when: datetime, error: str) -> None:
        """Leave a mail queued for another try at ``when``."""
        ...

    async def failed(self, mail_id: UUID, error: str) -> None:
        """Give a mail up, with its bodies forgotten."""
        ...

    async def listed(self, statuses: frozenset[MailStatus], limit: int) -> list[OutgoingMail]:
        """Up to ``limit`` mails in ``statuses``, oldest first."""
        ...

    async def delete_for_user(self, user_id: UUID) -> int:
        """Forget every mail of an account; returns how many went."""
        ...

    async def purge_sent_before(self, cutoff: datetime) -> int:
        """Forget mails sent or given up before ``cutoff``; returns how many went."""
        ...


class AccountEventRepository(Protocol):
    """What was done to accounts (password resets and changes, reset requests)."""

    async def add(self, event: AccountEvent) -> None: ...

    async def delete_for_user(self, user_id: UUID) -> int:
        """Forget the records of an account; returns how many went."""
        ...
