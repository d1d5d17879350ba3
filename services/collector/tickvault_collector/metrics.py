"""The collector's Prometheus metrics, on a registry of their own (one per collector)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from tickvault.metrics import MetricFactory


@dataclass(frozen=True, slots=True)
class Metrics:
    """Every metric the collector exports."""

    registry: CollectorRegistry
    frames: Counter
    trades: Counter
    malformed: Counter
    unknown: Counter
    duplicates: Counter
    gaps_detected: Counter
    gaps_filled: Counter
    gaps_unfillable: Counter
    backfilled: Counter
    reconnects: Counter
    backfill_requests: Counter
    lag: Histogram
    buffer: Gauge
    overflow: Counter
    audit_runs: Counter
    audit_gaps: Counter
    audit_refilled: Counter
    ticker_rows: Counter
    ticker_bad: Counter
    tail_gaps: Counter
    gaps_by_reason: Counter
    stream_losses: Counter
    redis_faults: Counter
    stream_backlog: Gauge
    stream_full: Gauge
    tails_behind: Gauge
    repair_calls: Gauge
    repair_oldest: Gauge
    symbols: Gauge
    universe_refreshes: Counter
    universe_bad_entries: Counter
    status_changes: Counter
    subscription_messages: Counter
    connections: Gauge
    rest_weight: Counter


def make_metrics(registry: CollectorRegistry | None = None) -> Metrics:
    """Create the collector's metrics on *registry* (a fresh one by default)."""
    m = MetricFactory("collector", registry or CollectorRegistry())
    return Metrics(
        registry=m.registry,
        frames=m.counter("frames", "WebSocket frames received"),
        trades=m.counter("trades", "Trades published from the WebSocket"),
        malformed=m.counter("malformed_frames", "Frames that could not be parsed"),
        unknown=m.counter("unknown_frames", "Well-formed frames of unused kinds"),
        duplicates=m.counter("duplicates", "Trades dropped as already seen"),
        gaps_detected=m.counter("gaps_detected", "Gaps in trade ids detected"),
        gaps_filled=m.counter("gaps_filled", "Gaps filled from REST"),
        gaps_unfillable=m.counter("gaps_unfillable", "Gaps REST could not fill"),
        backfilled=m.counter("backfilled_trades", "Trades published from REST"),
        reconnects=m.counter("reconnects", "WebSocket reconnects", "reason"),
        backfill_requests=m.counter(
            "rest_requests", "REST requests by path and status", "path", "status"
        ),
        lag=m.histogram(
            "publish_lag_seconds",
            "Exchange trade time to Redis publish",
            (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        ),
        buffer=m.gauge("buffer_entries", "Entries waiting to be published"),
        overflow=m.counter("buffer_overflow", "Trades dropped on a full buffer"),
        audit_runs=m.counter("audit_runs", "Scheduled gap audits by outcome", "outcome"),
        audit_gaps=m.counter("audit_gaps_found", "Holes the gap audit found in PostgreSQL"),
        audit_refilled=m.counter("audit_refilled_trades", "Trades the gap audit refilled"),
        ticker_rows=m.counter("ticker_rows", "Ticker rows compared with capture"),
        ticker_bad=m.counter("ticker_bad_rows", "Ticker rows unreadable or of unusable names"),
        tail_gaps=m.counter("tail_gaps", "Gaps found because a ticker was ahead of capture"),
        gaps_by_reason=m.counter(
            "gaps_by_reason",
            "Gaps opened (or recorded unfillable) by why the trades went missing",
            "reason",
        ),
        stream_losses=m.counter(
            "stream_losses", "Times Redis lost stream entries before a writer stored them"
        ),
        redis_faults=m.counter(
            "redis_faults",
            "Appends Redis failed and the collector retried, by kind (unreachable, cluster "
            "down, resharding, ...)",
            "fault",
        ),
        stream_backlog=m.gauge(
            "stream_backlog_entries",
            "Stream entries some consumer group has not acknowledged (not trimmable)",
        ),
        stream_full=m.gauge(
            "stream_full",
            "1 while the backlog is at TICKVAULT_STREAM_MAXLEN and the collector buffers",
        ),
        tails_behind=m.gauge("tails_behind", "Symbols a ticker shows ahead of capture, waiting"),
        repair_calls=m.gauge("repair_calls_queued", "historicalTrades calls the open gaps need"),
        repair_oldest=m.gauge("repair_oldest_gap_seconds", "Age of the oldest open gap"),
        symbols=m.gauge("symbols", "Tracked symbols by status", "status"),
        universe_refreshes=m.counter(
            "universe_refreshes",
            "exchangeInfo reads by outcome (ok, partial, unusable, failed)",
            "outcome",
        ),
        universe_bad_entries=m.counter(
            "universe_bad_entries",
            "exchangeInfo entries unreadable or of names tickvault cannot store",
        ),
        status_changes=m.counter("status_changes", "Tracked symbols whose status changed"),
        subscription_messages=m.counter(
            "subscription_messages", "SUBSCRIBE/UNSUBSCRIBE messages sent", "method"
        ),
        connections=m.gauge("connections", "Open trade and ticker connections"),
        rest_weight=m.counter("rest_weight", "REST weight spent by use", "use"),
    )
