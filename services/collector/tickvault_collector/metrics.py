"""The collector's Prometheus metrics, on a registry of their own (one per collector), and the
hot-path :class:`Counts` synced into them.

Every part that counts (the frame path, the gap machinery, the ticker checks) adds to one
:class:`Counts` of plain integers; once a second
:meth:`~tickvault_collector.collector.Collector.sync_metrics` moves each field's delta to the
:class:`Metrics` counter of the same name.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from prometheus_client import CollectorRegistry

from tickvault.metrics import MetricSet, counter, gauge, histogram


class Metrics(MetricSet):
    """Every metric the collector exports."""

    service = "collector"

    frames = counter("WebSocket frames received")
    trades = counter("Trades published from the WebSocket")
    malformed = counter("Frames that could not be parsed", name="malformed_frames")
    unknown = counter("Well-formed frames of unused kinds", name="unknown_frames")
    duplicates = counter("Trades dropped as already seen")
    gaps_detected = counter("Gaps in trade ids detected")
    gaps_filled = counter("Gaps filled from REST")
    gaps_unfillable = counter("Gaps REST could not fill")
    backfilled = counter("Trades published from REST", name="backfilled_trades")
    reconnects = counter("WebSocket reconnects", "reason")
    backfill_requests = counter(
        "REST requests by path and status", "path", "status", name="rest_requests"
    )
    lag = histogram(
        "Exchange trade time to Redis publish",
        (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        name="publish_lag_seconds",
    )
    buffer = gauge("Entries waiting to be published", name="buffer_entries")
    overflow = counter("Trades dropped on a full buffer", name="buffer_overflow")
    audit_runs = counter("Scheduled gap audits by outcome", "outcome")
    audit_gaps = counter("Holes the gap audit found in PostgreSQL", name="audit_gaps_found")
    audit_refilled = counter("Trades the gap audit refilled", name="audit_refilled_trades")
    ticker_rows = counter("Ticker rows compared with capture")
    ticker_bad = counter("Ticker rows unreadable or of unusable names", name="ticker_bad_rows")
    tail_gaps = counter("Gaps found because a ticker was ahead of capture")
    gaps_by_reason = counter(
        "Gaps opened (or recorded unfillable) by why the trades went missing", "reason"
    )
    stream_losses = counter("Times Redis lost stream entries before a writer stored them")
    redis_faults = counter(
        "Appends Redis failed and the collector retried, by kind (unreachable, cluster "
        "down, resharding, ...)",
        "fault",
    )
    stream_backlog = gauge(
        "Stream entries some consumer group has not acknowledged (not trimmable)",
        name="stream_backlog_entries",
    )
    stream_full = gauge(
        "1 while the backlog is at TICKVAULT_STREAM_MAXLEN and the collector buffers"
    )
    tails_behind = gauge("Symbols a ticker shows ahead of capture, waiting")
    repair_calls = gauge("historicalTrades calls the open gaps need", name="repair_calls_queued")
    repair_oldest = gauge("Age of the oldest open gap", name="repair_oldest_gap_seconds")
    symbols = gauge("Tracked symbols by status", "status")
    universe_refreshes = counter(
        "exchangeInfo reads by outcome (ok, partial, unusable, failed)", "outcome"
    )
    universe_bad_entries = counter(
        "exchangeInfo entries unreadable or of names tickvault cannot store"
    )
    status_changes = counter("Tracked symbols whose status changed")
    subscription_messages = counter("SUBSCRIBE/UNSUBSCRIBE messages sent", "method")
    connections = gauge("Open trade and ticker connections")
    rest_weight = counter("REST weight spent by use", "use")


def make_metrics(registry: CollectorRegistry | None = None) -> Metrics:
    """Create the collector's metrics on *registry* (a fresh one by default)."""
    return Metrics(registry)


@dataclass(slots=True)
class Counts:
    """Hot-path counters (plain ints): each one's deltas go to the Metrics counter of its name."""

    frames: int = 0
    trades: int = 0
    malformed: int = 0
    unknown: int = 0
    duplicates: int = 0
    overflow: int = 0
    gaps_detected: int = 0
    gaps_filled: int = 0
    gaps_unfillable: int = 0
    backfilled: int = 0
    ticker_rows: int = 0
    ticker_bad: int = 0
    tail_gaps: int = 0
    stream_losses: int = 0


COUNT_NAMES = tuple(f.name for f in fields(Counts))
