"""``/api/generate``: upload a photo, follow the job, fetch the picture."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import MultipartBody, Parameter
from litestar.response import Redirect, ServerSentEvent, ServerSentEventMessage

from entrypoints.http import idempotency
from entrypoints.http.dependencies import Services
from entrypoints.http.route_options import IDEMPOTENT, UNCOMPRESSED
from entrypoints.http.schemas import (
    GenerateForm,
    JobCreateResponse,
    JobListResponse,
    JobStatusResponse,
)
from picpaygo_core.errors import JobNotFound
from picpaygo_core.models import Caller, Job, PictureLink
from picpaygo_core.services.generation import MAX_JOBS_PER_PAGE
from picpaygo_core.services.progress import JobUpdates

# What a heartbeat says: a comment line, which EventSource ignores.
HEARTBEAT = ServerSentEventMessage(data=None, comment="keep-alive")

JobIdParameter = Annotated[str, Parameter(description="The job's id, as `jobId` in the answers.")]


class GenerationController(Controller):
    path = "/api/generate"
    tags = ["generation"]  # noqa: RUF012 - Litestar reads this class attribute

    @post("/", status_code=202, operation_id="createJob", opt=IDEMPOTENT)
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: MultipartBody[GenerateForm],
        services: NamedDependency[Services],
    ) -> Response[JobCreateResponse]:
        """Queue a photo for restyling; one credit is charged now and refunded on failure.

        With an ``Idempotency-Key``, a retry gets the first answer (the same job id) and
        is not charged again.
        """
        image = await data.read_image()
        return await idempotency.respond(
            request,
            services,
            request_parts=(data.category, hashlib.sha256(image).digest()),
            status_code=202,
            render=lambda job: JobCreateResponse(job_id=job.id, status=job.status),
            run=lambda admitted, recorder: services.generation.create_job(
                admitted.caller,
                category=data.category,
                image=image,
                recorder=recorder,
                credits=admitted.credits,
            ),
        )

    @get("/", operation_id="listJobs")
    async def list_jobs(
        self,
        caller: NamedDependency[Caller],
        services: NamedDependency[Services],
        limit: Annotated[
            int, Parameter(ge=1, le=MAX_JOBS_PER_PAGE, description="Jobs per page.")
        ] = 20,
        before: Annotated[
            str | None,
            Parameter(description="The last job id of the previous page: the page after it."),
        ] = None,
    ) -> JobListResponse:
        """The signed-in caller's jobs, newest first (401 when anonymous)."""
        after = _parse_id(before) if before is not None else None
        return JobListResponse.of(await services.generation.jobs(caller, limit=limit, before=after))

    @get("/{jobId:str}", operation_id="getJob")
    async def status(
        self,
        jobId: JobIdParameter,  # the path parameter's public name
        caller: NamedDependency[Caller],
        services: NamedDependency[Services],
    ) -> JobStatusResponse:
        """Where the job is; ``outputUrl`` is set once the picture is ready."""
        return JobStatusResponse.of(await services.generation.job(caller, _parse_id(jobId)))

    @get("/{jobId:str}/events", operation_id="followJob", opt=UNCOMPRESSED)
    async def events(
        self,
        jobId: JobIdParameter,  # the path parameter's public name
        caller: NamedDependency[Caller],
        services: NamedDependency[Services],
    ) -> ServerSentEvent:
        """Live progress (Server-Sent Events): the job's state now, then one ``status``
        event per change, each a ``JobStatusResponse``, until it succeeds or fails.

        A comment line comes every 15 seconds while nothing changes. At most 5 streams
        per caller are open at once (429 beyond).
        """
        updates = await services.progress.follow(caller, _parse_id(jobId))
        return ServerSentEvent(_messages(updates))

    @get("/{jobId:str}/image", operation_id="getJobImage", opt=UNCOMPRESSED)
    async def image(
        self,
        jobId: JobIdParameter,  # the path parameter's public name
        caller: NamedDependency[Caller],
        services: NamedDependency[Services],
    ) -> Response[bytes] | Redirect:
        """The generated picture; with an object store, a 307 to a short-lived presigned
        URL of the store instead (the bytes never pass through the API)."""
        picture = await services.generation.output_image(caller, _parse_id(jobId))
        # Cache-Control (no-store) and nosniff are set for every private answer
        # (response_headers), the redirect included.
        if isinstance(picture, PictureLink):
            return Redirect(picture.url, status_code=307)
        return Response(picture.data, media_type=picture.content_type)


async def _messages(updates: JobUpdates) -> AsyncIterator[ServerSentEventMessage]:
    async for update in updates:
        yield HEARTBEAT if update is None else _event(update)


def _event(job: Job) -> ServerSentEventMessage:
    """A ``status`` event: the job's ``JobStatusResponse``, its id naming the state."""
    stamp = round(job.updated_at.timestamp() * 1000)
    return ServerSentEventMessage(
        event="status",
        id=f"{stamp}-{job.status}",
        data=msgspec.json.encode(JobStatusResponse.of(job)).decode(),
    )


def _parse_id(job_id: str) -> UUID:
    try:
        return uuid.UUID(job_id)
    except ValueError:
        raise JobNotFound from None
