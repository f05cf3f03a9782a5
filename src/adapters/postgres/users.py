"""PostgreSQL users and their sessions, and the read that starts a request (its caller)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from psycopg import errors as pg_errors

from adapters.postgres.database import Row
from adapters.postgres.idempotency import (
    KEY_CLAIM_CONFLICT,
    PostgresIdempotencyRepository,
    idempotency_record,
)
from adapters.postgres.rows import PostgresRepository, struct_of
from picpaygo_core.errors import EmailTaken
from picpaygo_core.models import CallerLookup, IdempotencyRecord, KeyClaim, Session, User
from picpaygo_core.validation import email_key

USER_COLUMNS = (
    "id, email, password_hash, name, surname, is_google_account, google_id, "
    "created_at, last_login_at, last_login_location, email_verified"
)
# A session read beside its user: its columns prefixed, as ``struct_of`` reads them back.
SESSION_AS_PREFIXED = (
    "s.token_hash AS session_token_hash, s.user_id AS session_user_id, "
    "s.created_at AS session_created_at, s.expires_at AS session_expires_at"
)

# Every signed-in request: the session (expired or not) and its user.
SESSION_WITH_USER_SQL = f"""
SELECT {SESSION_AS_PREFIXED},
       {", ".join(f"u.{column}" for column in USER_COLUMNS.split(", "))}
FROM sessions s
JOIN users u ON u.id = s.user_id
WHERE s.token_hash = %(token_hash)s
""".encode()

# GET /api/credits and the start of POST /api/generate: the session (expired or not) and
# its user, the user's balance and the network's free credits in one read; a row comes
# back even when nothing matches.
_CALLER = f"""
SELECT {SESSION_AS_PREFIXED},
       {", ".join(f"u.{column}" for column in USER_COLUMNS.split(", "))},
       c.balance, f.remaining AS free_credits
FROM (SELECT 1) AS one
LEFT JOIN sessions s ON s.token_hash = %(token_hash)s
LEFT JOIN users u ON u.id = s.user_id
LEFT JOIN credits c ON c.user_id = u.id
LEFT JOIN free_credits f ON f.network = %(network)s
"""
CALLER_SQL = _CALLER.encode()

# ``CALLER_SQL`` that also claims an idempotency key, in one statement (atomic on its
# own): in the user's scope while the session is valid, else in the network's. The
# record read with it is this statement's snapshot: one committed by a racing claim
# after the snapshot was taken is read again apart.
CALLER_CLAIMING_KEY_SQL = f"""
WITH caller AS ({_CALLER}), scope AS (
    SELECT CASE WHEN caller.id IS NOT NULL AND caller.session_expires_at > %(now)s
                THEN 'user:' || caller.id ELSE 'network:' || %(network)s END AS name
    FROM caller
), claimed AS (
    INSERT INTO idempotency_keys AS i
        (caller, key, fingerprint, status_code, body, created_at, expires_at)
    SELECT name, %(key)s, %(fingerprint)s, NULL, NULL, %(now)s, %(expires_at)s FROM scope
    {KEY_CLAIM_CONFLICT}
)
SELECT caller.*, scope.name AS scope, EXISTS (SELECT 1 FROM claimed) AS claimed,
       k.fingerprint, k.status_code, k.body
FROM caller CROSS JOIN scope
LEFT JOIN idempotency_keys k ON k.caller = scope.name AND k.key = %(key)s
""".encode()

_USER_BY_ID = f"SELECT {USER_COLUMNS} FROM users WHERE id = %s".encode()
_USER_BY_EMAIL = f"SELECT {USER_COLUMNS} FROM users WHERE email_key = %s".encode()
_USER_BY_GOOGLE_ID = f"SELECT {USER_COLUMNS} FROM users WHERE google_id = %s".encode()
_ADD_USER = f"""
WITH added AS (
    INSERT INTO users ({USER_COLUMNS}, email_key)
    VALUES (%(id)s, %(email)s, %(password_hash)s, %(name)s, %(surname)s,
            %(is_google_account)s, %(google_id)s, %(created_at)s,
            %(last_login_at)s, %(last_login_location)s, %(email_verified)s, %(email_key)s)
    ON CONFLICT (email_key) DO NOTHING
    RETURNING id, created_at
), balance AS (
    INSERT INTO credits (user_id, balance, updated_at)
    SELECT id, 0, created_at FROM added
)
SELECT count(*) FROM added
""".encode()


class PostgresUserRepository(PostgresRepository):
    """Users; email uniqueness ignores letter case (a unique index on ``lower(email)``)."""

    async def add(self, user: User) -> None:
        """Store a new user with an empty balance; ``EmailTaken`` if the email exists.

        A concurrent insert of the same Google id is refused by its unique index and
        reported the same way (the account exists; signing in again finds it).
        """
        try:
            row = await self._db.fetch_one(_ADD_USER, _user_params(user), changes=True)
        except pg_errors.UniqueViolation:
            raise EmailTaken from None
        if not row or row["count"] == 0:
            raise EmailTaken

    async def update(self, user: User) -> None:
        """Replace every column of the user with the same id."""
        await self._db.execute(
            b"""
            UPDATE users SET email = %(email)s, email_key = %(email_key)s,
                password_hash = %(password_hash)s,
                name = %(name)s, surname = %(surname)s, created_at = %(created_at)s,
                is_google_account = %(is_google_account)s, google_id = %(google_id)s,
                last_login_at = %(last_login_at)s, last_login_location = %(last_login_location)s,
                email_verified = %(email_verified)s
            WHERE id = %(id)s
            """,
            _user_params(user),
        )

    async def find_by_id(self, user_id: UUID) -> User | None:
        return await self._one(User, _USER_BY_ID, (user_id,))

    async def find_by_email(self, email: str) -> User | None:
        return await self._one(User, _USER_BY_EMAIL, (email_key(email),))

    async def find_by_google_id(self, google_id: str) -> User | None:
        return await self._one(User, _USER_BY_GOOGLE_ID, (google_id,))

    async def delete(self, user_id: UUID) -> None:
        """Its balance, sessions, tokens, mails and records go with it (``ON DELETE
        CASCADE``); ledger entries and purchases keep the id, naming no one."""
        await self._db.execute(b"DELETE FROM users WHERE id = %s", (user_id,))

    async def payment_customer(self, user_id: UUID) -> str | None:
        row = await self._db.fetch_one(b"SELECT stripe_id FROM users WHERE id = %s", (user_id,))
        return row["stripe_id"] if row else None

    async def set_payment_customer(self, user_id: UUID, customer_id: str) -> str:
        """Set ``users.stripe_id`` only if empty, in one statement; the id kept."""
        row = await self._db.fetch_one(
            b"""
            UPDATE users SET stripe_id = COALESCE(stripe_id, %s) WHERE id = %s
            RETURNING stripe_id
            """,
            (customer_id, user_id),
            changes=True,
        )
        return str(row["stripe_id"]) if row and row["stripe_id"] else customer_id


class PostgresSessionRepository(PostgresRepository):
    """Sessions, keyed by the SHA-256 of their token."""

    async def add(self, session: Session) -> None:
        await self._db.execute(
            b"""
            INSERT INTO sessions (token_hash, user_id, created_at, expires_at)
            VALUES (%(token_hash)s, %(user_id)s, %(created_at)s, %(expires_at)s)
            """,
            msgspec.structs.asdict(session),
        )

    async def find(self, token_hash: str) -> Session | None:
        return await self._one(
            Session,
            b"SELECT token_hash, user_id, created_at, expires_at FROM sessions "
            b"WHERE token_hash = %s",
            (token_hash,),
        )

    async def find_with_user(self, token_hash: str) -> tuple[Session, User] | None:
        """One statement (``SESSION_WITH_USER_SQL``)."""
        row = await self._db.fetch_one(SESSION_WITH_USER_SQL, {"token_hash": token_hash})
        return session_with_user(row) if row is not None else None

    async def find_caller(
        self,
        token_hash: str | None,
        client_network: str,
        *,
        initial_free: int,
        claim: KeyClaim | None = None,
    ) -> CallerLookup:
        """One statement (``CALLER_SQL``, or ``CALLER_CLAIMING_KEY_SQL`` with a claim)."""
        params: dict[str, Any] = {"token_hash": token_hash, "network": client_network}
        if claim is None:
            row = await self._db.fetch_one(CALLER_SQL, params)
        else:
            params.update(msgspec.structs.asdict(claim))
            row = await self._db.fetch_one(CALLER_CLAIMING_KEY_SQL, params, changes=True)
        assert row is not None  # the statement always returns one row
        record = None
        if claim is not None and not row["claimed"]:
            if row["fingerprint"] is not None:
                record = idempotency_record(row)
            else:  # committed by a racing claim after this statement's snapshot
                record = await PostgresIdempotencyRepository(self._db).stored(
                    row["scope"], claim.key, claim.fingerprint
                )
        return caller_lookup(row, initial_free, record)

    async def delete(self, token_hash: str) -> None:
        await self._db.execute(b"DELETE FROM sessions WHERE token_hash = %s", (token_hash,))

    async def delete_for_user(self, user_id: UUID) -> int:
        return await self._delete(b"DELETE FROM sessions WHERE user_id = %s", (user_id,))

    async def purge_expired(self, now: datetime) -> int:
        return await self._delete(b"DELETE FROM sessions WHERE expires_at <= %s", (now,))


def _user_params(user: User) -> dict[str, Any]:
    return {**msgspec.structs.asdict(user), "email_key": email_key(user.email)}


def session_with_user(row: Row) -> tuple[Session, User]:
    """The session (its columns prefixed with ``session_``) and the user in ``row``."""
    return struct_of(Session, row, "session_"), struct_of(User, row)


def caller_lookup(
    row: Row, initial_free: int, claim: IdempotencyRecord | None = None
) -> CallerLookup:
    """What a row of ``CALLER_SQL``'s columns says of a caller; free credits of a network
    never seen are ``initial_free``."""
    free_credits = row["free_credits"]
    return CallerLookup(
        session=struct_of(Session, row, "session_")
        if row["session_token_hash"] is not None
        else None,
        user=struct_of(User, row) if row["id"] is not None else None,
        balance=row["balance"] or 0,
        free_credits=initial_free if free_credits is None else free_credits,
        claim=claim,
    )
