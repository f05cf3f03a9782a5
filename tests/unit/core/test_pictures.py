"""Pictures through the picture-store port, on the in-memory adapters and a store that
can be taken down: what an upload, a worker, retention, the sweep and a migration do
with the objects, and what they do when the store cannot be reached."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from entrypoints.container import Container
from picpaygo_core.errors import InsufficientCredits, PictureStoreUnavailable
from picpaygo_core.models import Caller, JobStatus, PermanentFailure, PictureLink
from picpaygo_core.services.pictures import OrphanSweep, PictureMigration
from support.fakes import FakeClock, FlakyPictureStore, ScriptedGenerator
from support.images import jpeg_bytes

ContainerFactory = Callable[..., Container]
NETWORK = "203.0.113.9"
PNG = b"\x89PNG\r\n\x1a\n" + b"x" * 100


def anonymous() -> Caller:
    return Caller(user=None, client_network=NETWORK)


@pytest.fixture
def store(clock: FakeClock) -> FlakyPictureStore:
    return FlakyPictureStore(clock)


@pytest.fixture
def with_store(make_container: ContainerFactory, store: FlakyPictureStore) -> Container:
    container = make_container()
    container.pictures.override(store)
    return container


async def free_left(container: Container) -> int:
    return (await container.credit_service().view(anonymous())).free_credits


async def test_an_upload_writes_the_photo_under_its_job_key(
    with_store: Container, store: FlakyPictureStore
) -> None:
    job = await with_store.generation_service().create_job(
        anonymous(), category="portraits", image=jpeg_bytes()
    )

    assert store.keys() == [f"inputs/{job.id}"]
    assert job.input_image_id is not None
    record = with_store.storage().store.images[job.input_image_id]
    assert (record.key, record.size) == (f"inputs/{job.id}", await store.size(record.key))


async def test_an_upload_while_the_store_is_down_charges_nothing_and_stores_no_job(
    with_store: Container, store: FlakyPictureStore
) -> None:
    before = await free_left(with_store)
    store.down = True

    with pytest.raises(PictureStoreUnavailable):
        await with_store.generation_service().create_job(
            anonymous(), category="portraits", image=jpeg_bytes()
        )

    assert await free_left(with_store) == before
    assert with_store.storage().store.jobs == {}
    assert with_store.storage().store.images == {}


async def test_an_upload_refused_at_the_charge_leaves_no_object(
    make_container: ContainerFactory, store: FlakyPictureStore
) -> None:
    container = make_container(DEFAULT_FREE_CREDITS="0")
    container.pictures.override(store)

    with pytest.raises(InsufficientCredits):  # let in with a credit it no longer has
        await container.generation_service().create_job(
            anonymous(), category="portraits", image=jpeg_bytes(), credits=1
        )

    assert store.keys() == []


async def test_a_worker_that_cannot_reach_the_store_retries_and_then_succeeds(
    with_store: Container, store: FlakyPictureStore, clock: FakeClock
) -> None:
    job = await with_store.generation_service().create_job(
        anonymous(), category="portraits", image=jpeg_bytes()
    )
    store.down = True

    retried = await with_store.job_processor().process_next()

    assert retried is not None
    assert (retried.status, retried.refunded) == (JobStatus.QUEUED, False)
    store.down = False
    clock.advance(seconds=300)
    done = await with_store.job_processor().process_next()
    assert done is not None
    assert done.status is JobStatus.SUCCEEDED
    assert store.keys() == [f"outputs/{job.id}.png"]  # the photo went when the job ended


async def test_a_failed_job_deletes_its_photo(
    with_store: Container, store: FlakyPictureStore
) -> None:
    with_store.generator.override(ScriptedGenerator([PermanentFailure(message="Refused.")]))
    job = await with_store.generation_service().create_job(
        anonymous(), category="portraits", image=jpeg_bytes()
    )

    failed = await with_store.job_processor().process_next()

    assert failed is not None
    assert (failed.id, failed.status, failed.refunded) == (job.id, JobStatus.FAILED, True)
    assert store.keys() == []


async def test_a_photo_the_store_could_not_delete_is_swept_later(
    make_container: ContainerFactory, store: FlakyPictureStore, clock: FakeClock
) -> None:
    container = make_container(JOB_MAX_ATTEMPTS="1")
    container.pictures.override(store)
    job = await container.generation_service().create_job(
        anonymous(), category="portraits", image=jpeg_bytes()
    )
    store.down = True
    failed = await container.job_processor().process_next()  # the only attempt
    store.down = False
    assert failed is not None
    assert failed.status is JobStatus.FAILED
    assert store.keys() == [f"inputs/{job.id}"]  # no image names it any more

    clock.advance(minutes=61)
    sweep = OrphanSweep(uow_factory=container.uow_factory(), pictures=store, clock=clock)
    assert await sweep.sweep() == 1
    assert store.keys() == []


async def test_retention_deletes_the_output_object(
    with_store: Container, store: FlakyPictureStore, clock: FakeClock
) -> None:
    job = await with_store.generation_service().create_job(
        anonymous(), category="portraits", image=jpeg_bytes()
    )
    await with_store.job_processor().process_next()
    assert store.keys() == [f"outputs/{job.id}.png"]

    clock.advance(hours=24 * 8)
    assert await with_store.retention_service().purge_old_outputs() == 1

    assert store.keys() == []


async def test_a_store_that_gives_links_sends_the_client_there(
    make_container: ContainerFactory, clock: FakeClock
) -> None:
    store = FlakyPictureStore(clock, links=True)
    container = make_container()
    container.pictures.override(store)
    job = await container.generation_service().create_job(
        anonymous(), category="portraits", image=jpeg_bytes()
    )
    await container.job_processor().process_next()

    link = await container.generation_service().output_image(anonymous(), job.id)

    assert link == PictureLink(
        url=f"https://store.example/outputs/{job.id}.png?X-Amz-Signature=test"
    )


async def test_the_sweep_removes_only_old_objects_no_image_names(
    with_store: Container, store: FlakyPictureStore, clock: FakeClock
) -> None:
    job = await with_store.generation_service().create_job(
        anonymous(), category="portraits", image=jpeg_bytes()
    )
    await store.put("inputs/orphan", PNG, "image/png")
    await store.put("elsewhere/not-ours", PNG, "image/png")
    sweep = OrphanSweep(uow_factory=with_store.uow_factory(), pictures=store, clock=clock)

    assert await sweep.sweep() == 0
    clock.advance(minutes=61)
    assert await sweep.sweep() == 1

    assert store.keys() == ["elsewhere/not-ours", f"inputs/{job.id}"]


async def test_a_migration_moves_each_object_and_frees_it_only_once_copied(
    clock: FakeClock,
) -> None:
    source, target = FlakyPictureStore(clock), FlakyPictureStore(clock)
    for n in range(30):
        await source.put(f"outputs/{n:02d}.png", PNG + bytes([n]), "image/png")
    seen: list[int] = []

    done = await PictureMigration(source=source, target=target).run(
        lambda progress: seen.append(progress.moved)
    )

    assert (done.moved, done.mismatched) == (30, 0)
    assert seen == list(range(1, 31))
    assert source.keys() == []
    assert [await target.get(f"outputs/{n:02d}.png") for n in range(30)] == [
        PNG + bytes([n]) for n in range(30)
    ]


async def test_a_migration_stopped_by_the_target_keeps_the_source_copy(clock: FakeClock) -> None:
    source, target = FlakyPictureStore(clock), FlakyPictureStore(clock)
    await source.put("outputs/a.png", PNG, "image/png")
    target.down = True

    with pytest.raises(PictureStoreUnavailable):
        await PictureMigration(source=source, target=target).run()

    assert source.keys() == ["outputs/a.png"]


async def test_an_orphan_result_is_swept_within_the_hour_after_it_is_an_orphan(
    with_store: Container, store: FlakyPictureStore, clock: FakeClock
) -> None:
    await store.put("outputs/orphan.png", PNG, "image/png")  # its job never completed
    sweep = OrphanSweep(uow_factory=with_store.uow_factory(), pictures=store, clock=clock)

    assert await sweep.sweep() == 0
    clock.advance(minutes=59)
    assert await sweep.sweep() == 0  # the results are listed once an hour
    clock.advance(minutes=61)
    assert await sweep.sweep() == 1
    assert store.keys() == []


async def test_an_erased_account_leaves_no_object_and_its_export_had_its_pictures(
    with_store: Container, store: FlakyPictureStore
) -> None:
    email = "leaving@example.com"
    signed_up = await with_store.auth_service().register(email=email, password="correct horse")
    caller = Caller(user=signed_up.user, client_network=NETWORK)
    done = await with_store.generation_service().create_job(
        caller, category="portraits", image=jpeg_bytes()
    )
    await with_store.job_processor().process_next()
    waiting = await with_store.generation_service().create_job(
        caller, category="editorial", image=jpeg_bytes()
    )
    assert store.keys() == sorted([f"outputs/{done.id}.png", f"inputs/{waiting.id}"])

    export = await with_store.account_service().export(signed_up.user)
    [exported] = export.pictures
    assert exported.job_id == done.id
    assert exported.picture.data == await store.get(f"outputs/{done.id}.png")

    await with_store.account_service().erase(email, reason="asked", actor="support")

    assert store.keys() == []
