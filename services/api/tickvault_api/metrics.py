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

from tickvault.metrics import MetricFactory

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class ApiMetrics:
    """The counters, gauges and histograms one app updates."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        m = MetricFactory("api", CollectorRegistry(auto_describe=True))
        self.registry = m.registry
        self.requests = m.counter(
            "requests", "HTTP requests answered, by route and status", "route", "status"
        )
        self.latency = m.histogram(
            "request_seconds", "Time to answer a request, by route", BUCKETS, "route"
        )
        self.unavailable = m.counter(
            "unavailable", "Requests answered 503 because a backing store was down"
        )
        self.streams = m.gauge(
            "streams", "Live-price streams (Server-Sent Events) open", mode="livesum"
        )
        self.streams_dropped = m.counter(
            "streams_dropped",
            "Live-price streams ended because the client read slower than prices arrived",
        )
        self.unreadable_messages = m.counter(
            "unreadable_messages",
            "Live-price pub/sub messages that could not be decoded (skipped)",
        )
        self.exports = m.gauge("exports", "CSV exports being streamed", mode="livesum")
        self.exports_cut = m.counter(
            "exports_cut",
            "CSV exports cut off (connection aborted) at TICKVAULT_API_EXPORT_MAX_SECONDS",
        )
        self.refused = m.counter(
            "refused",
            "Requests answered 429 because a per-process limit was reached, by limit",
            "limit",
        )

        self.recovery_conflicts = m.counter(
            "recovery_conflicts",
            "Queries a standby cancelled (conflict with recovery) and the API asked again",
        )
        self.replica_lag = m.gauge(
            "replica_lag_seconds",
            "How far the standby the API reads from is behind its primary (0 on a primary), "
            "as last measured (by /readyz, and at most once a second by the queries)",
            mode="max",
        )

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
