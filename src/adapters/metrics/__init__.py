"""Metrics: the core's telemetry and the HTTP layer's requests as Prometheus series."""

from adapters.metrics.prometheus import PrometheusMetrics

__all__ = ["PrometheusMetrics"]
