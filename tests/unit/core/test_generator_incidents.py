"""Operator problems (a refused key, no provider credits) are incidents: logged at error
level once, reported by health until the image model works again; and the cap on
concurrent calls to the image model."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from entrypoints.container import Container
from picpaygo_core.models import (
    Caller,
    Category,
    Generated,
    GenerationOutcome,
    JobStatus,
    OperatorFailure,
    TransientFailure,
)
from picpaygo_core.services.processing import GENERATOR_INCIDENT
from support.fakes import ScriptedGenerator
from support.images import jpeg_bytes

ContainerFactory = Callable[..., Container]

BAD_KEY = "OpenRouter refused the API key (401); check OPENROUTER_API_KEY"
NO_CREDITS = "OpenRouter is out of credits for this key (402); add credits"
PROCESSING_LOGGER = "picpaygo_core.services.processing"


async def queue_jobs(container: Container, count: int) -> None:
    service = container.generation_service()
    for number in range(count):
        caller = Caller(user=None, client_network=f"198.51.100.{number}")
        await service.create_job(caller, category="portraits", image=jpeg_bytes())


def error_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == PROCESSING_LOGGER and record.levelno >= logging.ERROR
    ]


async def health_checks(container: Container) -> tuple[bool, bool, dict[str, str]]:
    report = await container.health_service().report()
    return report.ok, report.degraded, report.checks


async def test_an_operator_failure_is_logged_at_error_level_once_for_many_failing_jobs(
    container: Container, generator: ScriptedGenerator, caplog: pytest.LogCaptureFixture
) -> None:
    generator.outcomes.extend([OperatorFailure(message=BAD_KEY)] * 5)
    await queue_jobs(container, 5)

    with caplog.at_level(logging.INFO, logger=PROCESSING_LOGGER):
        settled = [await container.job_processor().process_next() for _ in range(5)]

    assert [job.status for job in settled if job] == [JobStatus.FAILED] * 5
    assert len(error_lines(caplog)) == 1
    assert BAD_KEY in error_lines(caplog)[0]


async def test_health_reports_an_open_incident_as_degraded_but_still_serving(
    container: Container, generator: ScriptedGenerator
) -> None:
    generator.outcomes.append(OperatorFailure(message=BAD_KEY))
    await queue_jobs(container, 1)

    await container.job_processor().process_next()

    ok, degraded, checks = await health_checks(container)
    assert ok is True
    assert degraded is True
    assert checks[GENERATOR_INCIDENT] == BAD_KEY


async def test_a_successful_generation_ends_the_incident_and_a_new_one_is_logged_again(
    container: Container, generator: ScriptedGenerator, caplog: pytest.LogCaptureFixture
) -> None:
    generator.outcomes.extend(
        [OperatorFailure(message=BAD_KEY), Generated(data=b"png", content_type="image/png")]
    )
    generator.outcomes.append(OperatorFailure(message=NO_CREDITS))
    await queue_jobs(container, 3)

    with caplog.at_level(logging.INFO, logger=PROCESSING_LOGGER):
        await container.job_processor().process_next()
        await container.job_processor().process_next()
        after_success = await health_checks(container)
        await container.job_processor().process_next()

    assert after_success == (True, False, {"storage": "ok", GENERATOR_INCIDENT: "ok"})
    assert len(error_lines(caplog)) == 2
    assert NO_CREDITS in error_lines(caplog)[1]
    assert any("works again" in record.getMessage() for record in caplog.records)
    _, degraded, checks = await health_checks(container)
    assert degraded is True
    assert checks[GENERATOR_INCIDENT] == NO_CREDITS


async def test_transient_failures_open_no_incident(
    container: Container, generator: ScriptedGenerator
) -> None:
    generator.outcomes.append(TransientFailure(reason="429"))
    await queue_jobs(container, 1)

    await container.job_processor().process_next()

    assert await health_checks(container) == (
        True,
        False,
        {"storage": "ok", GENERATOR_INCIDENT: "ok"},
    )


class CountingGenerator:
    """Holds every call until released, and records how many ran at once."""

    name = "counting"

    def __init__(self) -> None:
        self.running = 0
        self.most_at_once = 0
        self.calls = 0
        self.gate = asyncio.Event()
        self.arrived = asyncio.Condition()

    async def generate(
        self, *, prompt: str, category: Category, image: bytes, content_type: str
    ) -> GenerationOutcome:
        async with self.arrived:
            self.running += 1
            self.calls += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.arrived.notify_all()
        try:
            await self.gate.wait()
        finally:
            self.running -= 1
        return Generated(data=b"png", content_type="image/png")


@pytest.mark.parametrize("cap", [1, 2, 3])
async def test_no_more_than_the_configured_number_of_calls_reach_the_generator_at_once(
    make_container: ContainerFactory, cap: int
) -> None:
    container = make_container(GENERATOR_MAX_CONCURRENCY=str(cap))
    counting = CountingGenerator()
    container.generator.override(counting)
    await queue_jobs(container, 8)
    processor = container.job_processor()

    workers = [asyncio.create_task(processor.process_next(f"w{n}")) for n in range(8)]
    async with counting.arrived:
        await asyncio.wait_for(counting.arrived.wait_for(lambda: counting.calls >= cap), 5)
    # Let every other worker run as far as it can: none may get past the cap.
    for _ in range(20):
        await asyncio.sleep(0)
    at_cap = (counting.running, counting.calls)
    counting.gate.set()
    settled = await asyncio.gather(*workers)

    assert at_cap == (cap, cap)
    assert counting.most_at_once == cap
    assert [job.status for job in settled if job] == [JobStatus.SUCCEEDED] * 8


async def test_a_worker_waiting_for_a_generator_slot_has_claimed_no_job(
    make_container: ContainerFactory,
) -> None:
    container = make_container(GENERATOR_MAX_CONCURRENCY="1")
    counting = CountingGenerator()
    container.generator.override(counting)
    await queue_jobs(container, 2)
    processor = container.job_processor()

    first = asyncio.create_task(processor.process_next("first"))
    async with counting.arrived:
        await asyncio.wait_for(counting.arrived.wait_for(lambda: counting.calls == 1), 5)
    second = asyncio.create_task(processor.process_next("second"))
    for _ in range(20):
        await asyncio.sleep(0)
    statuses = sorted(job.status for job in container.storage().store.jobs.values())
    counting.gate.set()
    await asyncio.gather(first, second)

    assert statuses == [JobStatus.QUEUED, JobStatus.RUNNING]
