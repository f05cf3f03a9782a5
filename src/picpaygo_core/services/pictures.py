"""Looking after the picture store: deleting what no job needs, sweeping orphans, and
moving pictures from one store to another (``picpaygo pictures migrate``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import msgspec

from picpaygo_core.errors import PictureMissing
from picpaygo_core.models import StoredObject
from picpaygo_core.ports import Clock, PictureStore, UnitOfWorkFactory

logger = logging.getLogger(__name__)

# The prefixes of the keys the service writes (``input_key`` and ``output_key``). Photos
# are few (each lives as long as its job); results are kept for the retention period, so
# they are listed less often: an orphan result is rare (a worker that died between its
# write and the job's completion, of a job that then failed).
INPUTS, OUTPUTS = "inputs/", "outputs/"
OUTPUTS_SWEPT_EVERY = timedelta(hours=1)
# An object no stored image names is an orphan once it is this old: an upload's job
# commits within seconds of its photo, a worker's result within its job's deadline.
ORPHAN_AGE = timedelta(hours=1)
SWEEP_BATCH = 100


async def forget_object(pictures: PictureStore, key: str) -> None:
    """Delete an object that nothing holds any more. A failure is only logged: the
    object is then an orphan, which the sweep deletes later."""
    try:
        await pictures.delete(key)
    except Exception as exc:
        logger.warning("could not delete picture %s (%s); the orphan sweep will", key, exc)


class OrphanSweep:
    """Deletes objects that no stored image names and that are older than ``ORPHAN_AGE``:
    photos whose job never committed (a crash, or the database lost between the two
    writes), results of jobs that ended without them, and deletions that failed."""

    def __init__(
        self, *, uow_factory: UnitOfWorkFactory, pictures: PictureStore, clock: Clock
    ) -> None:
        self._uow_factory = uow_factory
        self._pictures = pictures
        self._clock = clock
        self._outputs_swept_at: datetime | None = None

    async def sweep(self) -> int:
        """One pass over the photos, and over the results when they were last swept
        ``OUTPUTS_SWEPT_EVERY`` ago (or never); returns how many objects went."""
        now = self._clock.now()
        cutoff = now - ORPHAN_AGE
        prefixes = [INPUTS]
        last = self._outputs_swept_at
        if last is None or now - last >= OUTPUTS_SWEPT_EVERY:
            prefixes.append(OUTPUTS)
            self._outputs_swept_at = now
        swept = 0
        for prefix in prefixes:
            batch: list[StoredObject] = []
            async for stored in self._pictures.objects(prefix):
                if stored.created_at < cutoff:
                    batch.append(stored)
                if len(batch) >= SWEEP_BATCH:
                    swept += await self._delete_orphans(batch)
                    batch = []
            if batch:
                swept += await self._delete_orphans(batch)
        if swept:
            logger.info("swept %d orphan pictures", swept)
        return swept

    async def _delete_orphans(self, candidates: list[StoredObject]) -> int:
        async with self._uow_factory() as uow:
            held = await uow.images.existing_keys([c.key for c in candidates])
        orphans = [c.key for c in candidates if c.key not in held]
        for key in orphans:
            await self._pictures.delete(key)
        return len(orphans)


class MigrationProgress(msgspec.Struct, kw_only=True):
    """How far a migration got: objects moved (copied, checked, freed at the source),
    their bytes, and objects that failed the size check (left at the source)."""

    moved: int = 0
    bytes: int = 0
    mismatched: int = 0


class PictureMigration:
    """Moves every picture from one store (the database) to another (an object store).

    Each object is copied, its size read back from the target and compared, and only
    then deleted at the source. Copying a key again writes the same bytes under the same
    key, so an interrupted run can simply be run again: nothing is lost or duplicated.
    """

    def __init__(self, *, source: PictureStore, target: PictureStore) -> None:
        self._source = source
        self._target = target

    async def run(
        self, on_progress: Callable[[MigrationProgress], None] | None = None
    ) -> MigrationProgress:
        """Move everything the source holds; ``on_progress`` is called after each object."""
        progress = MigrationProgress()
        async for stored in self._source.objects(""):
            try:
                data = await self._source.get(stored.key)
            except PictureMissing:
                continue  # deleted meanwhile (a job ended): nothing to move
            await self._target.put(stored.key, data, _content_type(data))
            if await self._target.size(stored.key) != len(data):
                logger.error("picture %s: the copy's size differs; kept at the source", stored.key)
                progress.mismatched += 1
            else:
                await self._source.delete(stored.key)
                progress.moved += 1
                progress.bytes += len(data)
            if on_progress is not None:
                on_progress(progress)
        return progress


def _content_type(data: bytes) -> str:
    """The content type of a stored picture, by its first bytes (JPEG, PNG or WebP)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"
