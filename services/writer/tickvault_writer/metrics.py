"""The writer's Prometheus metrics, in a registry of its own (so tests can make many writers)."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 600)
_SIZE_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 25_000)
_COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class WriterMetrics:
    """Counters, gauges and histograms of one writer process."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.rows_inserted = Counter(
            "tickvault_writer_rows_inserted", "Trades inserted into PostgreSQL", registry=r
        )
        self.duplicates = Counter(
            "tickvault_writer_duplicates_skipped", "Trades already stored, skipped", registry=r
        )
        self.dead_lettered = Counter(
            "tickvault_writer_dead_lettered",
            "Stream entries moved to the dead-letter stream",
            registry=r,
        )
        self.gaps = Counter("tickvault_writer_gap_records", "Gap records upserted", registry=r)
        self.gaps_by_reason = Counter(
            "tickvault_writer_gaps_by_reason",
            "Gap records stored, by why the trades went missing and status",
            ["reason", "status"],
            registry=r,
        )
        self.deleted_entries = Counter(
            "tickvault_writer_deleted_entries",
            "Entries found deleted from the stream while pending (refilled as claim_deleted)",
            registry=r,
        )
        self.cache_updates = Counter(
            "tickvault_writer_cache_updates", "Latest-price hashes moved forward", registry=r
        )
        self.retries = Counter(
            "tickvault_writer_retries",
            "Batches retried after a store failure",
            ["store"],
            registry=r,
        )
        self.batch_size = Histogram(
            "tickvault_writer_batch_size",
            "Stream entries per batch",
            buckets=_SIZE_BUCKETS,
            registry=r,
        )
        self.commit_seconds = Histogram(
            "tickvault_writer_commit_seconds",
            "Time to store one batch in PostgreSQL",
            buckets=_COMMIT_BUCKETS,
            registry=r,
        )
        self.latency = Histogram(
            "tickvault_writer_exchange_to_commit_seconds",
            "Time from a trade's exchange time to its commit",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.pending = Gauge(
            "tickvault_writer_pending_entries",
            "Entries delivered to the group, not yet acked",
            registry=r,
        )
        self.lag = Gauge(
            "tickvault_writer_stream_lag",
            "Entries in the stream not yet delivered to the group",
            registry=r,
        )

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
