"""The collector's Prometheus metrics, on a registry of their own (one per collector)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
    reg = registry or CollectorRegistry()
    p = "tickvault_collector_"
    return Metrics(
        registry=reg,
        frames=Counter(p + "frames", "WebSocket frames received", registry=reg),
        trades=Counter(p + "trades", "Trades published from the WebSocket", registry=reg),
        malformed=Counter(p + "malformed_frames", "Frames that could not be parsed", registry=reg),
        unknown=Counter(p + "unknown_frames", "Well-formed frames of unused kinds", registry=reg),
        duplicates=Counter(p + "duplicates", "Trades dropped as already seen", registry=reg),
        gaps_detected=Counter(p + "gaps_detected", "Gaps in trade ids detected", registry=reg),
        gaps_filled=Counter(p + "gaps_filled", "Gaps filled from REST", registry=reg),
        gaps_unfillable=Counter(p + "gaps_unfillable", "Gaps REST could not fill", registry=reg),
        backfilled=Counter(p + "backfilled_trades", "Trades published from REST", registry=reg),
        reconnects=Counter(p + "reconnects", "WebSocket reconnects", ["reason"], registry=reg),
        backfill_requests=Counter(
            p + "rest_requests",
            "REST requests by path and status",
            ["path", "status"],
            registry=reg,
        ),
        lag=Histogram(
            p + "publish_lag_seconds",
            "Exchange trade time to Redis publish",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=reg,
        ),
        buffer=Gauge(p + "buffer_entries", "Entries waiting to be published", registry=reg),
        overflow=Counter(p + "buffer_overflow", "Trades dropped on a full buffer", registry=reg),
        audit_runs=Counter(
            p + "audit_runs", "Scheduled gap audits by outcome", ["outcome"], registry=reg
        ),
        audit_gaps=Counter(
            p + "audit_gaps_found", "Holes the gap audit found in PostgreSQL", registry=reg
        ),
        audit_refilled=Counter(
            p + "audit_refilled_trades", "Trades the gap audit refilled", registry=reg
        ),
        ticker_rows=Counter(p + "ticker_rows", "Ticker rows compared with capture", registry=reg),
        ticker_bad=Counter(
            p + "ticker_bad_rows", "Ticker rows unreadable or of unusable names", registry=reg
        ),
        tail_gaps=Counter(
            p + "tail_gaps", "Gaps found because a ticker was ahead of capture", registry=reg
        ),
        gaps_by_reason=Counter(
            p + "gaps_by_reason",
            "Gaps opened (or recorded unfillable) by why the trades went missing",
            ["reason"],
            registry=reg,
        ),
        stream_losses=Counter(
            p + "stream_losses",
            "Times Redis lost stream entries before a writer stored them",
            registry=reg,
        ),
        stream_backlog=Gauge(
            p + "stream_backlog_entries",
            "Stream entries some consumer group has not acknowledged (not trimmable)",
            registry=reg,
        ),
        stream_full=Gauge(
            p + "stream_full",
            "1 while the backlog is at TICKVAULT_STREAM_MAXLEN and the collector buffers",
            registry=reg,
        ),
        tails_behind=Gauge(
            p + "tails_behind", "Symbols a ticker shows ahead of capture, waiting", registry=reg
        ),
        repair_calls=Gauge(
            p + "repair_calls_queued", "historicalTrades calls the open gaps need", registry=reg
        ),
        repair_oldest=Gauge(
            p + "repair_oldest_gap_seconds", "Age of the oldest open gap", registry=reg
        ),
        symbols=Gauge(p + "symbols", "Tracked symbols by status", ["status"], registry=reg),
        universe_refreshes=Counter(
            p + "universe_refreshes",
            "exchangeInfo reads by outcome (ok, partial, unusable, failed)",
            ["outcome"],
            registry=reg,
        ),
        universe_bad_entries=Counter(
            p + "universe_bad_entries",
            "exchangeInfo entries unreadable or of names tickvault cannot store",
            registry=reg,
        ),
        status_changes=Counter(
            p + "status_changes", "Tracked symbols whose status changed", registry=reg
        ),
        subscription_messages=Counter(
            p + "subscription_messages",
            "SUBSCRIBE/UNSUBSCRIBE messages sent",
            ["method"],
            registry=reg,
        ),
        connections=Gauge(p + "connections", "Open trade and ticker connections", registry=reg),
        rest_weight=Counter(p + "rest_weight", "REST weight spent by use", ["use"], registry=reg),
    )
