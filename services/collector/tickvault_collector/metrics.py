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
    )
