"""Generation jobs and what the image model made of them."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import msgspec

from picpaygo_core.models.credits import CreditSource


class Category(enum.StrEnum):
    """The looks a photo can be restyled into."""

    PORTRAITS = "portraits"
    EDITORIAL = "editorial"
    DOCUMENTARY = "documentary"


class JobStatus(enum.StrEnum):
    """Where a generation job is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_finished(self) -> bool:
        """A finished job never changes again."""
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED)


class Job(msgspec.Struct, frozen=True, kw_only=True):
    """A request to restyle one photo, charged one credit when created."""

    id: UUID
    category: Category
    status: JobStatus
    owner_id: UUID | None
    client_network: str
    credit_source: CreditSource
    input_image_id: UUID | None
    output_image_id: UUID | None
    error: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    available_at: datetime
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    refunded: bool = False


class JobMark(msgspec.Struct, frozen=True, kw_only=True):
    """A job's status at a moment, as its change was announced: enough to tell of a
    state the job has already left (an unfinished job has no output and no error)."""

    status: JobStatus
    updated_at: datetime

    @classmethod
    def of(cls, job: Job) -> JobMark:
        return cls(status=job.status, updated_at=job.updated_at)


def visible_state(job: Job) -> tuple[object, ...]:
    """What a job's status answer shows of it: a change here is one its followers hear of."""
    return (job.status, job.output_image_id is not None, job.error, job.updated_at, job.category)


class Generated(msgspec.Struct, frozen=True, kw_only=True, tag="generated"):
    """The generator produced a picture."""

    data: bytes
    content_type: str


class TransientFailure(msgspec.Struct, frozen=True, kw_only=True, tag="transient"):
    """A failure that may pass: try again later (after ``retry_after`` seconds if given)."""

    reason: str
    retry_after: float | None = None


class PermanentFailure(msgspec.Struct, frozen=True, kw_only=True, tag="permanent"):
    """This job cannot succeed; ``message`` is shown to the person."""

    message: str


class OperatorFailure(msgspec.Struct, frozen=True, kw_only=True, tag="operator"):
    """The service is misconfigured (bad key, provider out of funds): not the person's fault."""

    message: str


GenerationOutcome = Generated | TransientFailure | PermanentFailure | OperatorFailure
