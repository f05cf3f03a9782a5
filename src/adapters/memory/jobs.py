"""In-memory jobs and the images they use and make."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import msgspec

from adapters.memory.store import MemoryRepository
from picpaygo_core.models import Incident, Job, JobMark, JobStatus, StoredImage
from picpaygo_core.models.jobs import visible_state


class MemoryJobRepository(MemoryRepository):
    """Jobs, with the unfinished ones indexed in creation order for claiming."""

    async def add(self, job: Job) -> None:
        self._put(job)
        self._index(job)

    async def update(self, job: Job) -> None:
        self._put(job)
        self._index(job)

    async def find(self, job_id: UUID) -> Job | None:
        return self._store.jobs.get(job_id)

    async def find_for_update(self, job_id: UUID) -> Job | None:
        """The store's lock already keeps every other unit of work out."""
        return self._store.jobs.get(job_id)

    async def erase_for_owner(self, owner_id: UUID) -> tuple[int, list[str]]:
        theirs = [job for job in self._store.jobs.values() if job.owner_id == owner_id]
        keys = []
        for job in theirs:
            self._journal.pop(self._store.jobs, job.id)
            self._journal.pop(self._store.pending_job_ids, job.id)
            for image_id in (job.input_image_id, job.output_image_id):
                image = self._store.images.get(image_id) if image_id is not None else None
                if image is not None:
                    keys.append(image.key)
                    self._journal.pop(self._store.images, image.id)
        return len(theirs), sorted(keys)

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
        self._put(claimed)
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

    def _put(self, job: Job) -> None:
        """Store ``job``; its followers hear of a visible change when the unit commits."""
        before = self._store.jobs.get(job.id)
        self._journal.put(self._store.jobs, job.id, job)
        if before is None or visible_state(before) != visible_state(job):
            changes, mark = self._store.job_changes, JobMark.of(job)
            self._journal.on_commit(lambda: changes.announce(job.id, mark))

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


class MemoryImageRepository(MemoryRepository):
    """Image records by id (their bytes are the picture store's)."""

    async def add(self, image: StoredImage) -> None:
        self._journal.put(self._store.images, image.id, image)

    async def find(self, image_id: UUID) -> StoredImage | None:
        return self._store.images.get(image_id)

    async def delete(self, image_id: UUID) -> str | None:
        image = self._store.images.get(image_id)
        self._journal.pop(self._store.images, image_id)
        return image.key if image else None

    async def existing_keys(self, keys: Sequence[str]) -> set[str]:
        wanted = set(keys)
        return {image.key for image in self._store.images.values() if image.key in wanted}
