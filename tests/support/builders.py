"""Values of the domain model for storage tests: a user, a session, a ledger entry, an
image, a job. Each is valid and new (a fresh id, times at ``START``); keyword arguments
change what a test is about.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import msgspec

from picpaygo_core.models import (
    Category,
    CreditSource,
    Job,
    JobStatus,
    LedgerEntry,
    Purchase,
    PurchaseStatus,
    Session,
    StoredImage,
    User,
)
from support.fakes import START

# The client network of jobs and free credits (a documentation address).
NETWORK = "203.0.113.7"


def a_user(email: str = "ada@example.com", *, google_id: str | None = None) -> User:
    return User(
        id=uuid.uuid4(),
        email=email,
        password_hash="$argon2id$not-a-real-hash",
        name="Ada",
        surname=None,
        is_google_account=google_id is not None,
        google_id=google_id,
        created_at=START,
    )


def a_session(user: User, *, expires_at: datetime = START + timedelta(days=7)) -> Session:
    return Session(
        token_hash=uuid.uuid4().hex, user_id=user.id, created_at=START, expires_at=expires_at
    )


def an_entry(
    user: User,
    amount: int,
    key: str | None = None,
    *,
    job_id: uuid.UUID | None = None,
    at: datetime = START,
) -> LedgerEntry:
    return LedgerEntry(
        id=uuid.uuid4(),
        user_id=user.id,
        amount=amount,
        reason="test",
        actor="test",
        created_at=at,
        job_id=job_id,
        idempotency_key=key,
    )


def an_image(data: bytes = b"photo") -> StoredImage:
    """An image record of ``data`` (whose bytes, under its key, are the picture store's)."""
    image_id = uuid.uuid4()
    return StoredImage(
        id=image_id,
        key=f"images/{image_id}",
        size=len(data),
        content_type="image/jpeg",
        created_at=START,
    )


def a_job(
    image: StoredImage | None = None, *, created_at: datetime = START, **changes: object
) -> Job:
    """A queued free job of ``NETWORK``, created (and available) at ``created_at``."""
    job = Job(
        id=uuid.uuid4(),
        category=Category.PORTRAITS,
        status=JobStatus.QUEUED,
        owner_id=None,
        client_network=NETWORK,
        credit_source=CreditSource.FREE,
        input_image_id=image.id if image else None,
        output_image_id=None,
        error=None,
        attempts=0,
        created_at=created_at,
        updated_at=created_at,
        available_at=created_at,
    )
    return msgspec.structs.replace(job, **changes)


def a_purchase(
    user: User, pack: int = 5, *, created_at: datetime = START, **changes: object
) -> Purchase:
    """A pending purchase of ``pack`` credits by ``user`` at 100 cents a credit."""
    purchase = Purchase(
        id=uuid.uuid4(),
        user_id=user.id,
        pack=pack,
        amount=pack * 100,
        currency="usd",
        status=PurchaseStatus.PENDING,
        created_at=created_at,
        updated_at=created_at,
    )
    return msgspec.structs.replace(purchase, **changes)
