"""Shutting the job workers down: no new claims, running jobs finish within the grace,
and a job still running after it is handed back at once, its attempt not counted."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from entrypoints.container import Container, build_worker_pool
from picpaygo_core.models import Caller, Job, JobStatus
from picpaygo_core.services import JobProcessor
from support.fakes import ScriptedGenerator
from support.images import jpeg_bytes

ContainerFactory = Callable[..., Container]
ANONYMOUS = Caller(user=None, client_network="203.0.113.9")
WAIT_SECONDS = 5.0


async def queue(container: Container) -> Job:
    return await container.generation_service().create_job(
        ANONYMOUS, category="portraits", image=jpeg_bytes()
    )


def stored(container: Container, job: Job) -> Job:
    return container.storage().store.jobs[job.id]


async def test_a_job_still_running_after_the_grace_is_handed_back_uncounted(
    make_container: ContainerFactory,
) -> None:
    generator = ScriptedGenerator(hold=True)
    container = make_container(SHUTDOWN_GRACE_SECONDS="0.05")
    container.generator.override(generator)
    job = await queue(container)
    pool = build_worker_pool(container, 1)
    pool.start()
    await asyncio.wait_for(generator.started.wait(), WAIT_SECONDS)
    assert stored(container, job).status is JobStatus.RUNNING

    await asyncio.wait_for(pool.stop(), WAIT_SECONDS)

    handed_back = stored(container, job)
    assert handed_back.status is JobStatus.QUEUED
    assert handed_back.attempts == 0
    assert handed_back.lease_owner is None
    assert handed_back.available_at <= container.clock().now()


async def test_a_handed_back_job_is_taken_over_and_charged_once(
    make_container: ContainerFactory,
) -> None:
    generator = ScriptedGenerator(hold=True)
    container = make_container(SHUTDOWN_GRACE_SECONDS="0")
    container.generator.override(generator)
    await queue(container)
    free_before = await container.credit_service().view(ANONYMOUS)
    first = build_worker_pool(container, 1)
    first.start()
    await asyncio.wait_for(generator.started.wait(), WAIT_SECONDS)
    await asyncio.wait_for(first.stop(), WAIT_SECONDS)
    generator.release()

    # Another process's worker: its own processor over the same storage.
    another = JobProcessor(
        uow_factory=container.storage().uow_factory,
        pictures=container.pictures(),
        generator=generator,
        clock=container.clock(),
        policy=container.policy(),
    )
    done = await another.process_next("another-worker")

    assert done is not None
    assert done.status is JobStatus.SUCCEEDED
    assert done.attempts == 1
    assert await container.credit_service().view(ANONYMOUS) == free_before


async def test_a_job_finishing_within_the_grace_completes(make_container: ContainerFactory) -> None:
    generator = ScriptedGenerator(hold=True)
    container = make_container(SHUTDOWN_GRACE_SECONDS="5")
    container.generator.override(generator)
    job = await queue(container)
    pool = build_worker_pool(container, 2)
    pool.start()
    await asyncio.wait_for(generator.started.wait(), WAIT_SECONDS)

    stopping = asyncio.create_task(pool.stop())
    await asyncio.sleep(0)  # the pool now refuses new claims
    later = await queue(container)
    generator.release()
    await asyncio.wait_for(stopping, WAIT_SECONDS)

    assert stored(container, job).status is JobStatus.SUCCEEDED
    assert stored(container, later).status is JobStatus.QUEUED
    assert stored(container, later).attempts == 0
