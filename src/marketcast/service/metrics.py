"""Prometheus metrics: requests, latency histograms, errors, pool load and jobs by state.

A registry of the app's own (not the process-global one), so that several apps in one process
(tests) do not clash. Routes are labelled by their template (``/v1/jobs/{job_id}``), never by
the raw path, so that ids cannot blow up the label set.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

__all__ = ["ServiceMetrics", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class _StateCollector:
    def __init__(self, jobs_by_state, pool_state) -> None:
        self._jobs, self._pool = jobs_by_state, pool_state

    def collect(self):
        jobs = GaugeMetricFamily("marketcast_jobs", "Jobs by state.", labels=["state"])
        counts = self._jobs() or {}
        for state in ("queued", "running", "succeeded", "failed", "cancelled"):
            jobs.add_metric([state], counts.get(state, 0))
        yield jobs
        pending, workers = self._pool()
        yield GaugeMetricFamily("marketcast_pool_pending", "Calls waiting for or running in the worker pool.",
                                value=pending)
        yield GaugeMetricFamily("marketcast_pool_workers", "Worker processes of the pool.", value=workers)


class ServiceMetrics:
    def __init__(self, jobs_by_state=lambda: {}, pool_state=lambda: (0, 0)) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("marketcast_http_requests_total", "HTTP requests by route, method and status.",
                                ["method", "route", "status"], registry=self.registry)
        self.errors = Counter("marketcast_http_errors_total", "HTTP answers with status 400 or above.",
                              ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("marketcast_http_request_duration_seconds", "Time from request to response.",
                                 ["method", "route"], buckets=_BUCKETS, registry=self.registry)
        self.registry.register(_StateCollector(jobs_by_state, pool_state))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)
        if status >= 400:
            self.errors.labels(method, route, str(status)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
