"""The use cases on every storage: the same service calls, in-memory and on PostgreSQL.

Each test builds its container with ``make_storage_container`` (parametrised by the
``storage`` fixture), so accounts, credits, jobs and the sign-in throttle all go through
the adapters under test. Time is a ``FakeClock``; the image model a ``ScriptedGenerator``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from uuid import UUID

import pytest

from entrypoints.container import Container
from picpaygo_core.errors import (
    DuplicateLedgerEntry,
    EmailTaken,
    ImageNotFound,
    InsufficientCredits,
    InvalidCredentials,
    TooManyAttempts,
)
from picpaygo_core.models import (
    Caller,
    JobStatus,
    LedgerEntry,
    PermanentFailure,
    TransientFailure,
    User,
)
from picpaygo_core.services.ledger import ledger_entry, refund_job
from support.fakes import FakeClock, ScriptedGenerator
from support.images import jpeg_bytes

AsyncContainerFactory = Callable[..., Awaitable[Container]]

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery"
NETWORK = "203.0.113.7"
PHOTO = jpeg_bytes()


async def register(container: Container, email: str = EMAIL) -> User:
    signed_in = await container.auth_service().register(
        email=email, password=PASSWORD, client_ip=NETWORK
    )
    return signed_in.user


async def paying_user(container: Container, balance: int) -> Caller:
    user = await register(container)
    await container.admin_service().grant(EMAIL, balance, reason="test", actor="test")
    return Caller(user=user, client_network=NETWORK)


async def ledger(container: Container, job_id: UUID | None = None) -> list[LedgerEntry]:
    """The user's ledger, oldest first (only the job's entries when ``job_id`` is given)."""
    history = await container.admin_service().history(EMAIL, limit=1000)
    return [e for e in reversed(history) if job_id is None or e.job_id == job_id]


async def balance(container: Container) -> int:
    return (await container.admin_service().show(EMAIL)).balance


# --- accounts ----------------------------------------------------------------------------


async def test_register_then_log_in_then_ask_who_is_signed_in(
    make_storage_container: AsyncContainerFactory,
) -> None:
    container = await make_storage_container()
    auth = container.auth_service()
    registered = await auth.register(email=EMAIL, password=PASSWORD, name="Ada")

    logged_in = await auth.login(email="ADA@Example.com", password=PASSWORD, client_ip=NETWORK)

    assert logged_in.user.id == registered.user.id
    assert logged_in.token != registered.token
    me = await auth.current_user(logged_in.token)
    assert me is not None
    assert (me.id, me.email, me.name, me.last_login_location) == (
        registered.user.id,
        EMAIL,
        "Ada",
        NETWORK,
    )
    assert await auth.current_user(registered.token) == me  # both sessions stand


async def test_an_email_registered_again_in_another_case_is_refused(
    make_storage_container: AsyncContainerFactory,
) -> None:
    container = await make_storage_container()
    await register(container, "ada@example.com")

    with pytest.raises(EmailTaken):
        await register(container, "Ada@EXAMPLE.com")
    with pytest.raises(InvalidCredentials):
        await container.auth_service().login(email="ada@example.com", password="wrong password")


async def test_logging_out_and_expiry_end_sessions(
    make_storage_container: AsyncContainerFactory, clock: FakeClock
) -> None:
    container = await make_storage_container(SESSION_TTL_HOURS="1")
    auth = container.auth_service()
    first = await auth.register(email=EMAIL, password=PASSWORD)
    second = await auth.login(email=EMAIL, password=PASSWORD)
    third = await auth.login(email=EMAIL, password=PASSWORD)

    await auth.logout(first.token)
    assert await auth.current_user(first.token) is None
    clock.advance(hours=1)

    assert await auth.current_user(second.token) is None  # expired, and deleted here
    assert await auth.purge_expired_sessions() == 1  # only the third was left
    assert await auth.current_user(third.token) is None


# --- credits -----------------------------------------------------------------------------


async def test_free_credits_are_spent_before_paid_ones(
    make_storage_container: AsyncContainerFactory,
) -> None:
    container = await make_storage_container(DEFAULT_FREE_CREDITS="2")
    caller = await paying_user(container, 3)
    credits = container.credit_service()

    after_three = await credits.consume(caller, 3)
    after_two = await credits.consume(caller, 2)

    assert (after_three.free_credits, after_three.balance) == (0, 2)
    assert (after_two.free_credits, after_two.balance, after_two.credits) == (0, 0, 0)
    assert [(e.amount, e.reason) for e in await ledger(container)] == [
        (3, "admin_grant: test"),
        (-1, "consume"),
        (-2, "consume"),
    ]


async def test_a_spend_that_does_not_fit_spends_nothing_at_all(
    make_storage_container: AsyncContainerFactory,
) -> None:
    container = await make_storage_container(DEFAULT_FREE_CREDITS="2")
    caller = await paying_user(container, 1)
    credits = container.credit_service()

    with pytest.raises(InsufficientCredits):
        await credits.consume(caller, 4)
    with pytest.raises(InsufficientCredits):
        await credits.consume(Caller(user=None, client_network="198.51.100.9"), 3)

    view = await credits.view(caller)
    assert (view.free_credits, view.balance) == (2, 1)
    assert (await credits.view(Caller(user=None, client_network="198.51.100.9"))).free_credits == 2
    assert len(await ledger(container)) == 1


async def test_a_purchase_adds_its_pack_once(
    make_storage_container: AsyncContainerFactory,
) -> None:
    container = await make_storage_container(DEFAULT_FREE_CREDITS="0")
    caller = await paying_user(container, 1)

    outcome = await container.credit_service().checkout(caller, 5)

    assert outcome.credits.balance == 6
    purchases = [e for e in await ledger(container) if e.reason == "purchase"]
    assert len(purchases) == 1
    assert purchases[0].idempotency_key is not None
    assert purchases[0].idempotency_key.startswith("purchase:")


async def test_admin_grant_and_revoke_and_a_revoke_below_zero_changes_nothing(
    make_storage_container: AsyncContainerFactory,
) -> None:
    container = await make_storage_container()
    await register(container)
    admin = container.admin_service()

    assert (await admin.grant(EMAIL, 5, reason="welcome", actor="ops")).balance == 5
    assert (await admin.revoke(EMAIL, 3, reason="mistake", actor="ops")).balance == 2
    with pytest.raises(InsufficientCredits):
        await admin.revoke(EMAIL, 3, reason="too much", actor="ops")

    assert (await admin.show(EMAIL)).balance == 2
    assert [(e.amount, e.reason, e.actor) for e in await admin.history(EMAIL)] == [
        (-3, "admin_revoke: mistake", "ops"),
        (5, "admin_grant: welcome", "ops"),
    ]


# --- generation --------------------------------------------------------------------------


async def test_a_generation_is_charged_exactly_once(
    make_storage_container: AsyncContainerFactory, generator: ScriptedGenerator
) -> None:
    container = await make_storage_container(DEFAULT_FREE_CREDITS="0")
    caller = await paying_user(container, 2)
    job = await container.generation_service().create_job(caller, category="portraits", image=PHOTO)

    done = await container.job_processor().process_next()
    nothing_left = await container.job_processor().process_next()

    assert done is not None
    assert done.status is JobStatus.SUCCEEDED
    assert nothing_left is None
    assert len(generator.calls) == 1
    assert [(e.amount, e.idempotency_key) for e in await ledger(container, job.id)] == [
        (-1, f"charge:{job.id}")
    ]
    assert await balance(container) == 1
    picture = await container.generation_service().output_image(caller, job.id)
    assert picture.data.startswith(b"\x89PNG")


async def test_an_upload_is_let_in_by_its_session_with_the_caller_credits(
    make_storage_container: AsyncContainerFactory, clock: FakeClock
) -> None:
    container = await make_storage_container(SESSION_TTL_HOURS="1", DEFAULT_FREE_CREDITS="1")
    generation = container.generation_service()
    admissions = container.admission_service()
    token = (await container.auth_service().register(email=EMAIL, password=PASSWORD)).token
    await container.admin_service().grant(EMAIL, 2, reason="test", actor="test")

    signed_in = await admissions.admit(token, NETWORK)
    job = await generation.create_job(
        signed_in.caller, category="portraits", image=PHOTO, credits=signed_in.credits
    )
    clock.advance(hours=1)
    expired = await admissions.admit(token, NETWORK)

    assert signed_in.caller.user is not None
    assert signed_in.caller.user.email == EMAIL
    assert (signed_in.credits, signed_in.replay) == (3, None)
    assert job.owner_id == signed_in.caller.user.id
    assert (expired.caller.user, expired.credits) == (None, 0)  # the free credit was spent
    assert await container.auth_service().current_user(token) is None
    with pytest.raises(InsufficientCredits):
        await generation.create_job(
            expired.caller, category="portraits", image=PHOTO, credits=expired.credits
        )


async def test_a_failed_paid_job_is_refunded_exactly_once(
    make_storage_container: AsyncContainerFactory, generator: ScriptedGenerator
) -> None:
    generator.outcomes.append(PermanentFailure(message="No person in the photo."))
    container = await make_storage_container(DEFAULT_FREE_CREDITS="0")
    caller = await paying_user(container, 1)
    job = await container.generation_service().create_job(caller, category="portraits", image=PHOTO)
    assert await balance(container) == 0

    failed = await container.job_processor().process_next()
    assert failed is not None
    assert (failed.status, failed.refunded) == (JobStatus.FAILED, True)
    assert await container.job_processor().process_next() is None

    # Settling the failure again, or recording the refund again, changes nothing.
    async with container.uow_factory()() as uow:
        stored = await uow.jobs.find(job.id)
        assert stored == failed
        await refund_job(uow, stored, free_credits=0, now=container.clock().now())
        with pytest.raises(DuplicateLedgerEntry):
            await uow.credits.record(
                ledger_entry(
                    user_id=job.owner_id,  # type: ignore[arg-type]
                    amount=1,
                    reason="refund",
                    actor="system",
                    now=container.clock().now(),
                    job_id=job.id,
                    idempotency_key=f"refund:{job.id}",
                )
            )
        await uow.commit()

    assert [(e.amount, e.reason) for e in await ledger(container, job.id)] == [
        (-1, "generation"),
        (1, "refund"),
    ]
    assert await balance(container) == 1
    with pytest.raises(ImageNotFound):
        await container.generation_service().output_image(caller, job.id)


async def test_a_job_failing_on_every_attempt_is_charged_once_and_refunded_once(
    make_storage_container: AsyncContainerFactory,
    generator: ScriptedGenerator,
    clock: FakeClock,
) -> None:
    generator.outcomes.extend([TransientFailure(reason="busy")] * 3)
    container = await make_storage_container(DEFAULT_FREE_CREDITS="0", JOB_MAX_ATTEMPTS="3")
    caller = await paying_user(container, 1)
    job = await container.generation_service().create_job(caller, category="editorial", image=PHOTO)

    settled = []
    for _ in range(3):
        outcome = await container.job_processor().process_next()
        assert outcome is not None
        settled.append(outcome.status)
        clock.advance(minutes=5)  # JOB_RETRY_MAX_SECONDS: every retry is due
    assert await container.job_processor().process_next() is None

    assert settled == [JobStatus.QUEUED, JobStatus.QUEUED, JobStatus.FAILED]
    assert len(generator.calls) == 3
    assert [e.amount for e in await ledger(container, job.id)] == [-1, 1]
    assert await balance(container) == 1


async def test_a_failed_free_job_gives_the_free_credit_back_to_its_network(
    make_storage_container: AsyncContainerFactory, generator: ScriptedGenerator
) -> None:
    generator.outcomes.append(PermanentFailure(message="No person in the photo."))
    container = await make_storage_container(DEFAULT_FREE_CREDITS="1")
    anonymous = Caller(user=None, client_network=NETWORK)
    await container.generation_service().create_job(anonymous, category="portraits", image=PHOTO)
    assert (await container.credit_service().view(anonymous)).free_credits == 0

    failed = await container.job_processor().process_next()

    assert failed is not None
    assert failed.status is JobStatus.FAILED
    assert (await container.credit_service().view(anonymous)).free_credits == 1


async def test_outputs_past_their_retention_are_deleted(
    make_storage_container: AsyncContainerFactory, clock: FakeClock
) -> None:
    container = await make_storage_container(OUTPUT_RETENTION_HOURS="1")
    anonymous = Caller(user=None, client_network=NETWORK)
    job = await container.generation_service().create_job(
        anonymous, category="documentary", image=PHOTO
    )
    await container.job_processor().process_next()
    retention = container.retention_service()

    assert await retention.purge_old_outputs() == 0
    clock.advance(hours=1, seconds=1)
    assert await retention.purge_old_outputs() == 1
    assert await retention.purge_old_outputs() == 0

    with pytest.raises(ImageNotFound):
        await container.generation_service().output_image(anonymous, job.id)


# --- the sign-in throttle ----------------------------------------------------------------


async def test_failed_sign_ins_are_throttled_per_network_for_a_minute(
    make_storage_container: AsyncContainerFactory, clock: FakeClock
) -> None:
    container = await make_storage_container(AUTH_ATTEMPTS_PER_MINUTE="2")
    auth = container.auth_service()
    await register(container)  # counts as an attempt of its own kind ("register")

    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            await auth.login(email=EMAIL, password="wrong password", client_ip=NETWORK)
    with pytest.raises(TooManyAttempts) as refused:
        await auth.login(email=EMAIL, password=PASSWORD, client_ip=NETWORK)

    assert 0 < refused.value.retry_after <= 60
    assert (await auth.login(email=EMAIL, password=PASSWORD, client_ip="198.51.100.9")).user
    clock.advance(seconds=60)
    assert (await auth.login(email=EMAIL, password=PASSWORD, client_ip=NETWORK)).user


@pytest.mark.parametrize("storage", ["postgres"])
async def test_the_sign_in_throttle_is_shared_by_every_process_on_the_database(
    make_storage_container: AsyncContainerFactory,
) -> None:
    """Two containers stand for two API processes; only PostgreSQL is shared between them."""
    first = await make_storage_container(AUTH_ATTEMPTS_PER_MINUTE="2")
    second = await make_storage_container(AUTH_ATTEMPTS_PER_MINUTE="2")
    await register(first)

    with pytest.raises(InvalidCredentials):
        await first.auth_service().login(email=EMAIL, password="wrong", client_ip=NETWORK)
    with pytest.raises(InvalidCredentials):
        await second.auth_service().login(email=EMAIL, password="wrong", client_ip=NETWORK)

    for container in (first, second):
        with pytest.raises(TooManyAttempts):
            await container.auth_service().login(email=EMAIL, password=PASSWORD, client_ip=NETWORK)
