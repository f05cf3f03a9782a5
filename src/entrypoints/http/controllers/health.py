"""``/api/health``: readiness (the checks of what the service depends on) and liveness."""

from __future__ import annotations

from typing import Literal

from litestar import Controller, Response, get
from litestar.di import NamedDependency

from entrypoints.http.dependencies import Services
from entrypoints.http.schemas import HealthResponse, LiveResponse
from picpaygo_core.services import HealthService


class HealthController(Controller):
    path = "/api/health"
    tags = ["health"]  # noqa: RUF012 - Litestar reads this class attribute

    @get("/", operation_id="health")
    async def health(
        self,
        services: NamedDependency[Services],
    ) -> Response[HealthResponse]:
        """Readiness (the original path): 200 when every dependency answers, else 503.

        An open operator incident (the image model refuses the API key or is out of
        credits) keeps the 200, with status ``degraded`` and the problem in ``checks``.
        """
        return await _readiness(services.health)

    @get("/ready", operation_id="ready")
    async def ready(
        self,
        services: NamedDependency[Services],
    ) -> Response[HealthResponse]:
        """Readiness probe, the same answer as ``/api/health``: 503 while the database is
        unreachable, so a load balancer sends no traffic here until it is back."""
        return await _readiness(services.health)

    @get("/live", operation_id="live")
    async def live(self) -> LiveResponse:
        """Liveness probe: 200 while the process serves requests. It touches no database,
        so a database outage never gets healthy processes restarted."""
        return LiveResponse(status="ok")


async def _readiness(health_service: HealthService) -> Response[HealthResponse]:
    report = await health_service.report()
    status: Literal["ok", "degraded", "unavailable"] = (
        "unavailable" if not report.ok else "degraded" if report.degraded else "ok"
    )
    return Response(
        HealthResponse(status=status, checks=report.checks),
        status_code=200 if report.ok else 503,
    )
