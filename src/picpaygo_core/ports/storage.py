"""Storage ports: repositories, and the unit of work that makes their changes atomic.

Every repository is reached through a ``UnitOfWork``; its changes become visible to
others only when the unit of work commits, and are all undone otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self
from uuid import UUID

from picpaygo_core.models import (
    CallerLookup,
    Charge,
    IdempotencyRecord,
    Incident,
    Job,
    KeyClaim,
    LedgerEntry,
    PaymentReversal,
    PendingCheckouts,
    Purchase,
    Session,
    Spending,
    StoredImage,
    StoredResponse,
    User,
)
from picpaygo_core.ports.accounts import (
    AccountEventRepository,
    AccountTokenRepository,
    MailOutboxRepository,
)


class UserRepository(Protocol):
    async def add(self, user: User) -> None:
        """Store a new user. Raises ``EmailTaken`` if the email exists (any letter case)."""
        ...

    async def update(self, user: User) -> None:
        """Replace the stored user with the same id."""
        ...

    async def find_by_id(self, user_id: UUID) -> User | None: ...

    async def find_by_email(self, email: str) -> User | None:
        """Look a user up by email, ignoring letter case."""
        ...

    async def find_by_google_id(self, google_id: str) -> User | None: ...

    async def delete(self, user_id: UUID) -> None:
        """Erase the user, their balance, sessions and tokens (ledger and purchases stay)."""
        ...

    async def payment_customer(self, user_id: UUID) -> str | None:
        """The user's customer id at the payment provider, if one was made."""
        ...

    async def set_payment_customer(self, user_id: UUID, customer_id: str) -> str:
        """Keep ``customer_id`` unless the user already has one; returns the one kept."""
        ...


class SessionRepository(Protocol):
    async def add(self, session: Session) -> None: ...

    async def find(self, token_hash: str) -> Session | None: ...

    async def find_with_user(self, token_hash: str) -> tuple[Session, User] | None:
        """The session of ``token_hash`` (expired or not) and its user, in one read."""
        ...

    async def find_caller(
        self,
        token_hash: str | None,
        client_network: str,
        *,
        initial_free: int,
        claim: KeyClaim | None = None,
    ) -> CallerLookup:
        """The session of ``token_hash`` with its user, the user's balance and the
        network's free credits, in one read (a network never seen has ``initial_free``).

        With ``claim``, the same step also claims its key as ``IdempotencyRepository.claim``
        does, in the scope of the caller it finds (``idempotency_scope``: the user's while
        the session is valid at ``claim.now``, else the network's); like every change, the
        claim takes effect when the unit of work commits.
        """
        ...

    async def delete(self, token_hash: str) -> None:
        """Forget a session; nothing happens if it does not exist."""
        ...

    async def purge_expired(self, now: datetime) -> int:
        """Delete every session expired at ``now``; returns how many went."""
        ...

    async def delete_for_user(self, user_id: UUID) -> int:
        """End every session of a user; returns how many went."""
        ...


class CreditRepository(Protocol):
    """Paid balances and their append-only ledger."""

    async def balance(self, user_id: UUID, *, for_update: bool = False) -> int:
        """The user's paid balance (0 without one). ``for_update``: the balance is held
        as read until the unit of work ends (no other change to it lands meanwhile)."""
        ...

    async def record(self, entry: LedgerEntry) -> int:
        """Append ``entry`` and apply it to the balance atomically; returns the new balance.

        Raises ``InsufficientCredits`` (and records nothing) if the balance would go
        below zero, and ``DuplicateLedgerEntry`` if an entry with the same idempotency
        key exists.
        """
        ...

    async def history(self, user_id: UUID, limit: int) -> list[LedgerEntry]:
        """The newest ``limit`` entries of a user, newest first."""
        ...

    async def spend(self, spending: Spending) -> Charge:
        """Take the credits ``spending`` asks for, free ones first, in one atomic change.

        Raises ``InsufficientCredits`` (and changes nothing) when free and paid credits
        together do not cover the amount, or an anonymous client has too few free ones;
        ``DuplicateLedgerEntry`` if the idempotency key is already in the ledger.
        """
        ...


class FreeCreditRepository(Protocol):
    """Free credits, granted once per client network."""

    async def remaining(self, client_network: str, initial: int) -> int:
        """Free credits left for ``network``; a network never seen has ``initial``."""
        ...

    async def take(self, client_network: str, amount: int, initial: int) -> int:
        """Take up to ``amount`` free credits; returns how many were taken (maybe 0)."""
        ...

    async def give_back(self, client_network: str, amount: int, initial: int) -> None:
        """Return credits taken by ``take`` (a refund)."""
        ...


class JobRepository(Protocol):
    async def add(self, job: Job) -> None: ...

    async def update(self, job: Job) -> None:
        """Replace the stored job with the same id."""
        ...

    async def find(self, job_id: UUID) -> Job | None: ...

    async def find_for_update(self, job_id: UUID) -> Job | None:
        """Like ``find``, but no other unit of work may change the job until this one ends."""
        ...

    async def claim_next(self, worker_id: str, now: datetime, lease_until: datetime) -> Job | None:
        """Take the oldest job that is due: queued and available, or running with a lapsed lease.

        The job is returned as running, leased to ``worker_id`` until ``lease_until``, with
        its attempt counter raised. Two workers never get the same job at once.
        """
        ...

    async def claim_next_with_photo(
        self, worker_id: str, now: datetime, lease_until: datetime
    ) -> tuple[Job, StoredImage | None] | None:
        """``claim_next``, and the claimed job's input photo (None when it is gone), in one
        change atomic on its own (a worker's claim needs no other statement)."""
        ...

    async def complete(
        self,
        job_id: UUID,
        worker_id: str,
        output: StoredImage,
        now: datetime,
        *,
        incident_source: str,
    ) -> tuple[Job, Incident | None] | None:
        """Mark a job still running under ``worker_id``'s lease succeeded, in one change
        atomic on its own: ``output`` stored as its picture, its input photo deleted, its
        lease released, and the incident of ``incident_source`` closed (the generator
        works again). Returns the job as stored and the incident it ended, if any; None,
        with nothing changed, when the job is no longer running under that lease."""
        ...

    async def extend_lease(self, job_id: UUID, worker_id: str, lease_until: datetime) -> bool:
        """Keep a job leased while working on it; False if the lease was lost."""
        ...

    async def finished_before(self, cutoff: datetime, limit: int) -> list[Job]:
        """Finished jobs last updated before ``cutoff`` that still hold an output image."""
        ...

    async def list_for_owner(self, owner_id: UUID, *, limit: int, before: Job | None) -> list[Job]:
        """Up to ``limit`` jobs of ``owner_id``, newest first (creation time, then id).

        With ``before``, only the jobs that come after it in that order: the next page.
        """
        ...

    async def erase_for_owner(self, owner_id: UUID) -> tuple[int, list[str]]:
        """Delete every job of ``owner_id`` with the records of its photos and pictures;
        how many jobs went, and the picture store keys of the records (whose objects are
        the caller's to delete once this unit of work commits)."""
        ...

    async def queue_stats(self) -> tuple[int, datetime | None]:
        """How many jobs are queued, and when the oldest of them was created."""
        ...


class ImageRepository(Protocol):
    async def add(self, image: StoredImage) -> None: ...

    async def find(self, image_id: UUID) -> StoredImage | None: ...

    async def delete(self, image_id: UUID) -> str | None:
        """Forget an image; returns the picture store key it had (None if there was none).

        The object itself is the caller's to delete, once this unit of work commits.
        """
        ...

    async def existing_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of ``keys`` some stored image has (the others' objects are orphans)."""
        ...


class IncidentRepository(Protocol):
    """Open operator incidents, shared by every process of the deployment."""

    async def open(self, incident: Incident) -> bool:
        """Record ``incident`` unless one is already open for its source.

        True when this call opened it: the first report of a new incident.
        """
        ...

    async def close(self, source: str) -> Incident | None:
        """End the open incident of ``source``; returns it, or None if there was none."""
        ...

    async def list_open(self) -> list[Incident]:
        """Every open incident, oldest first."""
        ...


class PurchaseRepository(Protocol):
    """Purchases of credit packs, and refunds or disputes reported for their payments."""

    async def add(self, purchase: Purchase) -> None: ...

    async def update(self, purchase: Purchase) -> None:
        """Replace the stored purchase with the same id."""
        ...

    async def find(self, purchase_id: UUID) -> Purchase | None: ...

    async def find_for_update(self, purchase_id: UUID) -> Purchase | None:
        """Like ``find``, but no other unit of work may change it until this one ends."""
        ...

    async def find_by_payment_for_update(self, payment_intent_id: str) -> Purchase | None:
        """The purchase paid by ``payment_intent_id``, locked like ``find_for_update``."""
        ...

    async def list_recent(self, user_id: UUID | None, limit: int) -> list[Purchase]:
        """The newest ``limit`` purchases of a user (of everyone with None), newest first."""
        ...

    async def pending_checkouts(self, user_id: UUID, since: datetime) -> PendingCheckouts:
        """The user's purchases still pending that were created after ``since``.

        Also serialises the user's checkouts until this unit of work ends, so that two at
        once cannot both count the room for one more.
        """
        ...

    async def lock_payment(self, payment_intent_id: str) -> None:
        """Serialise the units of work about one payment until this one ends (a refund
        racing the payment's own confirmation must see it, or be seen by it)."""
        ...

    async def add_reversal(self, reversal: PaymentReversal) -> bool:
        """Remember a refund or dispute of a payment; False if one was already known."""
        ...

    async def find_reversal(self, payment_intent_id: str) -> PaymentReversal | None: ...


class IdempotencyRepository(Protocol):
    """Answers to requests sent with an idempotency key, per caller scope and key."""

    async def claim(self, scope: str, claim: KeyClaim) -> IdempotencyRecord | None:
        """Start work on (scope, ``claim.key``) for ``claim.fingerprint``: None when this
        call claimed it (a pending record).

        Otherwise the record that holds it: finished (with its answer) or still pending.
        An expired record, or a pending one started before ``claim.stale_before`` (its
        request died), is taken over. Concurrent claims of one key: exactly one gets None.
        """
        ...

    async def complete(self, scope: str, key: str, response: StoredResponse) -> None:
        """Keep the answer of the claimed (scope, key)."""
        ...

    async def release(self, scope: str, key: str) -> None:
        """Forget a claim that is still pending (its request failed without an answer)."""
        ...

    async def purge_expired(self, now: datetime) -> int:
        """Delete records expired at ``now``; returns how many went."""
        ...

    async def delete_scope(self, scope: str) -> int:
        """Delete every record of one caller scope; returns how many went."""
        ...


class UnitOfWork(Protocol):
    """A transaction over every repository: ``async with uow: ...; await uow.commit()``.

    Leaving the block without ``commit()`` (or with an exception) rolls everything back.
    """

    @property
    def users(self) -> UserRepository: ...

    @property
    def sessions(self) -> SessionRepository: ...

    @property
    def credits(self) -> CreditRepository: ...

    @property
    def free_credits(self) -> FreeCreditRepository: ...

    @property
    def jobs(self) -> JobRepository: ...

    @property
    def images(self) -> ImageRepository: ...

    @property
    def incidents(self) -> IncidentRepository: ...

    @property
    def purchases(self) -> PurchaseRepository: ...

    @property
    def idempotency(self) -> IdempotencyRepository: ...

    @property
    def account_tokens(self) -> AccountTokenRepository: ...

    @property
    def outbox(self) -> MailOutboxRepository: ...

    @property
    def account_events(self) -> AccountEventRepository: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork:
        """A fresh, not yet entered unit of work."""
        ...
