"""In-memory repositories. Each writes through the unit of work's journal."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from uuid import UUID

import msgspec

from adapters.memory.store import IdempotencyEntry, Journal, MemoryStore
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
    JobStatus,
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
from picpaygo_core.services.idempotency import idempotency_scope
from picpaygo_core.validation import MAX_BALANCE, email_key


class _Repository:
    def __init__(self, store: MemoryStore, journal: Journal) -> None:
        self._store = store
        self._journal = journal


class MemoryUserRepository(_Repository):
    """Users, indexed by their email key (see ``email_key``) and by Google id."""

    async def add(self, user: User) -> None:
        """Store a new user; ``EmailTaken`` if an email with the same key exists."""
        key = email_key(user.email)
        if key in self._store.user_ids_by_email:
            raise EmailTaken
        if user.google_id and user.google_id in self._store.user_ids_by_google_id:
            raise EmailTaken  # as PostgreSQL's unique index on google_id would
        self._journal.put(self._store.users, user.id, user)
        self._journal.put(self._store.user_ids_by_email, key, user.id)
        if user.google_id:
            self._journal.put(self._store.user_ids_by_google_id, user.google_id, user.id)

    async def update(self, user: User) -> None:
        """Replace a user, keeping the Google-id index in step."""
        previous = self._store.users.get(user.id)
        if previous and previous.google_id and previous.google_id != user.google_id:
            self._journal.pop(self._store.user_ids_by_google_id, previous.google_id)
        if previous and email_key(previous.email) != email_key(user.email):
            self._journal.pop(self._store.user_ids_by_email, email_key(previous.email))
            self._journal.put(self._store.user_ids_by_email, email_key(user.email), user.id)
        self._journal.put(self._store.users, user.id, user)
        if user.google_id:
            self._journal.put(self._store.user_ids_by_google_id, user.google_id, user.id)

    async def find_by_id(self, user_id: UUID) -> User | None:
        return self._store.users.get(user_id)

    async def find_by_email(self, email: str) -> User | None:
        user_id = self._store.user_ids_by_email.get(email_key(email))
        return self._store.users.get(user_id) if user_id else None

    async def find_by_google_id(self, google_id: str) -> User | None:
        user_id = self._store.user_ids_by_google_id.get(google_id)
        return self._store.users.get(user_id) if user_id else None

    async def payment_customer(self, user_id: UUID) -> str | None:
        return self._store.payment_customers.get(user_id)

    async def set_payment_customer(self, user_id: UUID, customer_id: str) -> str:
        """Keep the first customer id a user gets."""
        kept = self._store.payment_customers.get(user_id)
        if kept is not None:
            return kept
        self._journal.put(self._store.payment_customers, user_id, customer_id)
        return customer_id


class MemorySessionRepository(_Repository):
    """Sessions keyed by the hash of their token."""

    async def add(self, session: Session) -> None:
        self._journal.put(self._store.sessions, session.token_hash, session)

    async def find(self, token_hash: str) -> Session | None:
        return self._store.sessions.get(token_hash)

    async def find_with_user(self, token_hash: str) -> tuple[Session, User] | None:
        session = self._store.sessions.get(token_hash)
        user = self._store.users.get(session.user_id) if session else None
        return (session, user) if session and user else None

    async def find_caller(
        self,
        token_hash: str | None,
        network: str,
        *,
        initial_free: int,
        claim: KeyClaim | None = None,
    ) -> CallerLookup:
        session = self._store.sessions.get(token_hash) if token_hash else None
        user = self._store.users.get(session.user_id) if session else None
        record = None
        if claim is not None:
            valid = session is not None and user is not None and not session.is_expired(claim.now)
            scope = idempotency_scope(user.id if valid and user else None, network)
            record = await MemoryIdempotencyRepository(self._store, self._journal).claim(
                scope, claim
            )
        return CallerLookup(
            session=session,
            user=user,
            balance=self._store.balances.get(user.id, 0) if user else 0,
            free_credits=self._store.free_credits.get(network, initial_free),
            claim=record,
        )

    async def delete(self, token_hash: str) -> None:
        self._journal.pop(self._store.sessions, token_hash)

    async def delete_for_user(self, user_id: UUID) -> int:
        theirs = [k for k, s in self._store.sessions.items() if s.user_id == user_id]
        for token_hash in theirs:
            self._journal.pop(self._store.sessions, token_hash)
        return len(theirs)

    async def purge_expired(self, now: datetime) -> int:
        expired = [k for k, s in self._store.sessions.items() if s.is_expired(now)]
        for token_hash in expired:
            self._journal.pop(self._store.sessions, token_hash)
        return len(expired)


class MemoryCreditRepository(_Repository):
    """Paid balances and the append-only ledger that explains them."""

    async def balance(self, user_id: UUID) -> int:
        return self._store.balances.get(user_id, 0)

    async def record(self, entry: LedgerEntry) -> int:
        """Apply ``entry``; refuses overdrafts and repeated idempotency keys."""
        if entry.idempotency_key and entry.idempotency_key in self._store.ledger_keys:
            raise DuplicateLedgerEntry
        new_balance = self._store.balances.get(entry.user_id, 0) + entry.amount
        if new_balance < 0:
            raise InsufficientCredits
        if new_balance > MAX_BALANCE:
            raise BalanceLimitExceeded
        self._journal.put(self._store.balances, entry.user_id, new_balance)
        if entry.user_id not in self._store.ledger:
            self._journal.put(self._store.ledger, entry.user_id, [])
        self._journal.append(self._store.ledger[entry.user_id], entry)
        if entry.idempotency_key:
            self._journal.add(self._store.ledger_keys, entry.idempotency_key)
        return new_balance

    async def history(self, user_id: UUID, limit: int) -> list[LedgerEntry]:
        entries = self._store.ledger.get(user_id, [])
        return list(reversed(entries[-limit:])) if limit > 0 else []

    async def spend(self, spending: Spending) -> Charge:
        """Free credits first, then paid ones; checked in full before anything changes."""
        free_credits = self._store.free_credits
        left = free_credits.get(spending.network, spending.initial_free)
        free = min(left, spending.amount)
        paid = spending.amount - free
        balance = self._store.balances.get(spending.user_id, 0) if spending.user_id else 0
        if paid and (spending.user_id is None or balance < paid):
            raise InsufficientCredits
        if paid and spending.user_id is not None:
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
        if free:
            self._journal.put(free_credits, spending.network, left - free)
        return Charge(free=free, paid=paid, free_left=left - free, balance=balance)


class MemoryFreeCreditRepository(_Repository):
    """Free credits left per client network; a network never seen has the initial amount."""

    async def remaining(self, network: str, initial: int) -> int:
        return self._store.free_credits.get(network, initial)

    async def take(self, network: str, amount: int, initial: int) -> int:
        left = self._store.free_credits.get(network, initial)
        taken = min(left, amount)
        if taken > 0:
            self._journal.put(self._store.free_credits, network, left - taken)
        return taken

    async def give_back(self, network: str, amount: int, initial: int) -> None:
        left = self._store.free_credits.get(network, initial)
        self._journal.put(self._store.free_credits, network, left + amount)


class MemoryJobRepository(_Repository):
    """Jobs, with the unfinished ones indexed in creation order for claiming."""

    async def add(self, job: Job) -> None:
        self._journal.put(self._store.jobs, job.id, job)
        self._index(job)

    async def update(self, job: Job) -> None:
        self._journal.put(self._store.jobs, job.id, job)
        self._index(job)

    async def find(self, job_id: UUID) -> Job | None:
        return self._store.jobs.get(job_id)

    async def find_for_update(self, job_id: UUID) -> Job | None:
        """The store's lock already keeps every other unit of work out."""
        return self._store.jobs.get(job_id)

    async def queue_stats(self) -> tuple[int, datetime | None]:
        queued = [
            job
            for job in map(self._store.jobs.__getitem__, self._store.pending_job_ids)
            if job.status is JobStatus.QUEUED
        ]
        return len(queued), min((job.created_at for job in queued), default=None)

    async def claim_next(self, worker_id: str, now: datetime, lease_until: datetime) -> Job | None:
        """The oldest due job (by creation time), leased to ``worker_id``."""
        due = [
            job
            for job in map(self._store.jobs.__getitem__, self._store.pending_job_ids)
            if _is_due(job, now)
        ]
        if not due:
            return None
        job = min(due, key=lambda j: j.created_at)
        claimed = msgspec.structs.replace(
            job,
            status=JobStatus.RUNNING,
            attempts=job.attempts + 1,
            lease_owner=worker_id,
            lease_expires_at=lease_until,
            updated_at=now,
        )
        self._journal.put(self._store.jobs, job.id, claimed)
        return claimed

    async def claim_next_with_photo(
        self, worker_id: str, now: datetime, lease_until: datetime
    ) -> tuple[Job, StoredImage | None] | None:
        job = await self.claim_next(worker_id, now, lease_until)
        if job is None:
            return None
        photo = self._store.images.get(job.input_image_id) if job.input_image_id else None
        return job, photo

    async def complete(
        self,
        job_id: UUID,
        worker_id: str,
        output: StoredImage,
        now: datetime,
        *,
        incident_source: str,
    ) -> tuple[Job, Incident | None] | None:
        job = self._store.jobs.get(job_id)
        if job is None or job.status is not JobStatus.RUNNING or job.lease_owner != worker_id:
            return None
        self._journal.put(self._store.images, output.id, output)
        if job.input_image_id:
            self._journal.pop(self._store.images, job.input_image_id)
        done = msgspec.structs.replace(
            job,
            status=JobStatus.SUCCEEDED,
            output_image_id=output.id,
            input_image_id=None,
            error=None,
            updated_at=now,
            lease_owner=None,
            lease_expires_at=None,
        )
        await self.update(done)
        ended = self._store.incidents.get(incident_source)
        self._journal.pop(self._store.incidents, incident_source)
        return done, ended

    async def extend_lease(self, job_id: UUID, worker_id: str, lease_until: datetime) -> bool:
        job = self._store.jobs.get(job_id)
        if job is None or job.status is not JobStatus.RUNNING or job.lease_owner != worker_id:
            return False
        self._journal.put(
            self._store.jobs, job_id, msgspec.structs.replace(job, lease_expires_at=lease_until)
        )
        return True

    async def finished_before(self, cutoff: datetime, limit: int) -> list[Job]:
        found: list[Job] = []
        for job in self._store.jobs.values():
            if len(found) >= limit:
                break
            if job.status.is_finished and job.output_image_id and job.updated_at < cutoff:
                found.append(job)
        return found

    async def list_for_owner(self, owner_id: UUID, *, limit: int, before: Job | None) -> list[Job]:
        mine = sorted(
            (job for job in self._store.jobs.values() if job.owner_id == owner_id),
            key=_order,
            reverse=True,
        )
        if before is not None:
            mine = [job for job in mine if _order(job) < _order(before)]
        return mine[: max(limit, 0)]

    def _index(self, job: Job) -> None:
        if job.status.is_finished:
            self._journal.pop(self._store.pending_job_ids, job.id)
        elif job.id not in self._store.pending_job_ids:
            self._journal.put(self._store.pending_job_ids, job.id, None)


def _order(job: Job) -> tuple[datetime, bytes]:
    """Jobs in creation order, ties broken by id as PostgreSQL compares uuids (bytewise)."""
    return (job.created_at, job.id.bytes)


def _is_due(job: Job, now: datetime) -> bool:
    if job.status is JobStatus.QUEUED:
        return job.available_at <= now
    if job.status is JobStatus.RUNNING:
        return job.lease_expires_at is None or job.lease_expires_at <= now
    return False


class MemoryImageRepository(_Repository):
    """Image bytes by id."""

    async def add(self, image: StoredImage) -> None:
        self._journal.put(self._store.images, image.id, image)

    async def find(self, image_id: UUID) -> StoredImage | None:
        return self._store.images.get(image_id)

    async def delete(self, image_id: UUID) -> None:
        self._journal.pop(self._store.images, image_id)


class MemoryIncidentRepository(_Repository):
    """Open incidents by source."""

    async def open(self, incident: Incident) -> bool:
        if incident.source in self._store.incidents:
            return False
        self._journal.put(self._store.incidents, incident.source, incident)
        return True

    async def close(self, source: str) -> Incident | None:
        incident = self._store.incidents.get(source)
        self._journal.pop(self._store.incidents, source)
        return incident

    async def list_open(self) -> list[Incident]:
        return sorted(self._store.incidents.values(), key=lambda incident: incident.started_at)


class MemoryPurchaseRepository(_Repository):
    """Purchases in creation order, indexed by their payment; reversals by payment."""

    async def add(self, purchase: Purchase) -> None:
        self._journal.put(self._store.purchases, purchase.id, purchase)
        self._index(purchase)

    async def update(self, purchase: Purchase) -> None:
        self._journal.put(self._store.purchases, purchase.id, purchase)
        self._index(purchase)

    async def find(self, purchase_id: UUID) -> Purchase | None:
        return self._store.purchases.get(purchase_id)

    async def find_for_update(self, purchase_id: UUID) -> Purchase | None:
        """The store's lock already keeps every other unit of work out."""
        return self._store.purchases.get(purchase_id)

    async def find_by_payment_for_update(self, payment_intent_id: str) -> Purchase | None:
        purchase_id = self._store.purchase_ids_by_payment.get(payment_intent_id)
        return self._store.purchases.get(purchase_id) if purchase_id else None

    async def list_recent(self, user_id: UUID | None, limit: int) -> list[Purchase]:
        found: list[Purchase] = []
        for purchase in reversed(self._store.purchases.values()):
            if len(found) >= limit:
                break
            if user_id is None or purchase.user_id == user_id:
                found.append(purchase)
        return found

    async def lock_payment(self, payment_intent_id: str) -> None:
        """The store's lock already serialises every unit of work."""

    async def add_reversal(self, reversal: PaymentReversal) -> bool:
        if reversal.payment_intent_id in self._store.payment_reversals:
            return False
        self._journal.put(self._store.payment_reversals, reversal.payment_intent_id, reversal)
        return True

    async def find_reversal(self, payment_intent_id: str) -> PaymentReversal | None:
        return self._store.payment_reversals.get(payment_intent_id)

    def _index(self, purchase: Purchase) -> None:
        if purchase.payment_intent_id:
            self._journal.put(
                self._store.purchase_ids_by_payment, purchase.payment_intent_id, purchase.id
            )


class MemoryIdempotencyRepository(_Repository):
    """Idempotency records by (scope, key)."""

    async def claim(self, scope: str, claim: KeyClaim) -> IdempotencyRecord | None:
        entry = self._store.idempotency.get((scope, claim.key))
        if entry is not None:
            pending_and_stale = (
                entry.record.response is None and entry.created_at <= claim.stale_before
            )
            if entry.expires_at > claim.now and not pending_and_stale:
                return entry.record
        pending = IdempotencyRecord(fingerprint=claim.fingerprint, response=None)
        self._journal.put(
            self._store.idempotency,
            (scope, claim.key),
            IdempotencyEntry(record=pending, created_at=claim.now, expires_at=claim.expires_at),
        )
        return None

    async def complete(self, scope: str, key: str, response: StoredResponse) -> None:
        entry = self._store.idempotency.get((scope, key))
        if entry is not None:
            record = msgspec.structs.replace(entry.record, response=response)
            self._journal.put(
                self._store.idempotency, (scope, key), dataclasses.replace(entry, record=record)
            )

    async def release(self, scope: str, key: str) -> None:
        entry = self._store.idempotency.get((scope, key))
        if entry is not None and entry.record.response is None:
            self._journal.pop(self._store.idempotency, (scope, key))

    async def purge_expired(self, now: datetime) -> int:
        expired = [k for k, e in self._store.idempotency.items() if e.expires_at <= now]
        for k in expired:
            self._journal.pop(self._store.idempotency, k)
        return len(expired)
