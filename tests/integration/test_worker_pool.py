"""The in-process ``WorkerPool`` with real asyncio tasks over the in-memory adapters.

Jobs are created through the generation use case (so the wake-up is notified as in
production); the scripted generator stands in for the image model and can hold a job
mid-generation. Waiting is always for a condition, bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from uuid import UUID

import pytest

from entrypoints.container import Container, build_worker_pool
from picpaygo_core.errors import StorageUnavailable
from picpaygo_core.models import Caller, Job, JobStatus
from picpaygo_core.ports import JobWakeup
from picpaygo_core.services import JobProcessor, WorkerPool
from picpaygo_core.services.workers import OUTAGE_RETRY_SECONDS
from support.fakes import FakeClock, ScriptedGenerator
from support.images import jpeg_bytes

ContainerFactory = Callable[..., Container]

DEADLINE_SECONDS = 5.0
POLL_SECONDS = 0.01
POOL_LOOPS = ("WorkerPool._work", "WorkerPool._maintain")


class ObservedWakeup:
    """The container's wake-up, telling the test when a worker has gone idle."""

    def __init__(self, inner: JobWakeup) -> None:
        self.inner = inner
        self.idle = asyncio.Event()

    def notify(self) -> None:
        self.inner.notify()

    async def wait(self, max_seconds: float) -> None:
        self.idle.set()
        await self.inner.wait(max_seconds)


def caller(number: int = 1) -> Caller:
    return Caller(user=None, client_network=f"198.51.100.{number}")


async def create_job(container: Container, number: int = 1) -> Job:
    job: Job = await container.generation_service().create_job(
        caller(number), category="portraits", image=jpeg_bytes()
    )
    return job


async def job_status(container: Container, job_id: UUID) -> Job:
    job: Job = await container.generation_service().job(caller(), job_id)
    return job


async def wait_until(
    container: Container, job_ids: list[UUID], wanted: Callable[[list[Job]], bool]
) -> list[Job]:
    """Poll the jobs until ``wanted(jobs)``; fails after ``DEADLINE_SECONDS``."""

    async def poll() -> list[Job]:
        while True:
            jobs = [await job_status(container, job_id) for job_id in job_ids]
            if wanted(jobs):
                return jobs
            await asyncio.sleep(POLL_SECONDS)

    try:
        return await asyncio.wait_for(poll(), DEADLINE_SECONDS)
    except TimeoutError:
        jobs = [await job_status(container, job_id) for job_id in job_ids]
        pytest.fail(f"condition not met within {DEADLINE_SECONDS} s: {jobs}")


def all_finished(jobs: list[Job]) -> bool:
    return all(job.status.is_finished for job in jobs)


def worker_tasks() -> set[asyncio.Task[object]]:
    current = asyncio.current_task()
    return {task for task in asyncio.all_tasks() if task is not current}


@pytest.fixture
async def stop_pools() -> AsyncIterator[list[WorkerPool]]:
    """Pools a test started; stopped at the end even when the test fails."""
    pools: list[WorkerPool] = []
    yield pools
    for pool in pools:
        await pool.stop()


def held_container(
    make_container: ContainerFactory, **environ: str
) -> tuple[Container, ScriptedGenerator]:
    """A container whose generator holds every call until released."""
    container = make_container(**environ)
    held = ScriptedGenerator(hold=True)
    container.generator.override(held)
    return container, held


async def test_a_new_job_wakes_an_idle_worker_long_before_its_poll(
    make_container: ContainerFactory,
    generator: ScriptedGenerator,
    stop_pools: list[WorkerPool],
) -> None:
    container = make_container()
    wakeup = ObservedWakeup(container.wakeup())
    pool = WorkerPool(
        processor=container.job_processor(),
        wakeup=wakeup,
        size=1,
        poll_seconds=60,
    )
    pool.start()
    stop_pools.append(pool)
    # The worker finds the queue empty and waits for up to 60 s.
    await asyncio.wait_for(wakeup.idle.wait(), DEADLINE_SECONDS)
    assert generator.calls == []

    job = await create_job(container)

    # Far sooner than the 60 s poll: only the wake-up from create_job can do this.
    (done,) = await wait_until(container, [job.id], all_finished)
    assert done.status is JobStatus.SUCCEEDED
    assert done.attempts == 1
    assert len(generator.calls) == 1

    # And the worker goes back to sleep and wakes again for the next job.
    second = await create_job(container, 2)
    (done,) = await wait_until(container, [second.id], all_finished)
    assert done.status is JobStatus.SUCCEEDED
    assert len(generator.calls) == 2


async def test_two_workers_process_each_job_exactly_once(
    make_container: ContainerFactory, stop_pools: list[WorkerPool]
) -> None:
    container, held = held_container(make_container)
    pool = build_worker_pool(container, 2)
    pool.start()
    stop_pools.append(pool)

    jobs = [await create_job(container, number) for number in range(1, 7)]
    ids = [job.id for job in jobs]

    # Both workers are busy at once; the rest of the queue waits its turn.
    def two_running(current: list[Job]) -> bool:
        return sum(job.status is JobStatus.RUNNING for job in current) == 2

    current = await wait_until(container, ids, two_running)
    assert sum(job.status is JobStatus.QUEUED for job in current) == len(jobs) - 2
    assert len(held.calls) == 2

    held.release()
    finished = await wait_until(container, ids, all_finished)

    assert [job.status for job in finished] == [JobStatus.SUCCEEDED] * len(jobs)
    assert [job.attempts for job in finished] == [1] * len(jobs)
    assert len(held.calls) == len(jobs)
    assert len({call.image for call in held.calls}) == 1  # every call got a photo
    assert all(job.output_image_id for job in finished)


async def test_stop_cancels_idle_workers_promptly(
    make_container: ContainerFactory,
) -> None:
    container = make_container()
    before = worker_tasks()
    pool = WorkerPool(
        processor=container.job_processor(),
        wakeup=container.wakeup(),
        size=3,
        poll_seconds=60,
        chores=(container.retention_service().purge_old_outputs,),
        chore_interval_seconds=60,
    )
    pool.start()
    assert pool.running
    await asyncio.sleep(0.05)  # every worker is now waiting (up to 60 s)
    started = worker_tasks() - before  # the pool's tasks and what they wait on
    loops = [task for task in started if getattr(task.get_coro(), "__qualname__", "") in POOL_LOOPS]
    assert len(loops) == 4  # three workers and the maintenance loop

    await asyncio.wait_for(pool.stop(), timeout=DEADLINE_SECONDS)

    assert not pool.running
    assert all(task.cancelled() for task in loops)
    assert all(task.done() for task in started)
    await pool.stop()  # stopping twice is harmless


async def test_a_job_interrupted_by_stop_is_handed_back_and_taken_over_at_once(
    make_container: ContainerFactory, clock: FakeClock
) -> None:
    container, held = held_container(make_container)
    pool = WorkerPool(
        processor=container.job_processor(),
        wakeup=container.wakeup(),
        size=1,
        poll_seconds=60,
        shutdown_grace_seconds=0,
    )
    pool.start()
    job = await create_job(container)
    await asyncio.wait_for(held.started.wait(), DEADLINE_SECONDS)

    await asyncio.wait_for(pool.stop(), timeout=DEADLINE_SECONDS)

    interrupted = await job_status(container, job.id)
    assert interrupted.status is JobStatus.QUEUED
    assert interrupted.attempts == 0  # the interrupted attempt does not count
    assert interrupted.lease_owner is None
    # Another process's worker takes it over at once, without waiting for a lease.
    processor = JobProcessor(
        uow_factory=container.uow_factory(),
        pictures=container.pictures(),
        generator=held,
        clock=clock,
        policy=container.policy(),
    )
    held.release()
    rescued = await asyncio.wait_for(processor.process_next("rescuer"), DEADLINE_SECONDS)

    assert rescued is not None
    assert rescued.id == job.id
    assert rescued.status is JobStatus.SUCCEEDED
    assert rescued.attempts == 1
    assert len(held.calls) == 2
    assert await processor.process_next("rescuer") is None  # nothing is done twice
    final = await job_status(container, job.id)
    assert final.status is JobStatus.SUCCEEDED
    assert final.refunded is False


class RecordingWakeup:
    """A wake-up that returns at once and records how long each idle wait would be."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.enough = asyncio.Event()

    def notify(self) -> None:
        return None

    async def wait(self, max_seconds: float) -> None:
        self.waits.append(max_seconds)
        if len(self.waits) >= 6:
            self.enough.set()
        await asyncio.sleep(0)


class FlakyStorageProcessor:
    """Finds the storage away for its first ``outage`` calls, then an empty queue."""

    def __init__(self, outage: int) -> None:
        self.outage = outage
        self.calls = 0

    async def process_next(self, worker_id: str | None = None) -> Job | None:
        self.calls += 1
        if self.calls <= self.outage:
            raise StorageUnavailable
        return None

    def close(self) -> None:
        """Claims nothing more (the pool's shutdown)."""


async def test_during_a_storage_outage_workers_look_again_soon_then_go_back_to_the_poll(
    stop_pools: list[WorkerPool], caplog: pytest.LogCaptureFixture
) -> None:
    wakeup = RecordingWakeup()
    processor = FlakyStorageProcessor(outage=3)
    pool = WorkerPool(
        processor=processor,  # type: ignore[arg-type]
        wakeup=wakeup,
        size=1,
        poll_seconds=30,
    )
    with caplog.at_level(logging.INFO, logger="picpaygo_core.services.workers"):
        pool.start()
        stop_pools.append(pool)
        await asyncio.wait_for(wakeup.enough.wait(), DEADLINE_SECONDS)
        await pool.stop()

    # While the storage is away the worker retries within a second, not after 30 s.
    assert wakeup.waits[:3] == [OUTAGE_RETRY_SECONDS] * 3
    assert wakeup.waits[3:6] == [30, 30, 30]
    # One line when it goes, one when it is back: not one per attempt.
    messages = [r.getMessage() for r in caplog.records if "storage" in r.getMessage()]
    assert len(messages) == 2, messages
    assert "unreachable" in messages[0]
    assert "reachable again" in messages[1]
