"""Asking for a restyled picture, and following the job until it is ready."""

from __future__ import annotations

import asyncio
import uuid
from uuid import UUID

from picpaygo_core.errors import (
    ImageNotFound,
    ImageTooLarge,
    InsufficientCredits,
    JobNotFound,
    NotAuthenticated,
    UnsupportedImage,
)
from picpaygo_core.models import (
    Caller,
    CreditSource,
    Job,
    JobStatus,
    StoredImage,
)
from picpaygo_core.policy import Policy
from picpaygo_core.ports import Clock, ImageInspector, JobWakeup, UnitOfWork, UnitOfWorkFactory
from picpaygo_core.ports.telemetry import NO_TELEMETRY, Telemetry
from picpaygo_core.services.idempotency import Recorder
from picpaygo_core.services.ledger import credits_view, spending_of
from picpaygo_core.validation import parse_category

MAX_JOBS_PER_PAGE = 100


class GenerationService:
    """Use cases a client runs on generation jobs."""

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        inspector: ImageInspector,
        wakeup: JobWakeup,
        clock: Clock,
        policy: Policy,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self._telemetry = telemetry
        self._uow_factory = uow_factory
        self._inspector = inspector
        self._decoding = asyncio.Semaphore(policy.image_decoders)
        self._wakeup = wakeup
        self._clock = clock
        self._policy = policy

    async def create_job(
        self,
        caller: Caller,
        *,
        category: str,
        image: bytes,
        recorder: Recorder[Job] | None = None,
        credits: int | None = None,
    ) -> Job:
        """Queue a photo for restyling and charge one credit for it, in one transaction.

        Raises ``InvalidCategory``, ``ImageTooLarge``, ``UnsupportedImage`` (checked by the
        file's content) before anything is charged, and ``InsufficientCredits`` when the
        caller has no credit left; in every failure nothing is stored or spent.
        ``credits``: what the caller could spend when let in (``admit``); without it,
        they are read before the photo is decoded. Either way the charge decides.
        """
        parsed_category = parse_category(category)
        if not image:
            raise UnsupportedImage("The uploaded file is empty.")
        if len(image) > self._policy.max_upload_bytes:
            limit = _human_size(self._policy.max_upload_bytes)
            raise ImageTooLarge(f"The image is larger than the {limit} limit.")
        self._inspector.read_header(image)  # format and size; no pixel decoded yet
        if credits is None:
            await self._check_credit(caller)
        elif credits < 1:
            raise InsufficientCredits
        async with self._decoding:  # a bounded number of full decodes at once, in threads
            clean = await asyncio.to_thread(self._inspector.clean, image)
        info, image = clean.info, clean.data
        now = self._clock.now()
        job_id = uuid.uuid4()
        async with self._uow_factory() as uow:
            charge = await uow.credits.spend(
                spending_of(
                    caller,
                    amount=1,
                    free_credits=self._policy.free_credits,
                    reason="generation",
                    now=now,
                    job_id=job_id,
                )
            )
            stored = StoredImage(
                id=uuid.uuid4(), data=image, content_type=info.content_type, created_at=now
            )
            await uow.images.add(stored)
            job = Job(
                id=job_id,
                category=parsed_category,
                status=JobStatus.QUEUED,
                owner_id=caller.user.id if caller.user else None,
                client_network=caller.client_network,
                credit_source=CreditSource.FREE if charge.free else CreditSource.PAID,
                input_image_id=stored.id,
                output_image_id=None,
                error=None,
                attempts=0,
                created_at=now,
                updated_at=now,
                available_at=now,
            )
            await uow.jobs.add(job)
            if recorder is not None:
                await recorder(uow, job)
            await uow.commit()
        self._telemetry.job_created()
        self._telemetry.credits_moved("spent", 1)
        self._wakeup.notify()
        return job

    async def _check_credit(self, caller: Caller) -> None:
        """Refuse a caller without any credit before the photo costs any decoding.

        The charge itself happens later, in the job's transaction, which stays the
        authority when two uploads race for the last credit.
        """
        async with self._uow_factory() as uow:
            view = await credits_view(uow, caller, self._policy.free_credits)
        if view.credits < 1:
            raise InsufficientCredits

    async def job(self, caller: Caller, job_id: UUID) -> Job:
        """A job the caller may see: its own, or an anonymous one reached by its id."""
        async with self._uow_factory() as uow:
            return await _visible_job(uow, caller, job_id)

    async def jobs(self, caller: Caller, *, limit: int, before: UUID | None = None) -> list[Job]:
        """The signed-in caller's jobs, newest first, at most ``limit`` (1 to 100).

        ``before`` is the id of the last job of the previous page; the page after it
        follows. Anonymous callers have no list (``NotAuthenticated``): their jobs are
        reached by id only. An unknown ``before``, or another user's, is ``JobNotFound``.
        """
        if caller.user is None:
            raise NotAuthenticated("Sign in to list your jobs.")
        limit = min(max(limit, 1), MAX_JOBS_PER_PAGE)
        async with self._uow_factory() as uow:
            after = await _visible_job(uow, caller, before) if before else None
            return await uow.jobs.list_for_owner(caller.user.id, limit=limit, before=after)

    async def output_image(self, caller: Caller, job_id: UUID) -> StoredImage:
        """The generated picture of a finished job the caller may see."""
        async with self._uow_factory() as uow:
            job = await _visible_job(uow, caller, job_id)
            if job.output_image_id is None:
                raise ImageNotFound(_why_no_image(job))
            image = await uow.images.find(job.output_image_id)
        if image is None:
            raise ImageNotFound
        return image


async def _visible_job(uow: UnitOfWork, caller: Caller, job_id: UUID) -> Job:
    """The job, if the caller may see it: its own, or an anonymous one."""
    job = await uow.jobs.find(job_id)
    if job is None:
        raise JobNotFound
    if job.owner_id is not None and (caller.user is None or caller.user.id != job.owner_id):
        raise JobNotFound
    return job


def _why_no_image(job: Job) -> str:
    if job.status is JobStatus.SUCCEEDED:
        return "The picture of this job is no longer kept."
    if job.status is JobStatus.FAILED:
        return "This job failed, so there is no picture."
    return "The picture is not ready yet."


def _human_size(size: int) -> str:
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"
