"""Working off the job queue: claim a job, generate its picture, settle it.

A job is leased to one worker at a time. The worker renews the lease while the image
model works; a worker that dies leaves the lease to lapse, and the job is claimed
again. Settling (success, retry or failure with refund) re-checks the lease inside its
transaction, so a job is never completed twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from datetime import datetime, timedelta

import msgspec

from picpaygo_core.errors import PictureMissing, PictureStoreUnavailable
from picpaygo_core.models import (
    Generated,
    GenerationOutcome,
    Incident,
    Job,
    JobStatus,
    OperatorFailure,
    PermanentFailure,
    Picture,
    StoredImage,
    TransientFailure,
    input_key,
    output_key,
)
from picpaygo_core.policy import Policy
from picpaygo_core.ports import Clock, ImageGenerator, PictureStore, UnitOfWork, UnitOfWorkFactory
from picpaygo_core.ports.telemetry import NO_TELEMETRY, Telemetry
from picpaygo_core.prompts import build_prompt
from picpaygo_core.services.job_reports import report_job
from picpaygo_core.services.ledger import refund_job
from picpaygo_core.services.pictures import forget_object

logger = logging.getLogger(__name__)

REFUNDED = "Your credit was refunded."
FAILED_AFTER_RETRIES = f"The picture could not be generated. {REFUNDED}"
SERVICE_UNAVAILABLE = f"The image service is unavailable right now. {REFUNDED}"
PHOTO_MISSING = f"The uploaded photo is no longer available. {REFUNDED}"
TOO_LATE = f"The picture could not be made in time. {REFUNDED}"
# The picture store is down: the attempt is retried like any transient failure.
STORE_DOWN = TransientFailure(reason="the picture store is unreachable")

# How the generator's answers are counted in telemetry.
_OUTCOME_KINDS: dict[type[GenerationOutcome], str] = {
    Generated: "generated",
    TransientFailure: "transient",
    PermanentFailure: "permanent",
    OperatorFailure: "operator",
}

# The incident source (and /api/health check name) for image-model problems.
GENERATOR_INCIDENT = "imageGenerator"


class JobProcessor:
    """Processes queued generation jobs, one call of ``process_next`` per job."""

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        generator: ImageGenerator,
        pictures: PictureStore,
        clock: Clock,
        policy: Policy,
        rng: random.Random | None = None,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self._telemetry = telemetry
        self._uow_factory = uow_factory
        self._pictures = pictures
        self._generator = generator
        self._clock = clock
        self._policy = policy
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        # A worker takes a slot before claiming a job, so one waiting for a slot holds no
        # lease and spends none of the job's timeout.
        self._generator_slots = asyncio.Semaphore(policy.generator_concurrency)
        self._closed = False

    def close(self) -> None:
        """Claim no more jobs (shutdown): ``process_next`` returns None from now on."""
        self._closed = True

    async def process_next(self, worker_id: str | None = None) -> Job | None:
        """Claim the next due job and take it as far as it goes; None when none is due.

        Returns the job as settled: succeeded, failed, queued again for a retry, or
        still running when the lease was lost to another worker.
        """
        worker_id = worker_id or f"worker-{uuid.uuid4()}"
        async with self._generator_slots:
            if self._closed:
                return None
            claimed = await self._claim(worker_id)
            if claimed is None:
                return None
            started = time.monotonic()
            job, photo = claimed
            try:
                settled = await self._work_on(job, photo, worker_id)
            except asyncio.CancelledError:
                # Shutdown past its grace: give the job back so another worker takes it
                # over at once, instead of after the lease.
                handed_back = await asyncio.shield(self._hand_back(job, worker_id))
                self._report(job, handed_back, time.monotonic() - started)
                raise
        self._report(job, settled, time.monotonic() - started)
        return settled

    async def _hand_back(self, job: Job, worker_id: str) -> Job:
        """Queue a job this worker is still running again, available at once, its attempt
        not counted. Left to its lease when the storage cannot be reached."""
        try:
            return await self._requeue(job, worker_id, delay=0.0, count_attempt=False)
        except Exception:
            logger.warning(
                "could not hand back job %s; its lease will lapse", job.id, exc_info=True
            )
            return job

    async def _work_on(self, job: Job, photo: StoredImage | None, worker_id: str) -> Job:
        if job.attempts > self._policy.job_max_attempts:
            return await self._fail(job, worker_id, FAILED_AFTER_RETRIES)
        if photo is None:
            return await self._fail(job, worker_id, PHOTO_MISSING)
        time_left = (self._deadline(job) - self._clock.now()).total_seconds()
        if time_left <= 0:
            return await self._fail(job, worker_id, TOO_LATE)
        timeout = min(self._policy.job_timeout_seconds, time_left)
        try:
            data = await self._pictures.get(photo.key)
        except PictureMissing:
            return await self._fail(job, worker_id, PHOTO_MISSING)
        except PictureStoreUnavailable:
            return await self._settle(job, worker_id, STORE_DOWN)
        picture = Picture(data=data, content_type=photo.content_type)
        outcome = await self._generate_keeping_lease(job, picture, worker_id, timeout)
        return await self._settle(job, worker_id, outcome)

    def _report(self, claimed: Job, settled: Job, seconds: float) -> None:
        report_job(logger, self._telemetry, claimed, settled, seconds)

    def _deadline(self, job: Job) -> datetime:
        """When the job must be finished: no attempt runs, and no retry starts, after it."""
        return job.created_at + timedelta(seconds=self._policy.job_deadline_seconds)

    async def _claim(self, worker_id: str) -> tuple[Job, StoredImage | None] | None:
        now = self._clock.now()
        lease_until = now + timedelta(seconds=self._policy.job_lease_seconds)
        async with self._uow_factory() as uow:
            claimed = await uow.jobs.claim_next_with_photo(worker_id, now, lease_until)
            await uow.commit()
        return claimed

    async def _generate_keeping_lease(
        self, job: Job, photo: Picture, worker_id: str, time_limit: float
    ) -> GenerationOutcome:
        # The lease is renewed only by calls that outlast a third of it: the renewing task
        # starts from a timer, so a quick call costs a timer, not a task.
        renewal: list[asyncio.Task[None]] = []
        timer = asyncio.get_running_loop().call_later(
            self._policy.job_lease_seconds / 3,
            lambda: renewal.append(asyncio.create_task(self._renew_lease(job, worker_id))),
        )
        started = time.monotonic()
        kind: str | None = None  # stays None when the call is cancelled (shutdown)
        try:
            async with asyncio.timeout(time_limit):
                outcome = await self._generator.generate(
                    prompt=build_prompt(job.category),
                    category=job.category,
                    image=photo.data,
                    content_type=photo.content_type,
                )
            kind = _OUTCOME_KINDS[type(outcome)]
            return outcome
        except TimeoutError:
            kind = "timeout"
            return TransientFailure(reason="the image model did not answer in time")
        except Exception:
            kind = "transient"
            logger.exception("image generator %s raised on job %s", self._generator.name, job.id)
            return TransientFailure(reason="the image generator failed unexpectedly")
        finally:
            if kind is not None:
                self._telemetry.generator_called(kind, time.monotonic() - started)
            timer.cancel()
            for task in renewal:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _lease_renewed(self, job: Job, worker_id: str) -> bool:
        """Renew the lease for a whole lease period, if the job is still this worker's."""
        lease_until = self._clock.now() + timedelta(seconds=self._policy.job_lease_seconds)
        async with self._uow_factory() as uow:
            kept = await uow.jobs.extend_lease(job.id, worker_id, lease_until)
            await uow.commit()
        return kept

    async def _renew_lease(self, job: Job, worker_id: str) -> None:
        """Extend the lease now, then every third of it, until cancelled or lost."""
        interval = self._policy.job_lease_seconds / 3
        while True:
            lease_until = self._clock.now() + timedelta(seconds=self._policy.job_lease_seconds)
            try:
                async with self._uow_factory() as uow:
                    kept = await uow.jobs.extend_lease(job.id, worker_id, lease_until)
                    await uow.commit()
            except Exception:
                # Keep generating: settling re-checks the lease, so a lost one is caught there.
                logger.warning("could not renew the lease of job %s", job.id, exc_info=True)
            else:
                if not kept:
                    logger.warning("worker %s lost the lease of job %s", worker_id, job.id)
                    return
            await asyncio.sleep(interval)

    async def _settle(self, job: Job, worker_id: str, outcome: GenerationOutcome) -> Job:
        match outcome:
            case Generated():
                return await self._succeed(job, worker_id, outcome)
            case TransientFailure():
                delay = self.retry_delay(job.attempts, outcome.retry_after)
                retry_at = self._clock.now() + timedelta(seconds=delay)
                if job.attempts < self._policy.job_max_attempts and retry_at < self._deadline(job):
                    return await self._retry_later(job, worker_id, outcome, delay)
                logger.warning(
                    "job %s failed after %d attempts: %s", job.id, job.attempts, outcome.reason
                )
                return await self._fail(job, worker_id, FAILED_AFTER_RETRIES)
            case PermanentFailure():
                logger.info("job %s refused by the image model: %s", job.id, outcome.message)
                refused = f"{outcome.message.rstrip('.')}. {REFUNDED}"
                return await self._fail(job, worker_id, refused)
            case OperatorFailure():
                return await self._fail(
                    job, worker_id, SERVICE_UNAVAILABLE, operator_problem=outcome.message
                )

    async def _succeed(self, job: Job, worker_id: str, result: Generated) -> Job:
        now = self._clock.now()
        key = output_key(job.id, result.content_type)
        if not await self._lease_renewed(job, worker_id):
            # Another worker holds the job now, and writes the same key: leave it alone.
            logger.warning(
                "job %s is no longer leased to %s; dropping this result", job.id, worker_id
            )
            return job
        try:
            await self._pictures.put(key, result.data, result.content_type)
        except PictureStoreUnavailable:
            return await self._settle(job, worker_id, STORE_DOWN)
        output = StoredImage(
            id=uuid.uuid4(),
            key=key,
            size=len(result.data),
            content_type=result.content_type,
            created_at=now,
        )
        async with self._uow_factory() as uow:
            completed = await uow.jobs.complete(
                job.id, worker_id, output, now, incident_source=GENERATOR_INCIDENT
            )
            await uow.commit()
        if completed is None:
            logger.warning(
                "job %s is no longer leased to %s; dropping this result", job.id, worker_id
            )
            return job  # the result's object is the sweep's, unless the new holder rewrites it
        done, ended = completed
        await forget_object(self._pictures, input_key(job.id))
        if ended is not None:
            logger.info(
                "image generator %s works again; the incident open since %s is over",
                self._generator.name,
                ended.started_at.isoformat(timespec="seconds"),
            )
        return done

    async def _retry_later(
        self, job: Job, worker_id: str, failure: TransientFailure, delay: float
    ) -> Job:
        logger.info(
            "job %s attempt %d failed (%s); retrying in %.1fs",
            job.id,
            job.attempts,
            failure.reason,
            delay,
        )
        return await self._requeue(job, worker_id, delay=delay, count_attempt=True)

    async def _requeue(self, job: Job, worker_id: str, *, delay: float, count_attempt: bool) -> Job:
        """Queue a job this worker still holds again, due in ``delay`` seconds; the job
        as it was when another worker holds it now. Without ``count_attempt`` the attempt
        it was on is given back (it did not fail, it was interrupted)."""
        now = self._clock.now()
        async with self._uow_factory() as uow:
            current = await self._still_ours(uow, job, worker_id)
            if current is None:
                return job
            queued = msgspec.structs.replace(
                current,
                status=JobStatus.QUEUED,
                attempts=current.attempts if count_attempt else max(current.attempts - 1, 0),
                available_at=now + timedelta(seconds=delay),
                updated_at=now,
                lease_owner=None,
                lease_expires_at=None,
            )
            await uow.jobs.update(queued)
            await uow.commit()
        return queued

    async def _fail(
        self, job: Job, worker_id: str, message: str, *, operator_problem: str | None = None
    ) -> Job:
        """Fail the job and refund its credit in one transaction. An ``operator_problem``
        also opens an incident (logged at error level once, when it opens)."""
        now = self._clock.now()
        opened = False
        async with self._uow_factory() as uow:
            current = await self._still_ours(uow, job, worker_id)
            if current is None:
                return job
            if operator_problem is not None:
                incident = Incident(
                    source=GENERATOR_INCIDENT, message=operator_problem, started_at=now
                )
                opened = await uow.incidents.open(incident)
            await refund_job(uow, current, free_credits=self._policy.free_credits, now=now)
            photo_key = None
            if current.input_image_id:
                photo_key = await uow.images.delete(current.input_image_id)
            failed = msgspec.structs.replace(
                current,
                status=JobStatus.FAILED,
                error=message,
                input_image_id=None,
                refunded=True,
                updated_at=now,
                lease_owner=None,
                lease_expires_at=None,
            )
            await uow.jobs.update(failed)
            await uow.commit()
        if photo_key is not None:
            await forget_object(self._pictures, photo_key)
        if not current.refunded:
            self._telemetry.credits_moved("refunded", 1)
        if opened:
            logger.error(
                "image generator %s: %s; jobs fail (and are refunded) until this is fixed",
                self._generator.name,
                operator_problem,
            )
        elif operator_problem is not None:
            logger.info("job %s failed: %s (incident already reported)", job.id, operator_problem)
        return failed

    def retry_delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt ``attempt + 1``: the provider's ``Retry-After`` if
        it gave one, else exponential backoff with jitter; never above the configured cap."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self._policy.retry_max_seconds)
        backoff = self._policy.retry_base_seconds * 2.0 ** max(attempt - 1, 0)
        return min(backoff, self._policy.retry_max_seconds) * self._rng.uniform(0.5, 1.0)

    async def _still_ours(self, uow: UnitOfWork, job: Job, worker_id: str) -> Job | None:
        current = await uow.jobs.find_for_update(job.id)
        if current is None or current.status is not JobStatus.RUNNING:
            return None
        if current.lease_owner != worker_id:
            logger.warning(
                "job %s was taken over by %s; dropping this result", job.id, current.lease_owner
            )
            return None
        return current
