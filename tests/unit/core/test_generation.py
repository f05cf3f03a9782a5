"""Asking for a restyled picture: charging, storing the upload, refusing bad uploads."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from entrypoints.container import Container
from picpaygo_core.errors import (
    DomainError,
    ImageNotFound,
    ImageTooLarge,
    InsufficientCredits,
    InvalidCategory,
    JobNotFound,
    UnsupportedImage,
)
from picpaygo_core.models import Caller, Category, CreditSource, Job, JobStatus, User
from support.images import (
    gif_bytes,
    jpeg_bytes,
    pattern_png_bytes,
    png_bomb_bytes,
    png_bytes,
    same_picture,
    text_bytes,
    webp_bytes,
)

ContainerFactory = Callable[..., Container]

NETWORK = "203.0.113.7"
OTHER_NETWORK = "198.51.100.20"
PASSWORD = "correct horse battery"
PHOTO = jpeg_bytes()


def anonymous(client_network: str = NETWORK) -> Caller:
    return Caller(user=None, client_network=client_network)


async def signed_in(
    container: Container, email: str = "ada@example.com", balance: int = 0
) -> Caller:
    user = (await container.auth_service().register(email=email, password=PASSWORD)).user
    if balance:
        await container.admin_service().grant(email, balance, reason="test", actor="test")
    return Caller(user=user, client_network=NETWORK)


async def create(
    container: Container, caller: Caller, category: str = "portraits", image: bytes = PHOTO
) -> Job:
    return await container.generation_service().create_job(caller, category=category, image=image)


def owner(caller: Caller) -> User:
    assert caller.user is not None
    return caller.user


async def free_credits(container: Container, client_network: str = NETWORK) -> int:
    return (await container.credit_service().view(anonymous(client_network))).free_credits


# --- creating a job ----------------------------------------------------------------------


async def test_a_new_job_is_queued_for_its_category(container: Container) -> None:
    job = await create(container, anonymous(), category="Editorial")

    assert job.status is JobStatus.QUEUED
    assert job.category is Category.EDITORIAL
    assert job.attempts == 0
    assert container.storage().store.jobs[job.id] == job


async def test_a_new_job_stores_the_uploaded_photo(container: Container) -> None:
    job = await create(container, anonymous())

    assert job.input_image_id is not None
    stored = container.storage().store.images[job.input_image_id]
    assert stored.key == f"inputs/{job.id}"
    data = await container.pictures().get(stored.key)
    assert stored.size == len(data)
    assert same_picture(data, PHOTO)
    assert stored.content_type == "image/jpeg"


@pytest.mark.parametrize(
    ("image", "content_type"),
    [(png_bytes(), "image/png"), (webp_bytes(), "image/webp"), (jpeg_bytes(), "image/jpeg")],
    ids=["png", "webp", "jpeg"],
)
async def test_the_photos_content_type_is_read_from_its_bytes(
    container: Container, image: bytes, content_type: str
) -> None:
    job = await create(container, anonymous(), image=image)

    assert job.input_image_id is not None
    assert container.storage().store.images[job.input_image_id].content_type == content_type


async def test_a_new_job_takes_a_free_credit_first(container: Container) -> None:
    caller = await signed_in(container, balance=2)

    job = await create(container, caller)

    assert job.credit_source is CreditSource.FREE
    assert await free_credits(container) == 2
    history = await container.admin_service().history(owner(caller).email)
    assert [entry.reason for entry in history] == ["admin_grant: test"]
    assert (await container.admin_service().show(owner(caller).email)).balance == 2


async def test_a_new_job_without_free_credits_is_paid_with_a_generation_entry(
    make_container: ContainerFactory,
) -> None:
    container = make_container(DEFAULT_FREE_CREDITS="0")
    caller = await signed_in(container, balance=2)

    job = await create(container, caller)

    assert job.credit_source is CreditSource.PAID
    assert job.owner_id == owner(caller).id
    newest = (await container.admin_service().history(owner(caller).email))[0]
    assert (newest.amount, newest.reason, newest.job_id) == (-1, "generation", job.id)
    assert (await container.admin_service().show(owner(caller).email)).balance == 1


async def test_an_anonymous_job_has_no_owner_and_remembers_the_network(
    container: Container,
) -> None:
    job = await create(container, anonymous())

    assert job.owner_id is None
    assert job.client_network == NETWORK


# --- refused uploads ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "image", "error"),
    [
        ("cubism", PHOTO, InvalidCategory),
        ("", PHOTO, InvalidCategory),
        ("portraits", text_bytes(), UnsupportedImage),
        ("portraits", b"", UnsupportedImage),
        ("portraits", gif_bytes(), UnsupportedImage),
        ("portraits", PHOTO[: len(PHOTO) // 2], UnsupportedImage),
        ("portraits", png_bomb_bytes(), ImageTooLarge),
    ],
    ids=["bad-category", "no-category", "text", "empty", "gif", "truncated-jpeg", "png-bomb"],
)
async def test_a_refused_upload_charges_nothing_and_stores_nothing(
    container: Container, category: str, image: bytes, error: type[DomainError]
) -> None:
    caller = await signed_in(container, balance=1)

    with pytest.raises(error):
        await create(container, caller, category=category, image=image)

    assert await free_credits(container) == 3
    assert (await container.admin_service().show(owner(caller).email)).balance == 1
    assert container.storage().store.jobs == {}
    assert container.storage().store.images == {}


async def test_an_upload_over_max_upload_bytes_is_refused_before_anything_is_charged(
    make_container: ContainerFactory,
) -> None:
    container = make_container(MAX_UPLOAD_BYTES="2048")
    big_photo = pattern_png_bytes(256, 256)
    assert len(big_photo) > 2048

    with pytest.raises(ImageTooLarge):
        await create(container, anonymous(), image=big_photo)

    assert await free_credits(container) == 3
    assert container.storage().store.jobs == {}
    assert container.storage().store.images == {}


async def test_an_upload_within_max_upload_bytes_is_accepted(
    make_container: ContainerFactory,
) -> None:
    container = make_container(MAX_UPLOAD_BYTES="2048")
    small_photo = png_bytes(8, 8)
    assert len(small_photo) <= 2048

    job = await create(container, anonymous(), image=small_photo)

    assert job.status is JobStatus.QUEUED


async def test_an_anonymous_client_without_free_credits_gets_no_job(
    container: Container,
) -> None:
    for _ in range(3):
        await create(container, anonymous())
    images_before = dict(container.storage().store.images)

    with pytest.raises(InsufficientCredits):
        await create(container, anonymous())

    assert len(container.storage().store.jobs) == 3
    assert container.storage().store.images == images_before


async def test_a_user_without_any_credit_gets_no_job_and_nothing_is_stored(
    make_container: ContainerFactory,
) -> None:
    container = make_container(DEFAULT_FREE_CREDITS="0")
    caller = await signed_in(container)

    with pytest.raises(InsufficientCredits):
        await create(container, caller)

    assert container.storage().store.jobs == {}
    assert container.storage().store.images == {}
    assert await container.admin_service().history(owner(caller).email) == []


# --- who sees a job ----------------------------------------------------------------------


async def test_a_users_job_is_visible_to_that_user(container: Container) -> None:
    caller = await signed_in(container)
    job = await create(container, caller)

    assert await container.generation_service().job(caller, job.id) == job


async def test_a_users_job_is_not_found_for_another_user(container: Container) -> None:
    job = await create(container, await signed_in(container))
    stranger = await signed_in(container, email="grace@example.com")

    with pytest.raises(JobNotFound):
        await container.generation_service().job(stranger, job.id)


async def test_a_users_job_is_not_found_for_an_anonymous_client_of_the_same_network(
    container: Container,
) -> None:
    job = await create(container, await signed_in(container))

    with pytest.raises(JobNotFound):
        await container.generation_service().job(anonymous(NETWORK), job.id)


async def test_an_anonymous_job_is_visible_to_anyone_with_its_id(container: Container) -> None:
    job = await create(container, anonymous())
    someone = await signed_in(container)

    assert await container.generation_service().job(anonymous(OTHER_NETWORK), job.id) == job
    assert await container.generation_service().job(someone, job.id) == job


async def test_an_unknown_job_id_is_not_found(container: Container) -> None:
    with pytest.raises(JobNotFound):
        await container.generation_service().job(anonymous(), uuid.uuid4())


async def test_the_picture_of_a_job_that_is_not_done_is_not_found(container: Container) -> None:
    job = await create(container, anonymous())

    with pytest.raises(ImageNotFound):
        await container.generation_service().output_image(anonymous(), job.id)


async def test_the_picture_of_another_users_job_is_reported_as_no_such_job(
    container: Container,
) -> None:
    job = await create(container, await signed_in(container))
    stranger = await signed_in(container, email="grace@example.com")

    with pytest.raises(JobNotFound):
        await container.generation_service().output_image(stranger, job.id)
