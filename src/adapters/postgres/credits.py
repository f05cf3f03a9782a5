"""PostgreSQL credits: paid balances with their append-only ledger, and the free credits
of client networks. Credit changes are single conditional statements, so concurrent
spends can never overdraw."""

from __future__ import annotations

from uuid import UUID

import msgspec
from psycopg import errors as pg_errors

from adapters.postgres.database import Row
from adapters.postgres.rows import PostgresRepository
from picpaygo_core.errors import BalanceLimitExceeded, DuplicateLedgerEntry, InsufficientCredits
from picpaygo_core.models import Charge, LedgerEntry, Spending, free_first
from picpaygo_core.validation import MAX_BALANCE

LEDGER_COLUMNS = (
    "id, user_id, amount, reason, actor, created_at, job_id, idempotency_key, purchase_id"
)

# A spend in one statement, for the usual cases: the network has enough free credits
# left (take them), or none at all (take the paid balance, with its ledger entry, if it
# covers the amount). Anything else (a network never seen, or fewer free credits than the
# amount but not none) changes nothing and is left to the step-by-step path. The paid
# UPDATE runs only when the free one did not (it reads that CTE's output). Each UPDATE
# re-checks its condition on the latest row version, so concurrent spends never
# overdraw; ``known`` is this statement's snapshot, read only to choose the path.
SPEND_SQL = f"""
WITH free AS (
    UPDATE free_credits SET remaining = remaining - %(amount)s, updated_at = %(now)s
    WHERE network = %(client_network)s AND remaining >= %(amount)s
    RETURNING remaining
), known AS (
    SELECT remaining FROM free_credits WHERE network = %(client_network)s
), paid AS (
    UPDATE credits SET balance = balance - %(amount)s, updated_at = %(now)s
    WHERE user_id = %(user_id)s::uuid AND balance >= %(amount)s
      AND NOT EXISTS (SELECT 1 FROM free) AND (SELECT remaining FROM known) = 0
    RETURNING balance
), entry AS (
    INSERT INTO credit_ledger ({LEDGER_COLUMNS})
    SELECT %(entry_id)s, %(user_id)s::uuid, -(%(amount)s::integer), %(reason)s, %(actor)s,
           %(now)s, %(job_id)s::uuid, %(idempotency_key)s::text, NULL
    FROM paid
)
SELECT (SELECT remaining FROM free) AS free_left,
       (SELECT balance FROM paid) AS paid_balance,
       (SELECT remaining FROM known) AS known_free,
       (SELECT balance FROM credits WHERE user_id = %(user_id)s::uuid) AS balance
""".encode()

# A ledger entry and the balance it moves, in one statement: the balance moves only within
# [0, max_balance] and when no entry has the same idempotency key; the entry is written
# only if it moved. ``duplicate`` tells a repeated key from a balance out of bounds.
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
SELECT (SELECT balance FROM moved) AS balance,
       EXISTS (SELECT 1 FROM credit_ledger WHERE idempotency_key = %(idempotency_key)s)
           AS duplicate
""".encode()

_HISTORY = (
    f"SELECT {LEDGER_COLUMNS} FROM credit_ledger WHERE user_id = %s ORDER BY seq DESC LIMIT %s"
).encode()


class PostgresCreditRepository(PostgresRepository):
    """Paid balances and their append-only ledger, changed together in one statement."""

    async def balance(self, user_id: UUID, *, for_update: bool = False) -> int:
        if for_update:
            row = await self._db.fetch_one(
                b"SELECT balance FROM credits WHERE user_id = %s FOR UPDATE",
                (user_id,),
                changes=True,
            )
        else:
            row = await self._db.fetch_one(
                b"SELECT balance FROM credits WHERE user_id = %s", (user_id,)
            )
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
            if entry.amount > 0:
                raise BalanceLimitExceeded
            raise InsufficientCredits
        return int(row["balance"])

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
        return await self._all(LedgerEntry, _HISTORY, (user_id, limit))

    async def spend(self, spending: Spending) -> Charge:
        """One statement (``SPEND_SQL``) in the usual cases; step by step, in a transaction,
        for a network's first spend or one that takes its last free credits and paid ones."""
        try:
            row = await self._db.fetch_one(
                SPEND_SQL, msgspec.structs.asdict(spending), changes=True
            )
        except pg_errors.UniqueViolation:
            raise DuplicateLedgerEntry from None
        assert row is not None  # the statement always returns one row
        charge = charge_in_row(row, spending.amount)
        return charge if charge is not None else await self._spend_step_by_step(spending)

    async def _spend_step_by_step(self, spending: Spending) -> Charge:
        self._db.begin()
        free_credits = PostgresFreeCreditRepository(self._db)
        # Free credits first: take what the network has, up to the amount (the take is
        # safe against concurrent spends); ``free_first`` then says what is left to pay.
        taken = await free_credits.take(
            spending.client_network, spending.amount, spending.initial_free
        )
        user_id = spending.user_id
        balance = await self.balance(user_id) if user_id is not None else None
        free, paid = free_first(spending.amount, free_left=taken, balance=balance)
        if paid and user_id is not None:
            balance = await self.record(spending.paid_entry(user_id, paid))
        free_left = await free_credits.remaining(spending.client_network, spending.initial_free)
        return Charge(free=free, paid=paid, free_left=free_left, balance=balance or 0)


def charge_in_row(row: Row, amount: int) -> Charge | None:
    """The charge of a spend of ``amount`` that ``SPEND_SQL`` made, or None when it changed
    nothing and the step-by-step path must decide (a network never seen, or one with
    fewer free credits than the amount but not none).

    Raises ``InsufficientCredits`` when the network has no free credits and the paid
    balance does not cover the amount.
    """
    if row["free_left"] is not None:
        return Charge(free=amount, paid=0, free_left=row["free_left"], balance=row["balance"] or 0)
    if row["paid_balance"] is not None:
        return Charge(free=0, paid=amount, free_left=0, balance=row["paid_balance"])
    if row["known_free"] == 0:
        raise InsufficientCredits
    return None


class PostgresFreeCreditRepository(PostgresRepository):
    """Free credits left per client network; a network without a row has the initial amount."""

    async def remaining(self, client_network: str, initial: int) -> int:
        stored = await self._stored(client_network)
        return initial if stored is None else stored

    async def take(self, client_network: str, amount: int, initial: int) -> int:
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
                {"n": wanted, "network": client_network},
                changes=True,
            )
            if row is not None:
                return wanted
            left = await self._stored(client_network)
            if left is None:
                await self._db.fetch_one(
                    b"INSERT INTO free_credits (network, remaining, updated_at) "
                    b"VALUES (%s, %s, now()) ON CONFLICT (network) DO NOTHING",
                    (client_network, initial),
                    changes=True,
                )
                continue
            # Under Read Committed the failed UPDATE saw the latest row, so what is left
            # now is below ``wanted``: this loop always ends.
            wanted = min(wanted - 1, left)
        return 0

    async def _stored(self, client_network: str) -> int | None:
        row = await self._db.fetch_one(
            b"SELECT remaining FROM free_credits WHERE network = %s", (client_network,)
        )
        return int(row["remaining"]) if row else None

    async def give_back(self, client_network: str, amount: int, initial: int) -> None:
        await self._db.execute(
            b"""
            INSERT INTO free_credits AS f (network, remaining, updated_at)
            VALUES (%(network)s, %(initial)s + %(amount)s, now())
            ON CONFLICT (network)
            DO UPDATE SET remaining = f.remaining + %(amount)s, updated_at = now()
            """,
            {"network": client_network, "initial": initial, "amount": amount},
        )
