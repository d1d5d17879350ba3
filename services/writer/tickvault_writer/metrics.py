"""The writer's Prometheus metrics, in a registry of its own (so tests can make many writers)."""

from __future__ import annotations

from tickvault.metrics import MetricSet, counter, gauge, histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 600)
_SIZE_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 25_000)
_COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class WriterMetrics(MetricSet):
    """Counters, gauges and histograms of one writer process."""

    service = "writer"

    rows_inserted = counter("Trades inserted into PostgreSQL")
    duplicates = counter("Trades already stored, skipped", name="duplicates_skipped")
    dead_lettered = counter("Stream entries moved to the dead-letter stream")
    gaps = counter("Gap records upserted", name="gap_records")
    cache_updates = counter("Latest-price hashes moved forward")
    retries = counter("Batches retried after a store failure", "store")
    batch_size = histogram("Stream entries per batch", _SIZE_BUCKETS)
    commit_seconds = histogram("Time to store one batch in PostgreSQL", _COMMIT_BUCKETS)
    gaps_by_reason = counter(
        "Gap records stored, by why the trades went missing and status", "reason", "status"
    )
    deleted_entries = counter(
        "Entries found deleted from the stream while pending (refilled as claim_deleted)"
    )
    redis_faults = counter(
        "Redis failures retried, by kind (unreachable, cluster down, resharding, ...)", "fault"
    )
    latency = histogram(
        "Time from a trade's exchange time to its commit",
        _LATENCY_BUCKETS,
        name="exchange_to_commit_seconds",
    )
    pending = gauge("Entries delivered to the group, not yet acked", name="pending_entries")
    lag = gauge("Entries in the stream not yet delivered to the group", name="stream_lag")
