"""Prometheus metrics of the API, safe under Gunicorn's several worker processes.

``tickvault-api`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before any worker
starts; each worker then writes its samples there and ``/metrics`` merges them (gauges sum
over the live workers). Without the variable (tests, ``flask run``) each app keeps its own
registry.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client import multiprocess as prom_multiprocess

from tickvault.metrics import MetricSet, counter, gauge, histogram

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class ApiMetrics(MetricSet):
    """The counters, gauges and histograms one app updates."""

    service = "api"
    content_type = CONTENT_TYPE_LATEST

    requests = counter("HTTP requests answered, by route and status", "route", "status")
    latency = histogram(
        "Time to answer a request, by route", BUCKETS, "route", name="request_seconds"
    )
    unavailable = counter("Requests answered 503 because a backing store was down")
    streams = gauge("Live-price streams (Server-Sent Events) open", mode="livesum")
    streams_dropped = counter(
        "Live-price streams ended because the client read slower than prices arrived"
    )
    unreadable_messages = counter("Live-price pub/sub messages that could not be decoded (skipped)")
    exports = gauge("CSV exports being streamed", mode="livesum")
    exports_cut = counter(
        "CSV exports cut off (connection aborted) at TICKVAULT_API_EXPORT_MAX_SECONDS"
    )
    refused = counter(
        "Requests answered 429 because a per-process limit was reached, by limit", "limit"
    )
    recovery_conflicts = counter(
        "Queries a standby cancelled (conflict with recovery) and the API asked again"
    )
    replica_lag = gauge(
        "How far the standby the API reads from is behind its primary (0 on a primary), "
        "as last measured (by /readyz, and at most once a second by the queries)",
        name="replica_lag_seconds",
        mode="max",
    )

    def __init__(self) -> None:
        super().__init__(CollectorRegistry(auto_describe=True))
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}

    def observe(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        children = self._children.get((route, status))
        if children is None:  # labels() takes a lock: look each pair up once
            children = (self.requests.labels(route, str(status)), self.latency.labels(route))
            self._children[(route, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def exposition(self) -> bytes:
        """Return the text exposition, merged across worker processes when multiprocess."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            prom_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
