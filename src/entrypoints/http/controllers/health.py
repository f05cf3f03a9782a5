"""``/api/health``: liveness plus the checks of what the service depends on."""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.di import NamedDependency

from entrypoints.http.schemas import HealthResponse
from picpaygo_core.services import HealthService


class HealthController(Controller):
    path = "/api/health"
    tags = ["health"]  # noqa: RUF012 - Litestar reads this class attribute

    @get("/", operation_id="health")
    async def health(
        self, health_service: NamedDependency[HealthService]
    ) -> Response[HealthResponse]:
        """200 when every dependency answers, 503 (with what is wrong) otherwise.

        An open operator incident (the image model refuses the API key or is out of
        credits) keeps the 200, with status ``degraded`` and the problem in ``checks``.
        """
        report = await health_service.report()
        status = "unavailable" if not report.ok else "degraded" if report.degraded else "ok"
        return Response(
            HealthResponse(status=status, checks=report.checks),
            status_code=200 if report.ok else 503,
        )
