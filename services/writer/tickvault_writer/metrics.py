"""The writer's Prometheus metrics, in a registry of its own (so tests can make many writers)."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, start_http_server

from tickvault.metrics import MetricFactory

log = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 600)
_SIZE_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 25_000)
_COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class WriterMetrics:
    """Counters, gauges and histograms of one writer process."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        m = MetricFactory("writer", registry or CollectorRegistry())
        self.registry = m.registry
        self.rows_inserted = m.counter("rows_inserted", "Trades inserted into PostgreSQL")
        self.duplicates = m.counter("duplicates_skipped", "Trades already stored, skipped")
        self.dead_lettered = m.counter(
            "dead_lettered", "Stream entries moved to the dead-letter stream"
        )
        self.gaps = m.counter("gap_records", "Gap records upserted")
        self.cache_updates = m.counter("cache_updates", "Latest-price hashes moved forward")
        self.retries = m.counter("retries", "Batches retried after a store failure", "store")
        self.batch_size = m.histogram("batch_size", "Stream entries per batch", _SIZE_BUCKETS)
        self.commit_seconds = m.histogram(
            "commit_seconds", "Time to store one batch in PostgreSQL", _COMMIT_BUCKETS
        )
        self.gaps_by_reason = m.counter(
            "gaps_by_reason",
            "Gap records stored, by why the trades went missing and status",
            "reason",
            "status",
        )
        self.deleted_entries = m.counter(
            "deleted_entries",
            "Entries found deleted from the stream while pending (refilled as claim_deleted)",
        )
        self.redis_faults = m.counter(
            "redis_faults",
            "Redis failures retried, by kind (unreachable, cluster down, resharding, ...)",
            "fault",
        )
        self.latency = m.histogram(
            "exchange_to_commit_seconds",
            "Time from a trade's exchange time to its commit",
            _LATENCY_BUCKETS,
        )
        self.pending = m.gauge("pending_entries", "Entries delivered to the group, not yet acked")
        self.lag = m.gauge("stream_lag", "Entries in the stream not yet delivered to the group")

    def serve(self, port: int, addr: str = "0.0.0.0") -> bool:
        """Expose the metrics over HTTP on *port* (0 disables); return whether it listens."""
        if port == 0:
            return False
        try:
            start_http_server(port, addr=addr, registry=self.registry)
        except OSError as exc:  # a busy port must not stop ingestion
            log.warning("metrics not served: cannot listen on %s:%d (%s)", addr, port, exc)
            return False
        log.info("metrics on http://%s:%d/metrics", addr, port)
        return True
