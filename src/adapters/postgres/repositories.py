"""PostgreSQL repositories: parameterised SQL over the unit of work's connection.

Each repository only runs statements; the unit of work owns the transaction. Credit
changes are single conditional statements, so concurrent spends can never overdraw.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import msgspec
from psycopg import errors as pg_errors

from adapters.postgres.database import DatabaseConnection, Params, Query, Row
from adapters.postgres.spends import (
    charge_in_row,
)
from adapters.postgres.sql import (
    CALLER_CLAIMING_KEY_SQL,
    CALLER_SQL,
    CLAIM_NEXT_SQL,
    CLAIM_WITH_PHOTO_SQL,
    COMPLETE_JOB_SQL,
    JOB_COLUMNS,
    KEY_CLAIM_SQL,
    LEDGER_COLUMNS,
    PURCHASE_COLUMNS,
    SESSION_WITH_USER_SQL,
    SPEND_SQL,
    USER_COLUMNS,
)
from picpaygo_core.errors import (
    BalanceLimitExceeded,
    DuplicateLedgerEntry,
    EmailTaken,
    InsufficientCredits,
)
from picpaygo_core.models import (
    CallerLookup,
    Charge,
    IdempotencyRecord,
    Incident,
    Job,
    KeyClaim,
    LedgerEntry,
    PaymentReversal,
    Purchase,
    Session,
    Spending,
    StoredImage,
    StoredResponse,
    User,
)
from picpaygo_core.validation import MAX_BALANCE, email_key

T = TypeVar("T")


class _Repository:
    def __init__(self, connection: DatabaseConnection) -> None:
        self._db = connection

    async def _one(self, cls: type[T], query: Query, params: Params, **kw: bool) -> T | None:
        row = await self._db.fetch_one(query, params, **kw)
        return _struct(cls, row) if row is not None else None

    async def _all(self, cls: type[T], query: Query, params: Params, **kw: bool) -> list[T]:
        return [_struct(cls, row) for row in await self._db.fetch_all(query, params, **kw)]


_USER_BY_ID = f"SELECT {USER_COLUMNS} FROM users WHERE id = %s".encode()
_USER_BY_EMAIL = f"SELECT {USER_COLUMNS} FROM users WHERE email_key = %s".encode()
_USER_BY_GOOGLE_ID = f"SELECT {USER_COLUMNS} FROM users WHERE google_id = %s".encode()


class PostgresUserRepository(_Repository):
    """Users; email uniqueness ignores letter case (a unique index on ``lower(email)``)."""

    async def add(self, user: User) -> None:
        """Store a new user with an empty balance; ``EmailTaken`` if the email exists.

        A concurrent insert of the same Google id is refused by its unique index and
        reported the same way (the account exists; signing in again finds it).
        """
        try:
            row = await self._db.fetch_one(
                f"""
                WITH added AS (
                    INSERT INTO users ({USER_COLUMNS}, email_key)
                    VALUES (%(id)s, %(email)s, %(password_hash)s, %(name)s, %(surname)s,
                            %(is_google_account)s, %(google_id)s, %(created_at)s,
                            %(last_login_at)s, %(last_login_location)s, %(email_key)s)
                    ON CONFLICT (email_key) DO NOTHING
                    RETURNING id, created_at
                ), balance AS (
                    INSERT INTO credits (user_id, balance, updated_at)
                    SELECT id, 0, created_at FROM added
                )
                SELECT count(*) FROM added
                """.encode(),
                _user_params(user),
                changes=True,
            )
        except pg_errors.UniqueViolation:
            raise EmailTaken from None
        if not row or row[0] == 0:
            raise EmailTaken

    async def update(self, user: User) -> None:
        """Replace every column of the user with the same id."""
        await self._db.execute(
            b"""
            UPDATE users SET email = %(email)s, email_key = %(email_key)s,
                password_hash = %(password_hash)s,
                name = %(name)s, surname = %(surname)s, created_at = %(created_at)s,
                is_google_account = %(is_google_account)s, google_id = %(google_id)s,
                last_login_at = %(last_login_at)s, last_login_location = %(last_login_location)s
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

    async def payment_customer(self, user_id: UUID) -> str | None:
        row = await self._db.fetch_one(b"SELECT stripe_id FROM users WHERE id = %s", (user_id,))
        return row[0] if row else None

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
        return str(row[0]) if row and row[0] else customer_id


# CALLER_SQL's columns: the session's 4, the user's, the balance and the free credits.
_CALLER_WIDTH = 4 + len(USER_COLUMNS.split(", ")) + 2


class PostgresSessionRepository(_Repository):
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
        row = await self._db.fetch_one(
            b"SELECT token_hash, user_id, created_at, expires_at FROM sessions "
            b"WHERE token_hash = %s",
            (token_hash,),
        )
        return session_from_row(row) if row is not None else None

    async def find_with_user(self, token_hash: str) -> tuple[Session, User] | None:
        """One statement (``SESSION_WITH_USER_SQL``)."""
        row = await self._db.fetch_one(SESSION_WITH_USER_SQL, {"token_hash": token_hash})
        return (session_from_row(row), user_from_row(row[4:])) if row is not None else None

    async def find_caller(
        self,
        token_hash: str | None,
        network: str,
        *,
        initial_free: int,
        claim: KeyClaim | None = None,
    ) -> CallerLookup:
        """One statement (``CALLER_SQL``, or ``CALLER_CLAIMING_KEY_SQL`` with a claim)."""
        params: dict[str, Any] = {"token_hash": token_hash, "network": network}
        if claim is None:
            row = await self._db.fetch_one(CALLER_SQL, params)
        else:
            params.update(msgspec.structs.asdict(claim))
            row = await self._db.fetch_one(CALLER_CLAIMING_KEY_SQL, params, changes=True)
        assert row is not None  # the statement always returns one row
        record = None
        if claim is not None:
            scope, claimed, fingerprint, status_code, body = row[_CALLER_WIDTH:]
            if claimed:
                record = None
            elif fingerprint is not None:
                record = _idempotency_record(fingerprint, status_code, body)
            else:  # committed by a racing claim after this statement's snapshot
                record = await PostgresIdempotencyRepository(self._db).stored(
                    scope, claim.key, claim.fingerprint
                )
        balance, free_credits = row[_CALLER_WIDTH - 2 : _CALLER_WIDTH]
        return CallerLookup(
            session=session_from_row(row) if row[0] is not None else None,
            user=user_from_row(row[4 : _CALLER_WIDTH - 2]) if row[4] is not None else None,
            balance=balance or 0,
            free_credits=initial_free if free_credits is None else free_credits,
            claim=record,
        )

    async def delete(self, token_hash: str) -> None:
        await self._db.execute(b"DELETE FROM sessions WHERE token_hash = %s", (token_hash,))

    async def delete_for_user(self, user_id: UUID) -> int:
        row = await self._db.fetch_one(
            b"WITH gone AS (DELETE FROM sessions WHERE user_id = %s RETURNING 1) "
            b"SELECT count(*) FROM gone",
            (user_id,),
            changes=True,
        )
        return int(row[0]) if row else 0

    async def purge_expired(self, now: datetime) -> int:
        row = await self._db.fetch_one(
            b"WITH gone AS (DELETE FROM sessions WHERE expires_at <= %s RETURNING 1) "
            b"SELECT count(*) FROM gone",
            (now,),
            changes=True,
        )
        return int(row[0]) if row else 0


class PostgresCreditRepository(_Repository):
    """Paid balances and their append-only ledger, changed together in one statement."""

    async def balance(self, user_id: UUID) -> int:
        row = await self._db.fetch_one(
            b"SELECT balance FROM credits WHERE user_id = %s", (user_id,)
        )
        return int(row[0]) if row else 0

    async def record(self, entry: LedgerEntry) -> int:
        """Apply ``entry`` with one conditional ``UPDATE … WHERE balance + amount >= 0``.

        The ledger row is written by the same statement, only if the balance moved; an
        idempotency key already in the ledger moves nothing (the unique index on the key
        is the last word when two transactions race with the same key; the loser gets
        ``DuplicateLedgerEntry`` too).
        """
        if entry.idempotency_key is None:
            row = await self._record(entry)
        else:
            row = await self._record_in_savepoint(entry)
        if row is None or row[0] is None:
            if row is not None and row[1]:
                raise DuplicateLedgerEntry
            if entry.amount > 0:
                raise BalanceLimitExceeded
            raise InsufficientCredits
        return int(row[0])

    async def _record_in_savepoint(self, entry: LedgerEntry) -> Row | None:
        """``_record`` for an entry with a key: losing a race to the same key rolls back
        only this statement, so the unit of work stays usable (as after any duplicate)."""
        await self._db.execute(b"SAVEPOINT record_entry")
        try:
            row = await self._record(entry)
        except pg_errors.UniqueViolation:
            await self._db.execute(b"ROLLBACK TO SAVEPOINT record_entry")
            raise DuplicateLedgerEntry from None
        await self._db.execute(b"RELEASE SAVEPOINT record_entry")
        return row

    async def _record(self, entry: LedgerEntry) -> Row | None:
        return await self._db.fetch_one(
            _RECORD_SQL,
            {**msgspec.structs.asdict(entry), "max_balance": MAX_BALANCE},
            changes=True,
        )

    async def history(self, user_id: UUID, limit: int) -> list[LedgerEntry]:
        if limit <= 0:
            return []
        return await self._all(
            LedgerEntry,
            f"SELECT {LEDGER_COLUMNS} FROM credit_ledger WHERE user_id = %s "
            "ORDER BY seq DESC LIMIT %s".encode(),
            (user_id, limit),
        )

    async def spend(self, spending: Spending) -> Charge:
        """One statement (``SPEND_SQL``) in the usual cases; step by step, in a transaction,
        for a network's first spend or one that takes its last free credits and paid ones."""
        row = await self._spend_statement(SPEND_SQL, msgspec.structs.asdict(spending))
        charge = charge_in_row(row, spending.amount)
        return charge if charge is not None else await self._spend_step_by_step(spending)

    async def _spend_statement(self, query: bytes, params: dict[str, Any]) -> Row:
        try:
            row = await self._db.fetch_one(query, params, changes=True)
        except pg_errors.UniqueViolation:
            raise DuplicateLedgerEntry from None
        assert row is not None  # the statement always returns one row
        return row

    async def _spend_step_by_step(self, spending: Spending) -> Charge:
        self._db.begin()
        free_credits = PostgresFreeCreditRepository(self._db)
        free = await free_credits.take(spending.network, spending.amount, spending.initial_free)
        paid = spending.amount - free
        if paid and spending.user_id is None:
            raise InsufficientCredits
        if spending.user_id is None:
            balance = 0
        elif paid:
            balance = await self.record(
                LedgerEntry(
                    id=spending.entry_id,
                    user_id=spending.user_id,
                    amount=-paid,
                    reason=spending.reason,
                    actor=spending.actor,
                    created_at=spending.now,
                    job_id=spending.job_id,
                    idempotency_key=spending.idempotency_key,
                )
            )
        else:
            balance = await self.balance(spending.user_id)
        free_left = await free_credits.remaining(spending.network, spending.initial_free)
        return Charge(free=free, paid=paid, free_left=free_left, balance=balance)


_RECORD_SQL = f"""
WITH moved AS (
    UPDATE credits SET balance = balance + %(amount)s, updated_at = %(created_at)s
    WHERE user_id = %(user_id)s AND balance + %(amount)s BETWEEN 0 AND %(max_balance)s
      AND NOT EXISTS (
          SELECT 1 FROM credit_ledger WHERE idempotency_key = %(idempotency_key)s
      )
    RETURNING balance
), entry AS (
    INSERT INTO credit_ledger ({LEDGER_COLUMNS})
    SELECT %(id)s, %(user_id)s, %(amount)s, %(reason)s, %(actor)s, %(created_at)s,
           %(job_id)s, %(idempotency_key)s, %(purchase_id)s
    FROM moved
)
SELECT (SELECT balance FROM moved),
       EXISTS (SELECT 1 FROM credit_ledger WHERE idempotency_key = %(idempotency_key)s)
""".encode()


class PostgresFreeCreditRepository(_Repository):
    """Free credits left per client network; a network without a row has the initial amount."""

    async def remaining(self, network: str, initial: int) -> int:
        stored = await self._stored(network)
        return initial if stored is None else stored

    async def take(self, network: str, amount: int, initial: int) -> int:
        """Take up to ``amount`` with a conditional ``UPDATE … WHERE remaining >= n``.

        The amount is lowered to what is left and tried again when another transaction
        got there first; each try is a single statement, never read-then-write. A
        network's row is made (with ``initial``) only the first time it spends.
        """
        wanted = amount
        while wanted > 0:
            row = await self._db.fetch_one(
                b"""
                UPDATE free_credits SET remaining = remaining - %(n)s, updated_at = now()
                WHERE network = %(network)s AND remaining >= %(n)s
                RETURNING remaining
                """,
                {"n": wanted, "network": network},
                changes=True,
            )
            if row is not None:
                return wanted
            left = await self._stored(network)
            if left is None:
                await self._db.fetch_one(
                    b"INSERT INTO free_credits (network, remaining, updated_at) "
                    b"VALUES (%s, %s, now()) ON CONFLICT (network) DO NOTHING",
                    (network, initial),
                    changes=True,
                )
                continue
            # Under Read Committed the failed UPDATE saw the latest row, so what is left
            # now is below ``wanted``: this loop always ends.
            wanted = min(wanted - 1, left)
        return 0

    async def _stored(self, network: str) -> int | None:
        row = await self._db.fetch_one(
            b"SELECT remaining FROM free_credits WHERE network = %s", (network,)
        )
        return int(row[0]) if row else None

    async def give_back(self, network: str, amount: int, initial: int) -> None:
        await self._db.execute(
            b"""
            INSERT INTO free_credits AS f (network, remaining, updated_at)
            VALUES (%(network)s, %(initial)s + %(amount)s, now())
            ON CONFLICT (network)
            DO UPDATE SET remaining = f.remaining + %(amount)s, updated_at = now()
            """,
            {"network": network, "initial": initial, "amount": amount},
        )


class PostgresJobRepository(_Repository):
    """Jobs, claimed with ``FOR UPDATE SKIP LOCKED`` so workers never collide."""

    async def add(self, job: Job) -> None:
        """Insert a job and notify listening workers (delivered when the transaction commits)."""
        await self._db.execute(
            f"""
            INSERT INTO jobs ({JOB_COLUMNS})
            VALUES (%(id)s, %(category)s, %(status)s, %(owner_id)s, %(client_network)s,
                    %(credit_source)s, %(input_image_id)s, %(output_image_id)s, %(error)s,
                    %(attempts)s, %(created_at)s, %(updated_at)s, %(available_at)s,
                    %(lease_owner)s, %(lease_expires_at)s, %(refunded)s)
            """.encode(),
            _job_params(job),
        )
        await self._db.execute(b"SELECT pg_notify(%s, '')", (JOBS_CHANNEL,))

    async def update(self, job: Job) -> None:
        await self._db.execute(
            b"""
            UPDATE jobs SET category = %(category)s, status = %(status)s,
                owner_id = %(owner_id)s, client_network = %(client_network)s,
                credit_source = %(credit_source)s, created_at = %(created_at)s,
                input_image_id = %(input_image_id)s,
                output_image_id = %(output_image_id)s, error = %(error)s,
                attempts = %(attempts)s, updated_at = %(updated_at)s,
                available_at = %(available_at)s, lease_owner = %(lease_owner)s,
                lease_expires_at = %(lease_expires_at)s, refunded = %(refunded)s
            WHERE id = %(id)s
            """,
            _job_params(job),
        )

    async def find(self, job_id: UUID) -> Job | None:
        return await self._one(Job, _JOB_BY_ID, (job_id,))

    async def find_for_update(self, job_id: UUID) -> Job | None:
        return await self._one(Job, _JOB_BY_ID + b" FOR UPDATE", (job_id,), changes=True)

    async def claim_next(self, worker_id: str, now: datetime, lease_until: datetime) -> Job | None:
        """Lease the oldest due job: queued and available, or running with a lapsed lease."""
        return await self._one(
            Job,
            _CLAIM_NEXT,
            {"worker": worker_id, "now": now, "lease_until": lease_until},
            changes=True,
        )

    async def claim_next_with_photo(
        self, worker_id: str, now: datetime, lease_until: datetime
    ) -> tuple[Job, StoredImage | None] | None:
        """One statement (``CLAIM_WITH_PHOTO_SQL``)."""
        row = await self._db.fetch_one(
            _CLAIM_WITH_PHOTO,
            {"worker": worker_id, "now": now, "lease_until": lease_until},
            changes=True,
        )
        if row is None:
            return None
        job = _struct(Job, row[:_JOB_WIDTH])
        photo = row[_JOB_WIDTH:]
        return job, (_struct(StoredImage, photo) if photo[0] is not None else None)

    async def complete(
        self,
        job_id: UUID,
        worker_id: str,
        output: StoredImage,
        now: datetime,
        *,
        incident_source: str,
    ) -> tuple[Job, Incident | None] | None:
        """One statement (``COMPLETE_JOB_SQL``)."""
        row = await self._db.fetch_one(
            _COMPLETE_JOB,
            {
                "job_id": job_id,
                "worker": worker_id,
                "now": now,
                "output_id": output.id,
                "data": output.data,
                "content_type": output.content_type,
                "created_at": output.created_at,
                "incident": incident_source,
            },
            changes=True,
        )
        if row is None:
            return None
        ended = row[_JOB_WIDTH:]
        incident = _struct(Incident, ended) if ended[0] is not None else None
        return _struct(Job, row[:_JOB_WIDTH]), incident

    async def extend_lease(self, job_id: UUID, worker_id: str, lease_until: datetime) -> bool:
        row = await self._db.fetch_one(
            b"UPDATE jobs SET lease_expires_at = %s "
            b"WHERE id = %s AND status = 'running' AND lease_owner = %s RETURNING id",
            (lease_until, job_id, worker_id),
            changes=True,
        )
        return row is not None

    async def finished_before(self, cutoff: datetime, limit: int) -> list[Job]:
        return await self._all(
            Job,
            f"""
            SELECT {JOB_COLUMNS} FROM jobs
            WHERE status IN ('succeeded', 'failed') AND output_image_id IS NOT NULL
              AND updated_at < %s
            ORDER BY updated_at LIMIT %s
            FOR UPDATE SKIP LOCKED
            """.encode(),
            (cutoff, limit),
            changes=True,
        )

    async def list_for_owner(self, owner_id: UUID, *, limit: int, before: Job | None) -> list[Job]:
        if limit <= 0:
            return []
        if before is None:
            return await self._all(
                Job,
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE owner_id = %s "
                "ORDER BY created_at DESC, id DESC LIMIT %s",
                (owner_id, limit),
            )
        return await self._all(
            Job,
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE owner_id = %s AND (created_at, id) < (%s, %s) "
            "ORDER BY created_at DESC, id DESC LIMIT %s",
            (owner_id, before.created_at, before.id, limit),
        )

    async def queue_stats(self) -> tuple[int, datetime | None]:
        """Read on the partial index of queued jobs."""
        row = await self._db.fetch_one(
            b"SELECT count(*), min(created_at) FROM jobs WHERE status = 'queued'"
        )
        if row is None:
            return 0, None
        return int(row[0]), row[1]


_JOB_BY_ID = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = %s".encode()
_CLAIM_NEXT = CLAIM_NEXT_SQL.format(columns=JOB_COLUMNS).encode()
_CLAIM_WITH_PHOTO = CLAIM_WITH_PHOTO_SQL.format(columns=JOB_COLUMNS).encode()
_COMPLETE_JOB = COMPLETE_JOB_SQL.format(
    columns=", ".join(f"jobs.{column}" for column in JOB_COLUMNS.split(", "))
).encode()
_JOB_WIDTH = len(JOB_COLUMNS.split(", "))


class PostgresImageRepository(_Repository):
    """Image bytes in a ``bytea`` column."""

    async def add(self, image: StoredImage) -> None:
        await self._db.execute(
            b"INSERT INTO images (id, data, content_type, created_at) "
            b"VALUES (%(id)s, %(data)s, %(content_type)s, %(created_at)s)",
            msgspec.structs.asdict(image),
        )

    async def find(self, image_id: UUID) -> StoredImage | None:
        return await self._one(
            StoredImage,
            b"SELECT id, data, content_type, created_at FROM images WHERE id = %s",
            (image_id,),
        )

    async def delete(self, image_id: UUID) -> None:
        await self._db.execute(b"DELETE FROM images WHERE id = %s", (image_id,))


class PostgresIncidentRepository(_Repository):
    """Open incidents, one row per source (the primary key keeps it to one)."""

    async def open(self, incident: Incident) -> bool:
        row = await self._db.fetch_one(
            b"INSERT INTO incidents (source, message, started_at) "
            b"VALUES (%(source)s, %(message)s, %(started_at)s) "
            b"ON CONFLICT (source) DO NOTHING RETURNING source",
            msgspec.structs.asdict(incident),
            changes=True,
        )
        return row is not None

    async def close(self, source: str) -> Incident | None:
        return await self._one(
            Incident,
            b"DELETE FROM incidents WHERE source = %s RETURNING source, message, started_at",
            (source,),
            changes=True,
        )

    async def list_open(self) -> list[Incident]:
        return await self._all(
            Incident,
            b"SELECT source, message, started_at FROM incidents ORDER BY started_at",
            None,
        )


class PostgresPurchaseRepository(_Repository):
    """Purchases (newest first by insertion order) and the reversals of their payments."""

    async def add(self, purchase: Purchase) -> None:
        await self._db.execute(
            f"""
            INSERT INTO purchases ({PURCHASE_COLUMNS})
            VALUES (%(id)s, %(user_id)s, %(pack)s, %(amount)s, %(currency)s, %(status)s,
                    %(created_at)s, %(updated_at)s, %(checkout_session_id)s,
                    %(payment_intent_id)s)
            """.encode(),
            _purchase_params(purchase),
        )

    async def update(self, purchase: Purchase) -> None:
        await self._db.execute(
            b"""
            UPDATE purchases SET status = %(status)s, updated_at = %(updated_at)s,
                checkout_session_id = %(checkout_session_id)s,
                payment_intent_id = %(payment_intent_id)s
            WHERE id = %(id)s
            """,
            _purchase_params(purchase),
        )

    async def find(self, purchase_id: UUID) -> Purchase | None:
        return await self._one(
            Purchase, f"SELECT {PURCHASE_COLUMNS} FROM purchases WHERE id = %s", (purchase_id,)
        )

    async def find_for_update(self, purchase_id: UUID) -> Purchase | None:
        return await self._one(
            Purchase,
            f"SELECT {PURCHASE_COLUMNS} FROM purchases WHERE id = %s FOR UPDATE",
            (purchase_id,),
            changes=True,
        )

    async def find_by_payment_for_update(self, payment_intent_id: str) -> Purchase | None:
        return await self._one(
            Purchase,
            f"SELECT {PURCHASE_COLUMNS} FROM purchases WHERE payment_intent_id = %s FOR UPDATE",
            (payment_intent_id,),
            changes=True,
        )

    async def list_recent(self, user_id: UUID | None, limit: int) -> list[Purchase]:
        if limit <= 0:
            return []
        if user_id is None:
            return await self._all(
                Purchase,
                f"SELECT {PURCHASE_COLUMNS} FROM purchases ORDER BY seq DESC LIMIT %s",
                (limit,),
            )
        return await self._all(
            Purchase,
            f"SELECT {PURCHASE_COLUMNS} FROM purchases WHERE user_id = %s "
            "ORDER BY seq DESC LIMIT %s",
            (user_id, limit),
        )

    async def lock_payment(self, payment_intent_id: str) -> None:
        """A transaction-level advisory lock on the payment's id (released at commit)."""
        await self._db.fetch_one(
            b"SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            (f"payment:{payment_intent_id}",),
            changes=True,
        )

    async def add_reversal(self, reversal: PaymentReversal) -> bool:
        row = await self._db.fetch_one(
            b"""
            INSERT INTO payment_reversals (payment_intent_id, kind, reference, created_at)
            VALUES (%(payment_intent_id)s, %(kind)s, %(reference)s, %(created_at)s)
            ON CONFLICT (payment_intent_id) DO NOTHING
            RETURNING payment_intent_id
            """,
            msgspec.structs.asdict(reversal),
            changes=True,
        )
        return row is not None

    async def find_reversal(self, payment_intent_id: str) -> PaymentReversal | None:
        return await self._one(
            PaymentReversal,
            "SELECT payment_intent_id, kind, reference, created_at FROM payment_reversals "
            "WHERE payment_intent_id = %s",
            (payment_intent_id,),
        )


def _purchase_params(purchase: Purchase) -> dict[str, Any]:
    params = msgspec.structs.asdict(purchase)
    params["status"] = str(params["status"])
    return params


JOBS_CHANNEL = "picpaygo_jobs"


def _job_params(job: Job) -> dict[str, Any]:
    params = msgspec.structs.asdict(job)
    for name in ("category", "status", "credit_source"):
        params[name] = str(params[name])
    return params


class PostgresIdempotencyRepository(_Repository):
    """Idempotency records, one row per (caller scope, key)."""

    async def claim(self, scope: str, claim: KeyClaim) -> IdempotencyRecord | None:
        """One upsert: a new key, an expired record or a stale pending one is claimed;
        a racing claim waits for the row lock and then sees the winner's record."""
        claimed = await self._db.fetch_one(
            KEY_CLAIM_SQL, msgspec.structs.asdict(claim) | {"scope": scope}, changes=True
        )
        if claimed is not None:
            return None
        return await self.stored(scope, claim.key, claim.fingerprint)

    async def stored(self, scope: str, key: str, fingerprint: str) -> IdempotencyRecord:
        """The record of (scope, key) that a claim for ``fingerprint`` did not take over."""
        row = await self._db.fetch_one(
            b"SELECT fingerprint, status_code, body FROM idempotency_keys "
            b"WHERE caller = %s AND key = %s",
            (scope, key),
        )
        if row is None:  # released in the meantime: the caller may simply retry
            return IdempotencyRecord(fingerprint=fingerprint, response=None)
        return _idempotency_record(*row)

    async def complete(self, scope: str, key: str, response: StoredResponse) -> None:
        """Travels with the unit of work's next round trip (its ``COMMIT``, usually)."""
        await self._db.execute(
            b"UPDATE idempotency_keys SET status_code = %s, body = %s "
            b"WHERE caller = %s AND key = %s",
            (response.status_code, response.body, scope, key),
        )

    async def release(self, scope: str, key: str) -> None:
        await self._db.execute(
            b"DELETE FROM idempotency_keys WHERE caller = %s AND key = %s AND status_code IS NULL",
            (scope, key),
        )

    async def purge_expired(self, now: datetime) -> int:
        row = await self._db.fetch_one(
            b"WITH gone AS (DELETE FROM idempotency_keys WHERE expires_at <= %s RETURNING 1) "
            b"SELECT count(*) FROM gone",
            (now,),
            changes=True,
        )
        return int(row[0]) if row else 0


def _idempotency_record(
    fingerprint: str, status_code: int | None, body: bytes | None
) -> IdempotencyRecord:
    response = None
    if status_code is not None:
        response = StoredResponse(status_code=status_code, body=bytes(body or b""))
    return IdempotencyRecord(fingerprint=fingerprint, response=response)


def _user_params(user: User) -> dict[str, Any]:
    return {**msgspec.structs.asdict(user), "email_key": email_key(user.email)}


def session_from_row(row: Row) -> Session:
    """A session from its four columns, in order."""
    return Session(token_hash=row[0], user_id=row[1], created_at=row[2], expires_at=row[3])


def user_from_row(row: Row) -> User:
    """A user from the columns of ``USER_COLUMNS``, in order."""
    return _struct(User, row)


# Structs whose fields come from the database with their Python types already (no enums):
# built directly, without msgspec's conversion.
_PLAIN: frozenset[type[Any]] = frozenset({User, Session, LedgerEntry, StoredImage, Incident})
_FIELDS: dict[type[Any], tuple[str, ...]] = {}


def _struct(cls: type[T], row: Row) -> T:
    """A struct from a row whose columns are the struct's fields, in order."""
    fields = _FIELDS.get(cls)
    if fields is None:
        fields = _FIELDS[cls] = cls.__struct_fields__  # type: ignore[attr-defined]
    values = dict(zip(fields, row, strict=False))
    if cls in _PLAIN:
        return cls(**values)
    return msgspec.convert(values, cls)
