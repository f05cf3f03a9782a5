"""Prometheus series (prometheus-client), one registry per metrics object.

Every label takes values from a small fixed set (route templates, methods, status codes,
outcomes), never raw paths or ids, so the number of series stays bounded.

With several API processes (``PROMETHEUS_MULTIPROC_DIR`` set before they start, as
``picpaygo serve --workers N`` does), prometheus-client's multiprocess mode keeps every
process's values in that directory, and the exposition adds them up: any process answers
``/metrics`` for all of them.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector

from picpaygo_core.ports.telemetry import CreditMovement
from picpaygo_core.services.monitoring import QueueSnapshot

# The classic text format, which every Prometheus server reads.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
CREDIT_MOVEMENTS: tuple[CreditMovement, ...] = (
    "granted",
    "spent",
    "refunded",
    "purchased",
    "reversed",
)
JOB_OUTCOMES = ("succeeded", "failed", "retry", "handed_back", "lease_lost")
GENERATOR_OUTCOMES = ("generated", "transient", "permanent", "operator", "timeout")
SIGN_IN_METHODS = ("password", "google")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
GENERATOR_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Where prometheus-client keeps the values of several processes (its own variable).
MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"


class PrometheusMetrics:
    """Implements the core's ``Telemetry`` and the HTTP ``HttpObserver``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._http_requests = Counter(
            "picpaygo_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ("route", "method", "status"),
            registry=r,
        )
        self._http_latency = Histogram(
            "picpaygo_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template, method and status.",
            ("route", "method", "status"),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # The labelled children of the two series above, by (route, method, status).
        self._http_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._jobs_created = Counter(
            "picpaygo_jobs_created", "Generation jobs queued (and charged).", registry=r
        )
        self._jobs_finished = Counter(
            "picpaygo_jobs_finished",
            "Attempts at generation jobs that ended, by outcome.",
            ("outcome",),
            registry=r,
        )
        # Read from the shared queue when scraped: the latest reading is the value.
        self._queue_depth = Gauge(
            "picpaygo_job_queue_depth",
            "Generation jobs waiting in the queue.",
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self._queue_oldest = Gauge(
            "picpaygo_job_queue_oldest_age_seconds",
            "How long the oldest queued job has waited (0 when none waits).",
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self._generator_latency = Histogram(
            "picpaygo_generator_call_duration_seconds",
            "Time the image generator took to answer, by outcome.",
            ("outcome",),
            buckets=GENERATOR_BUCKETS,
            registry=r,
        )
        self._credits = Counter(
            "picpaygo_credits",
            "Credits moved: granted, spent, refunded, purchased or reversed.",
            ("movement",),
            registry=r,
        )
        self._sign_in_failures = Counter(
            "picpaygo_sign_in_failures",
            "Refused sign-ins, by method (password or google).",
            ("method",),
            registry=r,
        )
        self._sign_in_throttled = Counter(
            "picpaygo_sign_in_throttled",
            "Sign-in and registration attempts refused by the throttle (429).",
            registry=r,
        )
        for outcome in JOB_OUTCOMES:
            self._jobs_finished.labels(outcome)
        for outcome in GENERATOR_OUTCOMES:
            self._generator_latency.labels(outcome)
        for movement in CREDIT_MOVEMENTS:
            self._credits.labels(movement)
        for method in SIGN_IN_METHODS:
            self._sign_in_failures.labels(method)

    # --- HttpObserver -------------------------------------------------------------

    def request_finished(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request (unknown methods share one label)."""
        method = method if method in KNOWN_METHODS else "OTHER"
        series = self._http_series.get((route, method, status))
        if series is None:
            labels = (route, method, str(status))
            series = self._http_requests.labels(*labels), self._http_latency.labels(*labels)
            # Bounded like the series themselves: routes, methods and statuses are few.
            self._http_series[(route, method, status)] = series
        series[0].inc()
        series[1].observe(seconds)

    # --- Telemetry ------------------------------------------------------------------

    def job_created(self) -> None:
        self._jobs_created.inc()

    def job_finished(self, outcome: str, seconds: float) -> None:
        self._jobs_finished.labels(outcome).inc()

    def generator_called(self, outcome: str, seconds: float) -> None:
        self._generator_latency.labels(outcome).observe(seconds)

    def credits_moved(self, movement: CreditMovement, amount: int) -> None:
        self._credits.labels(movement).inc(amount)

    def sign_in_failed(self, method: str) -> None:
        self._sign_in_failures.labels(method).inc()

    def sign_in_throttled(self) -> None:
        self._sign_in_throttled.inc()

    # --- exposition -------------------------------------------------------------------

    def render(self, queue: QueueSnapshot | None) -> bytes:
        """The text exposition, with the queue gauges set to ``queue`` just read (left as
        they were when the storage could not be read)."""
        if queue is not None:
            self._queue_depth.set(queue.depth)
            self._queue_oldest.set(queue.oldest_age_seconds)
        if MULTIPROCESS_DIRECTORY not in os.environ:
            return generate_latest(self.registry)
        every_process = CollectorRegistry()
        MultiProcessCollector(every_process)  # type: ignore[no-untyped-call]
        return generate_latest(every_process)
