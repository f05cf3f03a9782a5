"""Asking for a restyled picture, and following the job until it is ready."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime
from uuid import UUID

from picpaygo_core.errors import (
    DomainError,
    ImageNotFound,
    ImageTooLarge,
    InsufficientCredits,
    JobNotFound,
    NotAuthenticated,
    PictureMissing,
    StorageUnavailable,
    UnsupportedImage,
)
from picpaygo_core.models import (
    Caller,
    Category,
    CreditSource,
    Job,
    JobStatus,
    Picture,
    PictureLink,
    StoredImage,
    input_key,
)
from picpaygo_core.policy import Policy
from picpaygo_core.ports import (
    Clock,
    ImageInspector,
    JobWakeup,
    PictureStore,
    UnitOfWork,
    UnitOfWorkFactory,
)
from picpaygo_core.ports.telemetry import NO_TELEMETRY, Telemetry
from picpaygo_core.services.idempotency import Recorder
from picpaygo_core.services.ledger import credits_view, spending_of
from picpaygo_core.services.pictures import forget_object
from picpaygo_core.validation import parse_category

logger = logging.getLogger(__name__)

MAX_JOBS_PER_PAGE = 100


class GenerationService:
    """Use cases a client runs on generation jobs."""

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        inspector: ImageInspector,
        pictures: PictureStore,
        wakeup: JobWakeup,
        clock: Clock,
        policy: Policy,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self._telemetry = telemetry
        self._uow_factory = uow_factory
        self._pictures = pictures
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

        The photo is written to the picture store before the job's transaction commits
        (``PictureStoreUnavailable`` when it cannot be: nothing charged, no job); if the
        transaction then fails, the object is deleted again (or swept later, after a crash).
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
        key = input_key(job_id)
        await self._pictures.put(key, image, info.content_type)
        photo = StoredImage(
            id=uuid.uuid4(),
            key=key,
            size=len(image),
            content_type=info.content_type,
            created_at=now,
        )
        try:
            job = await self._store_job(caller, job_id, parsed_category, now, photo, recorder)
        except StorageUnavailable:
            raise  # the commit may have gone through: the orphan sweep decides
        except DomainError:
            await forget_object(self._pictures, key)  # refused before the commit: no job holds it
            raise
        self._telemetry.job_created()
        self._telemetry.credits_moved("spent", 1)
        self._wakeup.notify()
        return job

    async def _store_job(
        self,
        caller: Caller,
        job_id: UUID,
        category: Category,
        now: datetime,
        photo: StoredImage,
        recorder: Recorder[Job] | None,
    ) -> Job:
        """Charge the credit, and store the photo's record and the job, in one transaction."""
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
            await uow.images.add(photo)
            job = Job(
                id=job_id,
                category=category,
                status=JobStatus.QUEUED,
                owner_id=caller.user.id if caller.user else None,
                client_network=caller.client_network,
                credit_source=CreditSource.FREE if charge.free else CreditSource.PAID,
                input_image_id=photo.id,
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

    async def output_image(self, caller: Caller, job_id: UUID) -> Picture | PictureLink:
        """The generated picture of a finished job the caller may see: a link to fetch it
        from the picture store directly when the store gives one, else its bytes."""
        async with self._uow_factory() as uow:
            job = await _visible_job(uow, caller, job_id)
            if job.output_image_id is None:
                raise ImageNotFound(_why_no_image(job))
            image = await uow.images.find(job.output_image_id)
        if image is None:
            raise ImageNotFound
        url = await self._pictures.download_url(image.key)
        if url is not None:
            return PictureLink(url=url)
        try:
            data = await self._pictures.get(image.key)
        except PictureMissing:
            raise ImageNotFound(_why_no_image(job)) from None
        return Picture(data=data, content_type=image.content_type)


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
