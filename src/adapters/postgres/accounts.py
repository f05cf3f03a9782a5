"""PostgreSQL tokens of mailed links, the mail outbox and account records."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from adapters.postgres.database import Row
from adapters.postgres.rows import PostgresRepository, struct_of
from picpaygo_core.models import AccountEvent, AccountToken, MailStatus, OutgoingMail, TokenPurpose

TOKEN_COLUMNS = "token_hash, purpose, user_id, email, created_at, expires_at, used_at"  # noqa: S105 - column names
MAIL_COLUMNS = (
    "id, recipient, subject, text_body, html_body, user_id, status, attempts, created_at, "
    "next_attempt_at, last_error, sent_at"
)

# The oldest due mail, taken by one worker: a concurrent claim skips the locked row.
_CLAIM_MAIL = f"""
UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = %(lease_until)s
WHERE id = (
    SELECT id FROM mail_outbox
    WHERE status = 'queued' AND next_attempt_at <= %(now)s
    ORDER BY next_attempt_at, seq
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING {MAIL_COLUMNS}
""".encode()


class PostgresAccountTokenRepository(PostgresRepository):
    """Tokens keyed by the SHA-256 of their secret."""

    async def add(self, token: AccountToken) -> None:
        params = {**msgspec.structs.asdict(token), "purpose": str(token.purpose)}
        await self._db.execute(
            b"""
            INSERT INTO account_tokens (token_hash, purpose, user_id, email, created_at,
                                        expires_at, used_at)
            VALUES (%(token_hash)s, %(purpose)s, %(user_id)s, %(email)s, %(created_at)s,
                    %(expires_at)s, %(used_at)s)
            """,
            params,
        )

    async def find(self, token_hash: str) -> AccountToken | None:
        return await self._one(
            AccountToken,
            f"SELECT {TOKEN_COLUMNS} FROM account_tokens WHERE token_hash = %s".encode(),
            (token_hash,),
        )

    async def use(self, token_hash: str, now: datetime) -> bool:
        """One conditional update: of racing uses, the row lock lets one through."""
        row = await self._db.fetch_one(
            b"""
            UPDATE account_tokens SET used_at = %s
            WHERE token_hash = %s AND used_at IS NULL RETURNING 1 AS used
            """,
            (now, token_hash),
            changes=True,
        )
        return row is not None

    async def void(self, user_id: UUID, purpose: TokenPurpose, now: datetime) -> int:
        row = await self._db.fetch_one(
            b"""
            WITH voided AS (
                UPDATE account_tokens SET used_at = %(now)s
                WHERE user_id = %(user_id)s AND purpose = %(purpose)s AND used_at IS NULL
                RETURNING 1
            )
            SELECT count(*) FROM voided
            """,
            {"now": now, "user_id": user_id, "purpose": str(purpose)},
            changes=True,
        )
        return int(row["count"]) if row else 0

    async def usable_count(self, user_id: UUID, purpose: TokenPurpose, now: datetime) -> int:
        row = await self._db.fetch_one(
            b"""
            SELECT count(*) FROM account_tokens
            WHERE user_id = %s AND purpose = %s AND used_at IS NULL AND expires_at > %s
            """,
            (user_id, str(purpose), now),
        )
        return int(row["count"]) if row else 0


class PostgresMailOutboxRepository(PostgresRepository):
    """The ``mail_outbox`` table."""

    async def add(self, mail: OutgoingMail) -> None:
        await self._db.execute(
            f"""
            INSERT INTO mail_outbox ({MAIL_COLUMNS})
            VALUES (%(id)s, %(recipient)s, %(subject)s, %(text)s, %(html)s, %(user_id)s,
                    %(status)s, %(attempts)s, %(created_at)s, %(next_attempt_at)s,
                    %(last_error)s, %(sent_at)s)
            """.encode(),
            _mail_params(mail),
        )

    async def claim(self, now: datetime, lease_until: datetime) -> OutgoingMail | None:
        """One statement, atomic on its own (``FOR UPDATE SKIP LOCKED``)."""
        row = await self._db.fetch_one(
            _CLAIM_MAIL, {"now": now, "lease_until": lease_until}, changes=True
        )
        return mail_of(row) if row is not None else None

    async def sent(self, mail_id: UUID, now: datetime) -> None:
        await self._db.execute(
            b"""
            UPDATE mail_outbox SET status = 'sent', sent_at = %s, recipient = '',
                text_body = '', html_body = ''
            WHERE id = %s
            """,
            (now, mail_id),
        )

    async def retry_at(self, mail_id: UUID, when: datetime, error: str) -> None:
        await self._db.execute(
            b"UPDATE mail_outbox SET next_attempt_at = %s, last_error = %s WHERE id = %s",
            (when, error, mail_id),
        )

    async def failed(self, mail_id: UUID, error: str) -> None:
        await self._db.execute(
            b"""
            UPDATE mail_outbox SET status = 'failed', last_error = %s, text_body = '',
                html_body = ''
            WHERE id = %s
            """,
            (error, mail_id),
        )

    async def listed(self, statuses: frozenset[MailStatus], limit: int) -> list[OutgoingMail]:
        rows = await self._db.fetch_all(
            f"""
            SELECT {MAIL_COLUMNS} FROM mail_outbox WHERE status = ANY(%s)
            ORDER BY seq LIMIT %s
            """.encode(),
            ([str(status) for status in statuses], limit),
        )
        return [mail_of(row) for row in rows]

    async def delete_for_user(self, user_id: UUID) -> int:
        return await self._delete(b"DELETE FROM mail_outbox WHERE user_id = %s", (user_id,))

    async def purge_sent_before(self, cutoff: datetime) -> int:
        return await self._delete(
            b"""
            DELETE FROM mail_outbox
            WHERE status <> 'queued' AND COALESCE(sent_at, next_attempt_at) < %s
            """,
            (cutoff,),
        )


class PostgresAccountEventRepository(PostgresRepository):
    """The ``account_events`` table."""

    async def add(self, event: AccountEvent) -> None:
        await self._db.execute(
            b"""
            INSERT INTO account_events (user_id, kind, client_network, created_at)
            VALUES (%(user_id)s, %(kind)s, %(client_network)s, %(created_at)s)
            """,
            msgspec.structs.asdict(event),
        )

    async def delete_for_user(self, user_id: UUID) -> int:
        return await self._delete(b"DELETE FROM account_events WHERE user_id = %s", (user_id,))


def _mail_params(mail: OutgoingMail) -> dict[str, Any]:
    return {**msgspec.structs.asdict(mail), "status": str(mail.status)}


def mail_of(row: Row) -> OutgoingMail:
    """The mail in a row of ``MAIL_COLUMNS`` (its bodies are columns ``*_body``)."""
    values = dict(row)
    values["text"] = values.pop("text_body")
    values["html"] = values.pop("html_body")
    return struct_of(OutgoingMail, values)
