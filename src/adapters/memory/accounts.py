"""In-memory tokens of mailed links, the mail outbox and account records."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from adapters.memory.store import MemoryRepository
from picpaygo_core.models import AccountEvent, AccountToken, MailStatus, OutgoingMail, TokenPurpose


class MemoryAccountTokenRepository(MemoryRepository):
    """Tokens keyed by their hash."""

    async def add(self, token: AccountToken) -> None:
        self._journal.put(self._store.account_tokens, token.token_hash, token)

    async def find(self, token_hash: str) -> AccountToken | None:
        return self._store.account_tokens.get(token_hash)

    async def use(self, token_hash: str, now: datetime) -> bool:
        token = self._store.account_tokens.get(token_hash)
        if token is None or token.used_at is not None:
            return False
        used = msgspec.structs.replace(token, used_at=now)
        self._journal.put(self._store.account_tokens, token_hash, used)
        return True

    async def void(self, user_id: UUID, purpose: TokenPurpose, now: datetime) -> int:
        voided = 0
        for token in list(self._store.account_tokens.values()):
            if _theirs(token, user_id, purpose):
                voided += await self.use(token.token_hash, now)
        return voided

    async def usable_count(self, user_id: UUID, purpose: TokenPurpose, now: datetime) -> int:
        return sum(
            1
            for token in self._store.account_tokens.values()
            if _theirs(token, user_id, purpose) and token.usable(now)
        )


def _theirs(token: AccountToken, user_id: UUID, purpose: TokenPurpose) -> bool:
    return token.user_id == user_id and token.purpose is purpose


class MemoryMailOutboxRepository(MemoryRepository):
    """Mails in the order they were queued."""

    async def add(self, mail: OutgoingMail) -> None:
        self._journal.put(self._store.outbox, mail.id, mail)

    async def claim(self, now: datetime, lease_until: datetime) -> OutgoingMail | None:
        due = [
            mail
            for mail in self._store.outbox.values()
            if mail.status is MailStatus.QUEUED and mail.next_attempt_at <= now
        ]
        if not due:
            return None
        mail = min(due, key=lambda m: (m.next_attempt_at, m.created_at))
        claimed = msgspec.structs.replace(
            mail, attempts=mail.attempts + 1, next_attempt_at=lease_until
        )
        self._journal.put(self._store.outbox, mail.id, claimed)
        return claimed

    async def sent(self, mail_id: UUID, now: datetime) -> None:
        self._change(mail_id, status=MailStatus.SENT, sent_at=now, recipient="", text="", html="")

    async def retry_at(self, mail_id: UUID, when: datetime, error: str) -> None:
        self._change(mail_id, next_attempt_at=when, last_error=error)

    async def failed(self, mail_id: UUID, error: str) -> None:
        self._change(mail_id, status=MailStatus.FAILED, last_error=error, text="", html="")

    async def listed(self, statuses: frozenset[MailStatus], limit: int) -> list[OutgoingMail]:
        found = [mail for mail in self._store.outbox.values() if mail.status in statuses]
        return sorted(found, key=lambda m: m.created_at)[:limit]

    async def delete_for_user(self, user_id: UUID) -> int:
        theirs = [mail.id for mail in self._store.outbox.values() if mail.user_id == user_id]
        for mail_id in theirs:
            self._journal.pop(self._store.outbox, mail_id)
        return len(theirs)

    async def purge_sent_before(self, cutoff: datetime) -> int:
        old = [
            mail.id
            for mail in self._store.outbox.values()
            if mail.status is not MailStatus.QUEUED
            and (mail.sent_at or mail.next_attempt_at) < cutoff
        ]
        for mail_id in old:
            self._journal.pop(self._store.outbox, mail_id)
        return len(old)

    def _change(self, mail_id: UUID, **changes: object) -> None:
        mail = self._store.outbox.get(mail_id)
        if mail is not None:
            self._journal.put(self._store.outbox, mail_id, msgspec.structs.replace(mail, **changes))


class MemoryAccountEventRepository(MemoryRepository):
    """Records, numbered in the order they were made."""

    async def add(self, event: AccountEvent) -> None:
        number = max(self._store.account_events, default=0) + 1
        self._journal.put(self._store.account_events, number, event)

    async def delete_for_user(self, user_id: UUID) -> int:
        theirs = [n for n, e in self._store.account_events.items() if e.user_id == user_id]
        for number in theirs:
            self._journal.pop(self._store.account_events, number)
        return len(theirs)
