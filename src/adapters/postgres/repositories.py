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
from psycopg.rows import dict_row

from adapters.postgres.database import BorrowedConnection, Connection, Params
from picpaygo_core.errors import DuplicateLedgerEntry, EmailTaken, InsufficientCredits
from picpaygo_core.models import (
    Incident,
    Job,
    LedgerEntry,
    PaymentReversal,
    Purchase,
    Session,
    StoredImage,
    User,
)

T = TypeVar("T")

USER_COLUMNS = (
    "id, email, password_hash, name, surname, is_google_account, google_id, "
    "created_at, last_login_at, last_login_location"
)
JOB_COLUMNS = (
    "id, category, status, owner_id, client_network, credit_source, input_image_id, "
    "output_image_id, error, attempts, created_at, updated_at, available_at, "
    "lease_owner, lease_expires_at, refunded"
)
LEDGER_COLUMNS = (
    "id, user_id, amount, reason, actor, created_at, job_id, idempotency_key, purchase_id"
)
PURCHASE_COLUMNS = (
    "id, user_id, pack, amount, currency, status, created_at, updated_at, "
    "checkout_session_id, payment_intent_id"
)

# Leases the oldest due job. Each kind of due job (queued and available, or running with
# a lapsed lease) is looked up on its own partial index, oldest first, so a claim reads a
# row or two however long the queue is; one query over both kinds could use neither
# index, and would read and sort every due job.
CLAIM_NEXT_SQL = """
WITH queued AS (
    SELECT id, created_at FROM jobs
    WHERE status = 'queued' AND available_at <= %(now)s
    ORDER BY created_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
), lapsed AS (
    SELECT id, created_at FROM jobs
    WHERE status = 'running'
      AND (lease_expires_at IS NULL OR lease_expires_at <= %(now)s)
    ORDER BY created_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
), oldest AS (
    SELECT id FROM (SELECT * FROM queued UNION ALL SELECT * FROM lapsed) AS due
    ORDER BY created_at
    LIMIT 1
)
UPDATE jobs SET status = 'running', attempts = attempts + 1,
    lease_owner = %(worker)s, lease_expires_at = %(lease_until)s, updated_at = %(now)s
WHERE id = (SELECT id FROM oldest)
RETURNING {columns}
"""


class _Repository:
    def __init__(self, connection: BorrowedConnection) -> None:
        self._connection = connection

    async def _rows(self, query: str, params: Params) -> list[dict[str, Any]]:
        async def execute(conn: Connection) -> list[dict[str, Any]]:
            async with conn.cursor(row_factory=dict_row) as cursor:
                await cursor.execute(query.encode(), params)
                return await cursor.fetchall() if cursor.description else []

        return await self._connection.run(execute)

    async def _row(self, query: str, params: Params) -> dict[str, Any] | None:
        rows = await self._rows(query, params)
        return rows[0] if rows else None

    async def _one(self, cls: type[T], query: str, params: Params) -> T | None:
        row = await self._row(query, params)
        return msgspec.convert(row, cls) if row else None

    async def _all(self, cls: type[T], query: str, params: Params) -> list[T]:
        return [msgspec.convert(row, cls) for row in await self._rows(query, params)]


class PostgresUserRepository(_Repository):
    """Users; email uniqueness ignores letter case (a unique index on ``lower(email)``)."""

    async def add(self, user: User) -> None:
        """Store a new user with an empty balance; ``EmailTaken`` if the email exists.

        A concurrent insert of the same Google id is refused by its unique index and
        reported the same way (the account exists; signing in again finds it).
        """
        try:
            row = await self._add(user)
        except pg_errors.UniqueViolation:
            raise EmailTaken from None
        if not row or row["added"] == 0:
            raise EmailTaken

    async def _add(self, user: User) -> dict[str, Any] | None:
        return await self._row(
            f"""
            WITH added AS (
                INSERT INTO users ({USER_COLUMNS})
                VALUES (%(id)s, %(email)s, %(password_hash)s, %(name)s, %(surname)s,
                        %(is_google_account)s, %(google_id)s, %(created_at)s,
                        %(last_login_at)s, %(last_login_location)s)
                ON CONFLICT ((lower(email))) DO NOTHING
                RETURNING id, created_at
            ), balance AS (
                INSERT INTO credits (user_id, balance, updated_at)
                SELECT id, 0, created_at FROM added
            )
            SELECT count(*) AS added FROM added
            """,
            msgspec.structs.asdict(user),
        )

    async def update(self, user: User) -> None:
        """Replace every column of the user with the same id."""
        await self._rows(
            """
            UPDATE users SET email = %(email)s, password_hash = %(password_hash)s,
                name = %(name)s, surname = %(surname)s, created_at = %(created_at)s,
                is_google_account = %(is_google_account)s, google_id = %(google_id)s,
                last_login_at = %(last_login_at)s, last_login_location = %(last_login_location)s
            WHERE id = %(id)s
            """,
            msgspec.structs.asdict(user),
        )

    async def find_by_id(self, user_id: UUID) -> User | None:
        return await self._one(User, f"SELECT {USER_COLUMNS} FROM users WHERE id = %s", (user_id,))

    async def find_by_email(self, email: str) -> User | None:
        return await self._one(
            User, f"SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower(%s)", (email,)
        )

    async def find_by_google_id(self, google_id: str) -> User | None:
        return await self._one(
            User, f"SELECT {USER_COLUMNS} FROM users WHERE google_id = %s", (google_id,)
        )

    async def payment_customer(self, user_id: UUID) -> str | None:
        row = await self._row("SELECT stripe_id FROM users WHERE id = %s", (user_id,))
        return row["stripe_id"] if row else None

    async def set_payment_customer(self, user_id: UUID, customer_id: str) -> str:
        """Set ``users.stripe_id`` only if empty, in one statement; the id kept."""
        row = await self._row(
            """
            UPDATE users SET stripe_id = COALESCE(stripe_id, %s) WHERE id = %s
            RETURNING stripe_id
            """,
            (customer_id, user_id),
        )
        return str(row["stripe_id"]) if row else customer_id


class PostgresSessionRepository(_Repository):
    """Sessions, keyed by the SHA-256 of their token."""

    async def add(self, session: Session) -> None:
        await self._rows(
            """
            INSERT INTO sessions (token_hash, user_id, created_at, expires_at)
            VALUES (%(token_hash)s, %(user_id)s, %(created_at)s, %(expires_at)s)
            """,
            msgspec.structs.asdict(session),
        )

    async def find(self, token_hash: str) -> Session | None:
        return await self._one(
            Session,
            "SELECT token_hash, user_id, created_at, expires_at FROM sessions "
            "WHERE token_hash = %s",
            (token_hash,),
        )

    async def find_with_user(self, token_hash: str) -> tuple[Session, User] | None:
        row = await self._row(
            f"""
            SELECT s.token_hash, s.user_id, s.created_at AS session_created_at, s.expires_at,
                   {", ".join(f"u.{column}" for column in USER_COLUMNS.split(", "))}
            FROM sessions s JOIN users u ON u.id = s.user_id
            WHERE s.token_hash = %s
            """,
            (token_hash,),
        )
        if row is None:
            return None
        session = Session(
            token_hash=row.pop("token_hash"),
            user_id=row.pop("user_id"),
            created_at=row.pop("session_created_at"),
            expires_at=row.pop("expires_at"),
        )
        return session, msgspec.convert(row, User)

    async def delete(self, token_hash: str) -> None:
        await self._rows("DELETE FROM sessions WHERE token_hash = %s", (token_hash,))

    async def purge_expired(self, now: datetime) -> int:
        row = await self._row(
            "WITH gone AS (DELETE FROM sessions WHERE expires_at <= %s RETURNING 1) "
            "SELECT count(*) AS n FROM gone",
            (now,),
        )
        return int(row["n"]) if row else 0


class PostgresCreditRepository(_Repository):
    """Paid balances and their append-only ledger, changed together in one statement."""

    async def balance(self, user_id: UUID) -> int:
        row = await self._row("SELECT balance FROM credits WHERE user_id = %s", (user_id,))
        return int(row["balance"]) if row else 0

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
        if row is None or row["balance"] is None:
            if row is not None and row["duplicate"]:
                raise DuplicateLedgerEntry
            raise InsufficientCredits
        return int(row["balance"])

    async def _record_in_savepoint(self, entry: LedgerEntry) -> dict[str, Any] | None:
        """``_record`` for an entry with a key: losing a race to the same key rolls back
        only this statement, so the unit of work stays usable (as after any duplicate)."""
        await self._rows("SAVEPOINT record_entry", ())
        try:
            row = await self._record(entry)
        except pg_errors.UniqueViolation:
            await self._rows("ROLLBACK TO SAVEPOINT record_entry", ())
            raise DuplicateLedgerEntry from None
        await self._rows("RELEASE SAVEPOINT record_entry", ())
        return row

    async def _record(self, entry: LedgerEntry) -> dict[str, Any] | None:
        return await self._row(
            f"""
            WITH moved AS (
                UPDATE credits SET balance = balance + %(amount)s, updated_at = %(created_at)s
                WHERE user_id = %(user_id)s AND balance + %(amount)s >= 0
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
            SELECT (SELECT balance FROM moved) AS balance,
                   EXISTS (
                       SELECT 1 FROM credit_ledger WHERE idempotency_key = %(idempotency_key)s
                   ) AS duplicate
            """,
            msgspec.structs.asdict(entry),
        )

    async def history(self, user_id: UUID, limit: int) -> list[LedgerEntry]:
        if limit <= 0:
            return []
        return await self._all(
            LedgerEntry,
            f"SELECT {LEDGER_COLUMNS} FROM credit_ledger WHERE user_id = %s "
            "ORDER BY seq DESC LIMIT %s",
            (user_id, limit),
        )


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
            row = await self._row(
                """
                UPDATE free_credits SET remaining = remaining - %(n)s, updated_at = now()
                WHERE network = %(network)s AND remaining >= %(n)s
                RETURNING remaining
                """,
                {"n": wanted, "network": network},
            )
            if row is not None:
                return wanted
            left = await self._stored(network)
            if left is None:
                await self._rows(
                    "INSERT INTO free_credits (network, remaining, updated_at) "
                    "VALUES (%s, %s, now()) ON CONFLICT (network) DO NOTHING",
                    (network, initial),
                )
                continue
            # Under Read Committed the failed UPDATE saw the latest row, so what is left
            # now is below ``wanted``: this loop always ends.
            wanted = min(wanted - 1, left)
        return 0

    async def _stored(self, network: str) -> int | None:
        row = await self._row("SELECT remaining FROM free_credits WHERE network = %s", (network,))
        return int(row["remaining"]) if row else None

    async def give_back(self, network: str, amount: int, initial: int) -> None:
        await self._rows(
            """
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
        await self._rows(
            f"""
            INSERT INTO jobs ({JOB_COLUMNS})
            VALUES (%(id)s, %(category)s, %(status)s, %(owner_id)s, %(client_network)s,
                    %(credit_source)s, %(input_image_id)s, %(output_image_id)s, %(error)s,
                    %(attempts)s, %(created_at)s, %(updated_at)s, %(available_at)s,
                    %(lease_owner)s, %(lease_expires_at)s, %(refunded)s)
            """,
            _job_params(job),
        )
        await self._rows("SELECT pg_notify(%s, '')", (JOBS_CHANNEL,))

    async def update(self, job: Job) -> None:
        await self._rows(
            """
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
        return await self._one(Job, f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = %s", (job_id,))

    async def find_for_update(self, job_id: UUID) -> Job | None:
        return await self._one(
            Job, f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = %s FOR UPDATE", (job_id,)
        )

    async def claim_next(self, worker_id: str, now: datetime, lease_until: datetime) -> Job | None:
        """Lease the oldest due job: queued and available, or running with a lapsed lease."""
        return await self._one(
            Job,
            CLAIM_NEXT_SQL.format(columns=JOB_COLUMNS),
            {"worker": worker_id, "now": now, "lease_until": lease_until},
        )

    async def extend_lease(self, job_id: UUID, worker_id: str, lease_until: datetime) -> bool:
        row = await self._row(
            "UPDATE jobs SET lease_expires_at = %s "
            "WHERE id = %s AND status = 'running' AND lease_owner = %s RETURNING id",
            (lease_until, job_id, worker_id),
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
            """,
            (cutoff, limit),
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
        row = await self._row(
            "SELECT count(*) AS depth, min(created_at) AS oldest FROM jobs WHERE status = 'queued'",
            (),
        )
        if row is None:
            return 0, None
        return int(row["depth"]), row["oldest"]


class PostgresImageRepository(_Repository):
    """Image bytes in a ``bytea`` column."""

    async def add(self, image: StoredImage) -> None:
        await self._rows(
            "INSERT INTO images (id, data, content_type, created_at) "
            "VALUES (%(id)s, %(data)s, %(content_type)s, %(created_at)s)",
            msgspec.structs.asdict(image),
        )

    async def find(self, image_id: UUID) -> StoredImage | None:
        return await self._one(
            StoredImage,
            "SELECT id, data, content_type, created_at FROM images WHERE id = %s",
            (image_id,),
        )

    async def delete(self, image_id: UUID) -> None:
        await self._rows("DELETE FROM images WHERE id = %s", (image_id,))


class PostgresIncidentRepository(_Repository):
    """Open incidents, one row per source (the primary key keeps it to one)."""

    async def open(self, incident: Incident) -> bool:
        row = await self._row(
            "INSERT INTO incidents (source, message, started_at) "
            "VALUES (%(source)s, %(message)s, %(started_at)s) "
            "ON CONFLICT (source) DO NOTHING RETURNING source",
            msgspec.structs.asdict(incident),
        )
        return row is not None

    async def close(self, source: str) -> Incident | None:
        return await self._one(
            Incident,
            "DELETE FROM incidents WHERE source = %s RETURNING source, message, started_at",
            (source,),
        )

    async def list_open(self) -> list[Incident]:
        return await self._all(
            Incident, "SELECT source, message, started_at FROM incidents ORDER BY started_at", ()
        )


class PostgresPurchaseRepository(_Repository):
    """Purchases (newest first by insertion order) and the reversals of their payments."""

    async def add(self, purchase: Purchase) -> None:
        await self._rows(
            f"""
            INSERT INTO purchases ({PURCHASE_COLUMNS})
            VALUES (%(id)s, %(user_id)s, %(pack)s, %(amount)s, %(currency)s, %(status)s,
                    %(created_at)s, %(updated_at)s, %(checkout_session_id)s,
                    %(payment_intent_id)s)
            """,
            _purchase_params(purchase),
        )

    async def update(self, purchase: Purchase) -> None:
        await self._rows(
            """
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
        )

    async def find_by_payment_for_update(self, payment_intent_id: str) -> Purchase | None:
        return await self._one(
            Purchase,
            f"SELECT {PURCHASE_COLUMNS} FROM purchases WHERE payment_intent_id = %s FOR UPDATE",
            (payment_intent_id,),
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
        await self._rows(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            (f"payment:{payment_intent_id}",),
        )

    async def add_reversal(self, reversal: PaymentReversal) -> bool:
        row = await self._row(
            """
            INSERT INTO payment_reversals (payment_intent_id, kind, reference, created_at)
            VALUES (%(payment_intent_id)s, %(kind)s, %(reference)s, %(created_at)s)
            ON CONFLICT (payment_intent_id) DO NOTHING
            RETURNING payment_intent_id
            """,
            msgspec.structs.asdict(reversal),
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
