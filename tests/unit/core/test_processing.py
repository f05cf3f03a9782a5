"""Working off the job queue: generating, retrying, failing with refunds, leases, retention."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from uuid import UUID

import pytest

from entrypoints.container import Container
from picpaygo_core.errors import ImageNotFound
from picpaygo_core.models import (
    Caller,
    Category,
    Generated,
    GenerationOutcome,
    Job,
    JobStatus,
    LedgerEntry,
    OperatorFailure,
    PermanentFailure,
    TransientFailure,
)
from picpaygo_core.prompts import build_prompt
from picpaygo_core.services import JobProcessor
from support.fakes import FakeClock, ScriptedGenerator
from support.images import jpeg_bytes, same_picture

ContainerFactory = Callable[..., Container]

NETWORK = "203.0.113.7"
EMAIL = "ada@example.com"
PASSWORD = "correct horse battery"
PHOTO = jpeg_bytes()
SCRIPTED_OUTPUT = b"\x89PNG\r\n\x1a\nscripted"
LEASE_SECONDS = 60
RETENTION_HOURS = 168
RETRY_MAX_SECONDS = 300  # JOB_RETRY_MAX_SECONDS: no retry waits longer


def anonymous() -> Caller:
    return Caller(user=None, client_network=NETWORK)


async def paying_user(
    make_container: ContainerFactory, balance: int = 1
) -> tuple[Container, Caller]:
    """A container without free credits and a user who pays from the balance."""
    container = make_container(DEFAULT_FREE_CREDITS="0")
    user = (await container.auth_service().register(email=EMAIL, password=PASSWORD)).user
    await container.admin_service().grant(EMAIL, balance, reason="test", actor="test")
    return container, Caller(user=user, client_network=NETWORK)


async def queue(container: Container, caller: Caller, category: str = "portraits") -> Job:
    return await container.generation_service().create_job(caller, category=category, image=PHOTO)


def stored(container: Container, job: Job) -> Job:
    return container.storage().store.jobs[job.id]


async def entries_for(container: Container, job_id: UUID) -> list[LedgerEntry]:
    history = await container.admin_service().history(EMAIL, limit=1000)
    return [entry for entry in reversed(history) if entry.job_id == job_id]


async def balance(container: Container) -> int:
    return (await container.admin_service().show(EMAIL)).balance


async def free_credits(container: Container) -> int:
    return (await container.credit_service().view(anonymous())).free_credits


async def process_until_finished(container: Container, clock: FakeClock) -> Job | None:
    """Run the queue, letting time pass between retries, until nothing is due."""
    last = None
    for _ in range(20):
        settled = await container.job_processor().process_next()
        if settled is None:
            clock.advance(seconds=RETRY_MAX_SECONDS)
            settled = await container.job_processor().process_next()
            if settled is None:
                return last
        last = settled
    return last


class RaisingOnceGenerator:
    """Raises on its first call (a bug in a generator adapter), then succeeds."""

    name = "raising-once"

    def __init__(self) -> None:
        self.calls = 0

    async def generate(
        self, *, prompt: str, category: Category, image: bytes, content_type: str
    ) -> GenerationOutcome:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("connection reset by peer")
        return Generated(data=SCRIPTED_OUTPUT, content_type="image/png")


# --- success -----------------------------------------------------------------------------


async def test_a_successful_generation_marks_the_job_succeeded(container: Container) -> None:
    job = await queue(container, anonymous())

    settled = await container.job_processor().process_next()

    assert settled is not None
    assert settled.id == job.id
    assert settled.status is JobStatus.SUCCEEDED
    assert stored(container, job).status is JobStatus.SUCCEEDED
    assert stored(container, job).error is None


async def test_a_succeeded_job_serves_the_generated_picture(container: Container) -> None:
    job = await queue(container, anonymous())
    await container.job_processor().process_next()

    picture = await container.generation_service().output_image(anonymous(), job.id)

    assert picture.data == SCRIPTED_OUTPUT
    assert picture.content_type == "image/png"


async def test_the_uploaded_photo_is_deleted_once_the_job_succeeds(container: Container) -> None:
    job = await queue(container, anonymous())
    assert job.input_image_id is not None

    await container.job_processor().process_next()

    assert job.input_image_id not in container.storage().store.images
    assert stored(container, job).input_image_id is None


@pytest.mark.parametrize("category", list(Category))
async def test_the_generator_gets_the_categorys_prompt_and_the_uploaded_photo(
    container: Container, generator: ScriptedGenerator, category: Category
) -> None:
    await queue(container, anonymous(), category=category.value)

    await container.job_processor().process_next()

    (call,) = generator.calls
    assert call.prompt == build_prompt(category)
    assert call.category is category
    assert same_picture(call.image, PHOTO)
    assert call.content_type == "image/jpeg"


async def test_processing_with_an_empty_queue_does_nothing(
    container: Container, generator: ScriptedGenerator
) -> None:
    assert await container.job_processor().process_next() is None
    assert generator.calls == []


async def test_jobs_are_processed_oldest_first(container: Container) -> None:
    first = await queue(container, anonymous())
    second = await queue(container, anonymous())

    settled_first = await container.job_processor().process_next()
    settled_second = await container.job_processor().process_next()

    assert settled_first is not None
    assert settled_second is not None
    assert (settled_first.id, settled_second.id) == (first.id, second.id)


# --- transient failures and retries ------------------------------------------------------


async def test_a_transient_failure_queues_the_job_again_for_later(
    container: Container, generator: ScriptedGenerator, clock: FakeClock
) -> None:
    generator.outcomes.append(TransientFailure(reason="rate limited"))
    job = await queue(container, anonymous())

    settled = await container.job_processor().process_next()

    assert settled is not None
    assert settled.status is JobStatus.QUEUED
    assert settled.attempts == 1
    assert clock.now() < settled.available_at <= clock.now() + timedelta(seconds=300)
    assert stored(container, job) == settled


async def test_a_transient_failure_honours_retry_after_exactly(
    container: Container, generator: ScriptedGenerator, clock: FakeClock
) -> None:
    generator.outcomes.append(TransientFailure(reason="rate limited", retry_after=30))
    await queue(container, anonymous())

    settled = await container.job_processor().process_next()

    assert settled is not None
    assert settled.available_at == clock.now() + timedelta(seconds=30)


async def test_a_job_queued_for_a_retry_is_not_claimed_before_its_time(
    container: Container, generator: ScriptedGenerator, clock: FakeClock
) -> None:
    generator.outcomes.append(TransientFailure(reason="rate limited", retry_after=30))
    job = await queue(container, anonymous())
    await container.job_processor().process_next()

    clock.advance(seconds=29)

    assert await container.job_processor().process_next() is None
    assert stored(container, job).status is JobStatus.QUEUED
    assert len(generator.calls) == 1


async def test_a_retried_job_succeeds_after_its_time_and_is_charged_once(
    make_container: ContainerFactory, generator: ScriptedGenerator, clock: FakeClock
) -> None:
    container, caller = await paying_user(make_container, balance=3)
    generator.outcomes.append(TransientFailure(reason="rate limited", retry_after=30))
    job = await queue(container, caller)
    await container.job_processor().process_next()

    clock.advance(seconds=30)
    settled = await container.job_processor().process_next()

    assert settled is not None
    assert settled.status is JobStatus.SUCCEEDED
    assert settled.attempts == 2
    assert [(e.amount, e.reason) for e in await entries_for(container, job.id)] == [
        (-1, "generation")
    ]
    assert await balance(container) == 2


@pytest.mark.parametrize("max_attempts", [1, 3])
async def test_a_job_failing_transiently_job_max_attempts_times_fails_with_a_human_message(
    make_container: ContainerFactory,
    generator: ScriptedGenerator,
    clock: FakeClock,
    max_attempts: int,
) -> None:
    container = make_container(JOB_MAX_ATTEMPTS=str(max_attempts))
    generator.outcomes.extend(TransientFailure(reason="provider down") for _ in range(10))
    job = await queue(container, anonymous())

    await process_until_finished(container, clock)

    failed = stored(container, job)
    assert failed.status is JobStatus.FAILED
    assert failed.attempts == max_attempts
    assert len(generator.calls) == max_attempts
    assert failed.error == "The picture could not be generated. Your credit was refunded."


async def test_a_paid_job_that_finally_fails_is_refunded_exactly_once(
    make_container: ContainerFactory, generator: ScriptedGenerator, clock: FakeClock
) -> None:
    container, caller = await paying_user(make_container, balance=1)
    generator.outcomes.extend(TransientFailure(reason="provider down") for _ in range(10))
    job = await queue(container, caller)

    await process_until_finished(container, clock)
    clock.advance(hours=1)
    assert await container.job_processor().process_next() is None

    entries = await entries_for(container, job.id)
    assert [(e.amount, e.reason) for e in entries] == [(-1, "generation"), (1, "refund")]
    assert await balance(container) == 1
    assert stored(container, job).refunded is True


async def test_a_free_job_that_finally_fails_gives_the_free_credit_back(
    container: Container, generator: ScriptedGenerator, clock: FakeClock
) -> None:
    generator.outcomes.extend(TransientFailure(reason="provider down") for _ in range(10))
    await queue(container, anonymous())
    assert await free_credits(container) == 2

    await process_until_finished(container, clock)

    assert await free_credits(container) == 3


async def test_a_permanent_failure_fails_the_job_at_once_with_its_message(
    container: Container, generator: ScriptedGenerator
) -> None:
    generator.outcomes.append(PermanentFailure(message="The photo shows no person."))
    job = await queue(container, anonymous())

    settled = await container.job_processor().process_next()

    assert settled is not None
    assert settled.status is JobStatus.FAILED
    assert settled.error == "The photo shows no person. Your credit was refunded."
    assert settled.attempts == 1
    assert stored(container, job) == settled


async def test_a_permanent_failure_refunds_the_paid_credit(
    make_container: ContainerFactory, generator: ScriptedGenerator
) -> None:
    container, caller = await paying_user(make_container)
    generator.outcomes.append(PermanentFailure(message="The photo shows no person."))
    job = await queue(container, caller)

    await container.job_processor().process_next()

    refunds = [e for e in await entries_for(container, job.id) if e.reason == "refund"]
    assert [(e.amount, e.actor) for e in refunds] == [(1, "system")]
    assert await balance(container) == 1


async def test_an_operator_failure_fails_the_job_with_the_unavailable_message(
    container: Container, generator: ScriptedGenerator
) -> None:
    generator.outcomes.append(OperatorFailure(message="401: invalid API key"))
    job = await queue(container, anonymous())

    await container.job_processor().process_next()

    failed = stored(container, job)
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None
    assert "unavailable" in failed.error
    assert "API key" not in failed.error


async def test_an_operator_failure_refunds_the_paid_credit(
    make_container: ContainerFactory, generator: ScriptedGenerator
) -> None:
    container, caller = await paying_user(make_container)
    generator.outcomes.append(OperatorFailure(message="402: out of credits"))
    job = await queue(container, caller)

    await container.job_processor().process_next()

    assert [e.reason for e in await entries_for(container, job.id)] == ["generation", "refund"]
    assert await balance(container) == 1


async def test_the_uploaded_photo_is_deleted_once_the_job_fails(
    container: Container, generator: ScriptedGenerator
) -> None:
    generator.outcomes.append(PermanentFailure(message="No."))
    job = await queue(container, anonymous())

    await container.job_processor().process_next()

    assert job.input_image_id not in container.storage().store.images


async def test_a_generator_that_raises_is_treated_as_a_transient_failure(
    container: Container, clock: FakeClock
) -> None:
    raising = RaisingOnceGenerator()
    container.generator.override(raising)
    job = await queue(container, anonymous())

    first = await container.job_processor().process_next()
    clock.advance(minutes=10)
    second = await container.job_processor().process_next()

    assert first is not None
    assert (first.status, first.attempts) == (JobStatus.QUEUED, 1)
    assert second is not None
    assert second.status is JobStatus.SUCCEEDED
    assert stored(container, job).refunded is False


async def test_a_generator_that_does_not_answer_in_time_is_a_transient_failure(
    make_container: ContainerFactory, clock: FakeClock
) -> None:
    container = make_container(JOB_TIMEOUT_SECONDS="1")
    silent = ScriptedGenerator(hold=True)  # never released
    container.generator.override(silent)
    job = await queue(container, anonymous())

    settled = await container.job_processor().process_next()

    assert settled is not None
    assert settled.status is JobStatus.QUEUED
    assert settled.attempts == 1
    assert settled.available_at > clock.now()
    assert len(silent.calls) == 1
    assert stored(container, job).status is JobStatus.QUEUED


# --- leases ------------------------------------------------------------------------------


async def claim_as_vanished_worker(container: Container, clock: FakeClock) -> Job:
    """Claim the next job as a worker that then dies without settling it."""
    async with container.uow_factory()() as uow:
        job = await uow.jobs.claim_next(
            "vanished-worker", clock.now(), clock.now() + timedelta(seconds=LEASE_SECONDS)
        )
        await uow.commit()
    assert job is not None
    return job


async def test_a_job_leased_to_a_vanished_worker_is_not_claimed_before_the_lease_expires(
    container: Container, generator: ScriptedGenerator, clock: FakeClock
) -> None:
    job = await queue(container, anonymous())
    await claim_as_vanished_worker(container, clock)

    clock.advance(seconds=LEASE_SECONDS - 1)

    assert await container.job_processor().process_next() is None
    assert stored(container, job).lease_owner == "vanished-worker"
    assert generator.calls == []


async def test_a_job_leased_to_a_vanished_worker_is_completed_once_after_the_lease(
    make_container: ContainerFactory, generator: ScriptedGenerator, clock: FakeClock
) -> None:
    container, caller = await paying_user(make_container)
    job = await queue(container, caller)
    await claim_as_vanished_worker(container, clock)

    clock.advance(seconds=LEASE_SECONDS + 1)
    settled = await container.job_processor().process_next()
    again = await container.job_processor().process_next()

    assert settled is not None
    assert settled.status is JobStatus.SUCCEEDED
    assert again is None
    assert len(generator.calls) == 1
    assert [e.reason for e in await entries_for(container, job.id)] == ["generation"]


def second_worker(container: Container, clock: FakeClock, output: bytes) -> JobProcessor:
    """Another worker process, with its own generator, sharing storage and time."""
    return JobProcessor(
        uow_factory=container.uow_factory(),
        pictures=container.pictures(),
        generator=ScriptedGenerator([Generated(data=output, content_type="image/png")]),
        clock=clock,
        policy=container.policy(),
    )


async def test_a_worker_whose_lease_was_taken_over_cannot_settle_the_job(
    make_container: ContainerFactory, clock: FakeClock
) -> None:
    container, caller = await paying_user(make_container)
    slow = ScriptedGenerator(
        [Generated(data=b"from worker A", content_type="image/png")], hold=True
    )
    container.generator.override(slow)
    job = await queue(container, caller)
    worker_a = asyncio.create_task(container.job_processor().process_next("worker-a"))
    await slow.started.wait()

    clock.advance(seconds=LEASE_SECONDS + 1)
    taken_over = await second_worker(container, clock, b"from worker B").process_next("worker-b")
    slow.release()
    dropped = await worker_a

    assert taken_over is not None
    assert taken_over.status is JobStatus.SUCCEEDED
    assert dropped is not None
    assert dropped.lease_owner == "worker-a"  # A's view, never written
    assert stored(container, job) == taken_over
    picture = await container.generation_service().output_image(caller, job.id)
    assert picture.data == b"from worker B"
    assert len(container.storage().store.images) == 1
    assert [e.reason for e in await entries_for(container, job.id)] == ["generation"]


async def test_a_worker_whose_lease_was_taken_over_cannot_fail_or_refund_the_job(
    make_container: ContainerFactory, clock: FakeClock
) -> None:
    container, caller = await paying_user(make_container)
    slow = ScriptedGenerator([PermanentFailure(message="No person in the photo.")], hold=True)
    container.generator.override(slow)
    job = await queue(container, caller)
    worker_a = asyncio.create_task(container.job_processor().process_next("worker-a"))
    await slow.started.wait()

    clock.advance(seconds=LEASE_SECONDS + 1)
    await second_worker(container, clock, b"from worker B").process_next("worker-b")
    slow.release()
    await worker_a

    assert stored(container, job).status is JobStatus.SUCCEEDED
    assert [e.reason for e in await entries_for(container, job.id)] == ["generation"]
    assert await balance(container) == 0


# --- retention ---------------------------------------------------------------------------


async def finished_job(container: Container) -> Job:
    await queue(container, anonymous())
    settled = await container.job_processor().process_next()
    assert settled is not None
    assert settled.status is JobStatus.SUCCEEDED
    return settled


async def test_outputs_older_than_the_retention_period_are_deleted(
    container: Container, clock: FakeClock
) -> None:
    job = await finished_job(container)

    clock.advance(hours=RETENTION_HOURS, seconds=1)
    purged = await container.retention_service().purge_old_outputs()

    assert purged == 1
    assert job.output_image_id not in container.storage().store.images
    with pytest.raises(ImageNotFound):
        await container.generation_service().output_image(anonymous(), job.id)


async def test_outputs_within_the_retention_period_are_kept(
    container: Container, clock: FakeClock
) -> None:
    old = await finished_job(container)
    clock.advance(hours=100)
    recent = await finished_job(container)

    clock.advance(hours=RETENTION_HOURS - 100, seconds=1)
    purged = await container.retention_service().purge_old_outputs()

    assert purged == 1
    with pytest.raises(ImageNotFound):
        await container.generation_service().output_image(anonymous(), old.id)
    picture = await container.generation_service().output_image(anonymous(), recent.id)
    assert picture.data == SCRIPTED_OUTPUT


async def test_the_output_retention_hours_setting_sets_the_retention_period(
    make_container: ContainerFactory, clock: FakeClock
) -> None:
    container = make_container(OUTPUT_RETENTION_HOURS="1")
    job = await finished_job(container)

    clock.advance(minutes=59)
    assert await container.retention_service().purge_old_outputs() == 0
    clock.advance(minutes=2)
    assert await container.retention_service().purge_old_outputs() == 1

    with pytest.raises(ImageNotFound):
        await container.generation_service().output_image(anonymous(), job.id)


# --- the job's deadline ------------------------------------------------------------------


async def test_a_job_still_queued_past_its_deadline_fails_and_is_refunded_untried(
    make_container: ContainerFactory, generator: ScriptedGenerator, clock: FakeClock
) -> None:
    container, caller = await paying_user(make_container)
    job = await queue(container, caller)
    clock.advance(seconds=900)  # JOB_DEADLINE_SECONDS, e.g. every worker was down

    settled = await container.job_processor().process_next()

    assert settled is not None
    assert settled.status is JobStatus.FAILED
    assert settled.error == "The picture could not be made in time. Your credit was refunded."
    assert generator.calls == []
    assert [e.reason for e in await entries_for(container, job.id)] == ["generation", "refund"]
    assert await balance(container) == 1


async def test_no_retry_is_scheduled_past_the_deadline(
    make_container: ContainerFactory, generator: ScriptedGenerator, clock: FakeClock
) -> None:
    container = make_container(JOB_DEADLINE_SECONDS="200", JOB_TIMEOUT_SECONDS="100")
    generator.outcomes.append(TransientFailure(reason="429", retry_after=250))
    await queue(container, anonymous())

    settled = await container.job_processor().process_next()

    assert settled is not None
    assert (settled.status, settled.attempts) == (JobStatus.FAILED, 1)
    assert settled.refunded is True


async def test_a_retry_within_the_deadline_is_scheduled(
    make_container: ContainerFactory, generator: ScriptedGenerator, clock: FakeClock
) -> None:
    container = make_container(JOB_DEADLINE_SECONDS="200", JOB_TIMEOUT_SECONDS="100")
    generator.outcomes.append(TransientFailure(reason="429", retry_after=150))
    await queue(container, anonymous())

    settled = await container.job_processor().process_next()

    assert settled is not None
    assert settled.status is JobStatus.QUEUED
    assert settled.available_at == clock.now() + timedelta(seconds=150)


async def test_an_attempt_gets_only_the_time_left_before_the_deadline(
    make_container: ContainerFactory, clock: FakeClock
) -> None:
    container = make_container(JOB_DEADLINE_SECONDS="60", JOB_TIMEOUT_SECONDS="60")
    silent = ScriptedGenerator(hold=True)  # never released
    container.generator.override(silent)
    job = await queue(container, anonymous())
    clock.advance(seconds=59.9)  # 0.1 s of the job's 60 s left

    settled = await asyncio.wait_for(container.job_processor().process_next(), 30)

    assert settled is not None
    assert settled.status is JobStatus.FAILED  # timed out, and a retry would be too late
    assert len(silent.calls) == 1
    assert stored(container, job).refunded is True
