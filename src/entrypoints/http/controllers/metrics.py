"""``/metrics``: the Prometheus text exposition of this process's series."""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.di import NamedDependency

from adapters.metrics.prometheus import CONTENT_TYPE
from entrypoints.http.dependencies import Services
from picpaygo_core.errors import StorageUnavailable
from picpaygo_core.services.monitoring import QueueSnapshot


class MetricsController(Controller):
    path = "/metrics"
    tags = ["operations"]  # noqa: RUF012 - Litestar reads this class attribute

    @get("/", operation_id="metrics", media_type=CONTENT_TYPE)
    async def metrics(
        self,
        services: NamedDependency[Services],
    ) -> Response[bytes]:
        """Prometheus metrics: HTTP requests and latency by route template, method and
        status; jobs created and finished by outcome; queue depth and the oldest queued
        job's age; image generator latency by outcome; credits moved; sign-in failures
        and throttled attempts. 404 when ``METRICS_ENABLED`` is off."""
        try:
            queue: QueueSnapshot | None = await services.queue_monitor.snapshot()
        except StorageUnavailable:
            queue = None  # the other series still tell what happened
        return Response(services.metrics.render(queue), media_type=CONTENT_TYPE)
