"""Keeping generated pictures only for their retention period."""

from __future__ import annotations

import msgspec

from picpaygo_core.policy import Policy
from picpaygo_core.ports import Clock, PictureStore, UnitOfWorkFactory
from picpaygo_core.services.pictures import forget_object


class RetentionService:
    """Deletes generated pictures once their retention period is over."""

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        pictures: PictureStore,
        clock: Clock,
        policy: Policy,
    ) -> None:
        self._uow_factory = uow_factory
        self._pictures = pictures
        self._clock = clock
        self._policy = policy

    async def purge_old_outputs(self, batch: int = 100) -> int:
        """Delete up to ``batch`` expired output images; returns how many went.

        Their records go first, in one transaction; their objects once it committed (an
        object whose deletion fails is an orphan, which the sweep deletes later).
        """
        cutoff = self._clock.now() - self._policy.output_retention
        keys: list[str] = []
        async with self._uow_factory() as uow:
            jobs = await uow.jobs.finished_before(cutoff, batch)
            for job in jobs:
                if job.output_image_id and (key := await uow.images.delete(job.output_image_id)):
                    keys.append(key)
                await uow.jobs.update(msgspec.structs.replace(job, output_image_id=None))
            await uow.commit()
        for key in keys:
            await forget_object(self._pictures, key)
        return len(jobs)
