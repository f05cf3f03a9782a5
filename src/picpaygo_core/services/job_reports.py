"""What became of one attempt at a job: one log line and one telemetry event."""

from __future__ import annotations

import logging

from picpaygo_core.models import Job, JobStatus
from picpaygo_core.ports.telemetry import Telemetry


def job_outcome(claimed: Job, settled: Job) -> str:
    """What became of an attempt: ``succeeded``, ``failed``, ``retry`` (queued again after a
    failed attempt), ``handed_back`` (queued again at once, the attempt not counted) or
    ``lease_lost`` (another worker holds it now)."""
    if settled.status is JobStatus.SUCCEEDED:
        return "succeeded"
    if settled.status is JobStatus.FAILED:
        return "failed"
    if settled.status is JobStatus.QUEUED:
        return "handed_back" if settled.attempts < claimed.attempts else "retry"
    return "lease_lost"


def report_job(
    logger: logging.Logger, telemetry: Telemetry, claimed: Job, settled: Job, seconds: float
) -> None:
    """One log line (on the worker's ``logger``) and one telemetry event per job outcome."""
    outcome = job_outcome(claimed, settled)
    logger.info(
        "job %s %s after attempt %d in %.2fs",
        claimed.id,
        outcome,
        claimed.attempts,
        seconds,
        extra={
            "fields": {
                "job_id": str(claimed.id),
                "attempts": claimed.attempts,
                "duration_ms": round(seconds * 1000, 1),
                "outcome": outcome,
            }
        },
    )
    telemetry.job_finished(outcome, seconds)
