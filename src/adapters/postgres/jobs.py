"""PostgreSQL jobs, claimed with ``FOR UPDATE SKIP LOCKED`` so workers never collide, and
the records of the images they read and make (their bytes are the picture store's)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from adapters.postgres.rows import PostgresRepository, struct_of
from picpaygo_core.models import Incident, Job, StoredImage

JOB_COLUMNS = (
    "id, category, status, owner_id, client_network, credit_source, input_image_id, "
    "output_image_id, error, attempts, created_at, updated_at, available_at, "
    "lease_owner, lease_expires_at, refunded"
)
# Workers listen on this channel; a new job notifies it (delivered at commit).
JOBS_CHANNEL = "picpaygo_jobs"

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

# A worker's claim: ``CLAIM_NEXT_SQL`` and the claimed job's photo (its columns prefixed
# with ``photo_``, NULLs when it is gone) in one statement, atomic on its own.
CLAIM_WITH_PHOTO_SQL = (
    "WITH claimed AS (\n"
    + CLAIM_NEXT_SQL
    + """)
SELECT claimed.*, i.id AS photo_id, i.key AS photo_key, i.size AS photo_size,
       i.content_type AS photo_content_type, i.created_at AS photo_created_at
FROM claimed LEFT JOIN images i ON i.id = claimed.input_image_id
"""
)

# A job's success in one statement: if the job still runs under this worker's lease, lock
# it, store the output, mark the job succeeded, delete its photo and close the image
# model's incident; no row otherwise (and nothing changed). The incident's columns
# (prefixed with ``incident_``) are NULL when none was open.
COMPLETE_JOB_SQL = """
WITH mine AS (
    SELECT id, input_image_id FROM jobs
    WHERE id = %(job_id)s AND status = 'running' AND lease_owner = %(worker)s
    FOR UPDATE
), done AS (
    UPDATE jobs SET status = 'succeeded', output_image_id = %(output_id)s,
        input_image_id = NULL, error = NULL, updated_at = %(now)s,
        lease_owner = NULL, lease_expires_at = NULL
    FROM mine WHERE jobs.id = mine.id
    RETURNING {columns}
), output AS (
    INSERT INTO images (id, key, size, content_type, created_at)
    SELECT %(output_id)s, %(key)s, %(size)s, %(content_type)s, %(created_at)s FROM mine
), photo AS (
    DELETE FROM images WHERE id = (SELECT input_image_id FROM mine)
), ended AS (
    DELETE FROM incidents WHERE source = %(incident)s AND EXISTS (SELECT 1 FROM mine)
    RETURNING source, message, started_at
)
SELECT done.*, ended.source AS incident_source, ended.message AS incident_message,
       ended.started_at AS incident_started_at
FROM done LEFT JOIN ended ON true
"""

_JOB_BY_ID = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = %s".encode()
_CLAIM_NEXT = CLAIM_NEXT_SQL.format(columns=JOB_COLUMNS).encode()
_CLAIM_WITH_PHOTO = CLAIM_WITH_PHOTO_SQL.format(columns=JOB_COLUMNS).encode()
_COMPLETE_JOB = COMPLETE_JOB_SQL.format(
    columns=", ".join(f"jobs.{column}" for column in JOB_COLUMNS.split(", "))
).encode()


class PostgresJobRepository(PostgresRepository):
    """Jobs, claimed with ``FOR UPDATE SKIP LOCKED`` so workers never collide."""

    async def add(self, job: Job) -> None:
        """Insert a job; its trigger (migration 0007) notifies the listening processes
        when the transaction commits, which wakes a worker."""
        await self._db.execute(
            f"""
            INSERT INTO jobs ({JOB_COLUMNS})
            VALUES (%(id)s, %(category)s, %(status)s, %(owner_id)s, %(client_network)s,
                    %(credit_source)s, %(input_image_id)s, %(output_image_id)s, %(error)s,
                    %(attempts)s, %(created_at)s, %(updated_at)s, %(available_at)s,
                    %(lease_owner)s, %(lease_expires_at)s, %(refunded)s)
            """.encode(),
            _job_params(job),
        )

    async def update(self, job: Job) -> None:
        await self._db.execute(
            b"""
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
        return await self._one(Job, _JOB_BY_ID, (job_id,))

    async def find_for_update(self, job_id: UUID) -> Job | None:
        return await self._one(Job, _JOB_BY_ID + b" FOR UPDATE", (job_id,), changes=True)

    async def claim_next(self, worker_id: str, now: datetime, lease_until: datetime) -> Job | None:
        """Lease the oldest due job: queued and available, or running with a lapsed lease."""
        return await self._one(
            Job,
            _CLAIM_NEXT,
            {"worker": worker_id, "now": now, "lease_until": lease_until},
            changes=True,
        )

    async def claim_next_with_photo(
        self, worker_id: str, now: datetime, lease_until: datetime
    ) -> tuple[Job, StoredImage | None] | None:
        """One statement (``CLAIM_WITH_PHOTO_SQL``)."""
        row = await self._db.fetch_one(
            _CLAIM_WITH_PHOTO,
            {"worker": worker_id, "now": now, "lease_until": lease_until},
            changes=True,
        )
        if row is None:
            return None
        photo = struct_of(StoredImage, row, "photo_") if row["photo_id"] is not None else None
        return struct_of(Job, row), photo

    async def complete(
        self,
        job_id: UUID,
        worker_id: str,
        output: StoredImage,
        now: datetime,
        *,
        incident_source: str,
    ) -> tuple[Job, Incident | None] | None:
        """One statement (``COMPLETE_JOB_SQL``)."""
        row = await self._db.fetch_one(
            _COMPLETE_JOB,
            {
                "job_id": job_id,
                "worker": worker_id,
                "now": now,
                "output_id": output.id,
                "key": output.key,
                "size": output.size,
                "content_type": output.content_type,
                "created_at": output.created_at,
                "incident": incident_source,
            },
            changes=True,
        )
        if row is None:
            return None
        ended = row["incident_source"] is not None
        return struct_of(Job, row), struct_of(Incident, row, "incident_") if ended else None

    async def extend_lease(self, job_id: UUID, worker_id: str, lease_until: datetime) -> bool:
        row = await self._db.fetch_one(
            b"UPDATE jobs SET lease_expires_at = %s "
            b"WHERE id = %s AND status = 'running' AND lease_owner = %s RETURNING id",
            (lease_until, job_id, worker_id),
            changes=True,
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
            """.encode(),
            (cutoff, limit),
            changes=True,
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

    async def erase_for_owner(self, owner_id: UUID) -> tuple[int, list[str]]:
        """One statement: the jobs and every image record they name."""
        row = await self._db.fetch_one(
            b"""
            WITH gone AS (
                DELETE FROM jobs WHERE owner_id = %s RETURNING input_image_id, output_image_id
            ), images_gone AS (
                DELETE FROM images WHERE id IN (
                    SELECT input_image_id FROM gone UNION SELECT output_image_id FROM gone
                )
                RETURNING key
            )
            SELECT (SELECT count(*) FROM gone) AS jobs,
                   ARRAY(SELECT key FROM images_gone ORDER BY key) AS keys
            """,
            (owner_id,),
            changes=True,
        )
        return (int(row["jobs"]), list(row["keys"])) if row else (0, [])

    async def queue_stats(self) -> tuple[int, datetime | None]:
        """Read on the partial index of queued jobs."""
        row = await self._db.fetch_one(
            b"SELECT count(*), min(created_at) AS oldest FROM jobs WHERE status = 'queued'"
        )
        if row is None:
            return 0, None
        return int(row["count"]), row["oldest"]


def _job_params(job: Job) -> dict[str, Any]:
    params = msgspec.structs.asdict(job)
    for name in ("category", "status", "credit_source"):
        params[name] = str(params[name])
    return params


class PostgresImageRepository(PostgresRepository):
    """Image records: key, size and content type (their bytes are the picture store's)."""

    async def add(self, image: StoredImage) -> None:
        await self._db.execute(
            b"INSERT INTO images (id, key, size, content_type, created_at) "
            b"VALUES (%(id)s, %(key)s, %(size)s, %(content_type)s, %(created_at)s)",
            msgspec.structs.asdict(image),
        )

    async def find(self, image_id: UUID) -> StoredImage | None:
        return await self._one(
            StoredImage,
            b"SELECT id, key, size, content_type, created_at FROM images WHERE id = %s",
            (image_id,),
        )

    async def delete(self, image_id: UUID) -> str | None:
        row = await self._db.fetch_one(
            b"DELETE FROM images WHERE id = %s RETURNING key", (image_id,), changes=True
        )
        return str(row["key"]) if row else None

    async def existing_keys(self, keys: Sequence[str]) -> set[str]:
        rows = await self._db.fetch_all(
            b"SELECT key FROM images WHERE key = ANY(%s)", (list(keys),)
        )
        return {str(row["key"]) for row in rows}
