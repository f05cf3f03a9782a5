"""Following a job live: the first state, visible changes only, heartbeats, stream places."""

from __future__ import annotations

import asyncio
import gc
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from uuid import UUID

import msgspec
import pytest

from adapters.process_job_changes import ProcessJobChanges
from entrypoints.container import Container
from picpaygo_core.errors import JobNotFound, StorageUnavailable, TooManyStreams
from picpaygo_core.models import Caller, Job, JobMark, JobStatus
from picpaygo_core.services.progress import JobProgressService
from support.fakes import FakeClock
from support.images import jpeg_bytes

ContainerFactory = Callable[..., Container]
HERE = Caller(user=None, client_network="203.0.113.7")


class ScriptedWatch:
    """Answers ``changed`` from a script (True: told, False: the heartbeat's time passed),
    running ``before`` first: what happens to the job meanwhile."""

    def __init__(self, script: list[tuple[bool, Callable[[], object] | None]]) -> None:
        self.script = deque(script)

    def marks(self) -> list[JobMark]:
        return []  # only "look again": what the job went through is read, not told

    async def changed(self, max_seconds: float) -> bool:
        told, before = self.script.popleft()
        if before is not None:
            result = before()
            if hasattr(result, "__await__"):
                await result  # type: ignore[misc]
        return told


class ScriptedChanges:
    def __init__(self, watch: ScriptedWatch) -> None:
        self.watch_ = watch
        self.watched: list[UUID] = []

    @asynccontextmanager
    async def watch(self, job_id: UUID) -> AsyncIterator[ScriptedWatch]:
        self.watched.append(job_id)
        yield self.watch_


async def queued(container: Container, caller: Caller = HERE) -> Job:
    return await container.generation_service().create_job(
        caller, category="portraits", image=jpeg_bytes()
    )


def progress(container: Container, changes: object) -> JobProgressService:
    return JobProgressService(
        generation=container.generation_service(),
        changes=changes,  # type: ignore[arg-type]
        max_streams_per_caller=2,
        heartbeat_seconds=15.0,
    )


async def collect(updates: AsyncIterator[Job | None]) -> list[str]:
    return ["heartbeat" if u is None else str(u.status) async for u in updates]


async def test_heartbeats_come_while_nothing_changes_and_unchanged_reads_send_nothing(
    make_container: ContainerFactory,
) -> None:
    container = make_container()
    job = await queued(container)
    processor = container.job_processor()
    watch = ScriptedWatch(
        [
            (False, None),  # quiet: a heartbeat
            (True, None),  # told, but nothing visible changed: nothing sent
            (False, None),
            (True, processor.process_next),  # done meanwhile
        ]
    )

    updates = await progress(container, ScriptedChanges(watch)).follow(HERE, job.id)

    assert await collect(updates) == ["queued", "heartbeat", "heartbeat", "succeeded"]


async def test_a_change_missed_by_a_quiet_watch_is_found_at_the_next_heartbeat(
    make_container: ContainerFactory,
) -> None:
    container = make_container()
    job = await queued(container)
    watch = ScriptedWatch([(False, container.job_processor().process_next)])

    updates = await progress(container, ScriptedChanges(watch)).follow(HERE, job.id)

    assert await collect(updates) == ["queued", "heartbeat", "succeeded"]


async def test_a_storage_outage_while_following_waits_for_the_next_read(
    make_container: ContainerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = make_container()
    job = await queued(container)
    generation = container.generation_service()
    real = generation.job
    outage = [False, True]  # the read on watching works, the next one fails

    async def flaky(caller: Caller, job_id: UUID) -> Job:
        if outage.pop(0) if outage else False:
            raise StorageUnavailable
        return await real(caller, job_id)

    watch = ScriptedWatch([(True, container.job_processor().process_next), (False, None)])
    updates = await progress(container, ScriptedChanges(watch)).follow(HERE, job.id)
    monkeypatch.setattr(generation, "job", flaky)

    assert await collect(updates) == ["queued", "heartbeat", "succeeded"]


async def test_a_finished_job_is_sent_once_without_watching(
    make_container: ContainerFactory,
) -> None:
    container = make_container()
    job = await queued(container)
    await container.job_processor().process_next()
    changes = ScriptedChanges(ScriptedWatch([]))

    updates = await progress(container, changes).follow(HERE, job.id)

    assert await collect(updates) == ["succeeded"]
    assert changes.watched == []


async def test_another_users_job_cannot_be_followed(make_container: ContainerFactory) -> None:
    container = make_container()
    user = (
        await container.auth_service().register(email="ada@example.com", password="x" * 12)
    ).user
    job = await queued(container, Caller(user=user, client_network=HERE.client_network))
    service = progress(container, ScriptedChanges(ScriptedWatch([])))

    with pytest.raises(JobNotFound):
        await service.follow(HERE, job.id)
    assert service.open_streams(HERE) == 0


async def test_places_are_counted_per_caller_and_freed_however_the_stream_ends(
    make_container: ContainerFactory,
) -> None:
    container = make_container()
    job = await queued(container)
    service = progress(container, ProcessJobChanges())
    elsewhere = Caller(user=None, client_network="198.51.100.20")

    never_read = await service.follow(HERE, job.id)
    read_then_closed = await service.follow(HERE, job.id)
    with pytest.raises(TooManyStreams):
        await service.follow(HERE, job.id)
    other = await service.follow(elsewhere, job.id)  # another caller has places of its own
    assert (service.open_streams(HERE), service.open_streams(elsewhere)) == (2, 1)

    stream = aiter(read_then_closed)
    assert (await anext(stream)) is not None
    await stream.aclose()  # type: ignore[attr-defined]
    assert service.open_streams(HERE) == 1

    del never_read  # a client gone before the first byte: its stream is dropped unread
    gc.collect()
    assert service.open_streams(HERE) == 0
    other.close()
    assert service.open_streams(elsewhere) == 0


async def test_the_memory_storage_announces_committed_visible_changes_only(
    make_container: ContainerFactory, clock: FakeClock
) -> None:
    container = make_container()
    job = await queued(container)
    changes = container.storage().job_changes

    async with changes.watch(job.id) as watch:
        async with container.uow_factory()() as uow:
            running = msgspec.structs.replace(job, status=JobStatus.RUNNING)
            await uow.jobs.update(running)
            # rolled back: never committed, never announced
        assert await watch.changed(0) is False
        async with container.uow_factory()() as uow:
            await uow.jobs.extend_lease(job.id, "worker", clock.now())  # not visible
            await uow.commit()
        assert await watch.changed(0) is False
        async with container.uow_factory()() as uow:
            await uow.jobs.update(running)
            await uow.commit()
        assert await watch.changed(0) is True


async def test_stopping_ends_every_stream_at_once(make_container: ContainerFactory) -> None:
    container = make_container()
    job = await queued(container)
    service = JobProgressService(
        generation=container.generation_service(),
        changes=ProcessJobChanges(),
        heartbeat_seconds=3600.0,
    )
    updates = aiter(await service.follow(HERE, job.id))
    assert (await anext(updates)) is not None
    waiting = asyncio.ensure_future(anext(updates))  # waits for a word about the job

    service.stop_all()

    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiting, 1.0)
    assert service.open_streams(HERE) == 0
    later = await service.follow(HERE, job.id)  # one opened while stopping: its state, no more
    assert await collect(aiter(later)) == ["queued"]


class MarkingWatch(ScriptedWatch):
    """A scripted watch that also tells what the job went through (as the adapters do)."""

    def __init__(self, script: list[tuple[bool, Callable[[], object] | None]]) -> None:
        super().__init__(script)
        self.told: list[JobMark] = []

    def marks(self) -> list[JobMark]:
        told, self.told = self.told, []
        return told


async def test_a_state_the_job_left_before_it_was_read_is_still_sent(
    make_container: ContainerFactory, clock: FakeClock
) -> None:
    container = make_container()
    job = await queued(container)
    processor = container.job_processor()

    async def run_unseen() -> None:
        clock.advance(seconds=1)
        await processor.process_next()  # claimed (running at +1 s), then done at once
        watch.told = [
            JobMark(status=JobStatus.QUEUED, updated_at=job.updated_at),  # already sent
            JobMark(status=JobStatus.RUNNING, updated_at=clock.now()),
            JobMark(status=JobStatus.SUCCEEDED, updated_at=clock.now()),
        ]

    watch = MarkingWatch([(True, run_unseen)])
    updates = await progress(container, ScriptedChanges(watch)).follow(HERE, job.id)
    sent = [u async for u in updates if u is not None]

    assert [u.status for u in sent] == ["queued", "running", "succeeded"]
    running = sent[1]
    assert (running.updated_at, running.output_image_id, running.error) == (
        clock.now(),
        None,
        None,
    )
