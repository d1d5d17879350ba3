"""The benchmark table: each figure, its baseline ratio and whether it meets its aim (pure)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

# key, label, aim text, check (None: no aim)
Check = Callable[[dict[str, Any]], bool] | None
ROWS: list[tuple[str, str, str, Check]] = [
    (
        "ingest_trades_per_s",
        "ingest end to end (trades/s)",
        ">= 50,000 and >= 10x naive",
        lambda r: r["ingest_trades_per_s"] >= 50_000 and r["ingest_vs_naive"] >= 10,
    ),
    ("copy_ceiling_rows_per_s", "plain COPY, same rows (rows/s)", "baseline", None),
    ("naive_rows_per_s", "INSERT+COMMIT per row (rows/s)", "baseline", None),
    ("ingest_vs_copy", "ingest / COPY", "", None),
    ("ingest_vs_naive", "ingest / naive", ">= 10", lambda r: r["ingest_vs_naive"] >= 10),
    ("latency_cache_ms_p50", "frame->cache p50, recorded pace (ms)", "", None),
    ("latency_cache_ms_p99", "frame->cache p99, recorded pace (ms)", "", None),
    ("latency_db_ms_p50", "frame->commit p50, recorded pace (ms)", "", None),
    (
        "latency_db_ms_p99",
        "frame->commit p99, recorded pace (ms)",
        "<= 100",
        lambda r: r["latency_db_ms_p99"] <= 100,
    ),
    ("latency_cache_ms_p50_50x", "frame->cache p50, 50x (ms)", "", None),
    ("latency_cache_ms_p99_50x", "frame->cache p99, 50x (ms)", "", None),
    ("latency_db_ms_p50_50x", "frame->commit p50, 50x (ms)", "", None),
    ("latency_db_ms_p99_50x", "frame->commit p99, 50x (ms)", "", None),
    (
        "api_latest_rps",
        "API latest (req/s)",
        ">= 0.8x bare",
        lambda r: r["api_latest_vs_bare"] >= 0.8,
    ),
    ("api_bare_rps", "bare Flask+Redis (req/s)", "baseline", None),
    ("api_latest_vs_bare", "latest / bare", ">= 0.8", lambda r: r["api_latest_vs_bare"] >= 0.8),
    ("api_latest_p99_ms", "API latest p99 (ms)", "", None),
    ("api_at_p99_ms", "API at p99, full day (ms)", "<= 5", lambda r: r["api_at_p99_ms"] <= 5),
    (
        "api_range_p99_ms",
        "API range p99, full day (ms)",
        "<= 5",
        lambda r: r["api_range_p99_ms"] <= 5,
    ),
    (
        "api_stats_day_ms",
        "API stats over a day (ms)",
        "<= 300",
        lambda r: r["api_stats_day_ms"] <= 300,
    ),
    ("streams_latest_rps_0", "latest, no stream open (req/s)", "baseline", None),
    ("streams_latest_p99_ms_0", "latest p99, no stream open (ms)", "baseline", None),
    ("streams_latest_rps_1000", "latest, 1,000 streams open (req/s)", "", None),
    (
        "streams_latest_p99_ms_1000",
        "latest p99, 1,000 streams open (ms)",
        "<= 2x no stream",
        lambda r: r["streams_p99_1000_vs_0"] <= 2,
    ),
    ("streams_latest_rps_5000", "latest, 5,000 streams open (req/s)", "", None),
    ("streams_latest_p99_ms_5000", "latest p99, 5,000 streams open (ms)", "", None),
    (
        "streams_delivery_p99_ms_1000",
        "publication->client p99, 1,000 streams (ms)",
        "< 250",
        lambda r: r["streams_delivery_p99_ms_1000"] < 250,
    ),
    (
        "streams_delivery_p99_ms_5000",
        "publication->client p99, 5,000 streams (ms)",
        "< 250",
        lambda r: r["streams_delivery_p99_ms_5000"] < 250,
    ),
    ("streams_before_delivery_p99_ms_1000", "  the same, before (baseline ref)", "baseline", None),
    ("streams_before_delivery_p99_ms_5000", "  5,000, before (baseline ref)", "baseline", None),
    (
        "streams_burst_delivery_p99_ms",
        "publication->client p99, 1,000 streams, burst (ms)",
        "",
        None,
    ),
    ("streams_before_burst_delivery_p99_ms", "  the same, before (baseline ref)", "baseline", None),
    (
        "streams_kb_per_idle_stream_5000",
        "API memory per idle stream (kB)",
        "< 50",
        lambda r: r["streams_kb_per_idle_stream_5000"] < 50,
    ),
    ("streams_latest_before_vs_bare", "latest / bare, before (gthread)", "", None),
    ("streams_latest_after_vs_bare", "latest / bare, after (gevent)", "", None),
    (
        "collector_rss_mb",
        "collector RSS start/end of soak (MiB)",
        "flat",
        lambda r: flat(r["collector_rss_mb"]),
    ),
    (
        "writer_rss_mb",
        "writer RSS start/end of soak (MiB)",
        "flat",
        lambda r: flat(r["writer_rss_mb"]),
    ),
    ("bytes_per_trade", "bytes per stored trade (table+indexes)", "", None),
    ("market_symbols", "whole market: symbols (ALL)", "", None),
    ("market_trades_per_s", "whole market: trades/s", "", None),
    (
        "market_collector_cpu_pct",
        "whole market: collector CPU (% of a core)",
        "< 30",
        lambda r: r["market_collector_cpu_pct"] < 30,
    ),
    ("market_baseline_collector_cpu_pct", "2 symbols, same rate: CPU (%)", "baseline", None),
    ("market_cpu_vs_baseline", "whole market / 2 symbols, CPU", "", None),
    (
        "market_collector_rss_mb",
        "whole market: collector RSS, highest (MiB)",
        "< 250",
        lambda r: r["market_collector_rss_mb"] < 250,
    ),
    (
        "market_rest_weight_steady_mean",
        "whole market: REST weight/min, steady mean",
        "< 600 (10 % of 6,000)",
        lambda r: r["market_rest_weight_steady_mean"] < 600,
    ),
    ("market_rest_weight_steady_peak", "whole market: REST weight/min, steady peak", "", None),
    (
        "market_rest_weight_peak",
        "whole market: REST weight/min, peak",
        "< 6,000",
        lambda r: r["market_rest_weight_peak"] < 6000,
    ),
    ("market_rest_weight_mean", "whole market: REST weight/min, mean", "", None),
    (
        "market_trades_lost",
        "whole market: trades lost",
        "0",
        lambda r: r["market_trades_lost"] == 0,
    ),
    ("market_gaps_filled", "whole market: gaps repaired", "", None),
    ("market_gap_repair_s_p99", "whole market: gap found -> filled p99 (s)", "", None),
    ("market_gap_repair_s_p99_steady", "  after the first minute, p99 (s)", "", None),
    ("cluster_single_trades_per_s", "ingest, one Redis, 1 shard (trades/s)", "baseline", None),
    ("cluster_1shard_trades_per_s", "ingest, Redis Cluster 1 shard (trades/s)", "", None),
    ("cluster_1shard_trades_per_s_vs_single", "  cluster 1 shard / one Redis", "", None),
    ("cluster_3shards_trades_per_s", "ingest, Redis Cluster 3 shards (trades/s)", "", None),
    ("cluster_3shards_trades_per_s_vs_single", "  cluster 3 shards / one Redis", "", None),
    ("cluster_single_cpu_us_per_trade", "CPU per trade, one Redis (µs)", "baseline", None),
    ("cluster_1shard_cpu_us_per_trade_vs_single", "  cluster 1 shard / one Redis", "", None),
    ("cluster_3shards_cpu_us_per_trade_vs_single", "  cluster 3 shards / one Redis", "", None),
    ("cluster_failover_redis_caught_up_s", "Redis master killed -> caught up (s)", "", None),
    ("cluster_failover_redis_lost_entries", "  entries the dead master alone held", "", None),
    ("cluster_failover_pg_writes_again_s", "PG primary stopped -> writers write (s)", "", None),
    ("cluster_failover_pg_caught_up_s", "PG primary stopped -> caught up (s)", "", None),
]


def flat(pair: list[float]) -> bool:
    """Return whether memory stayed flat: grew by at most 10 % or 5 MiB, whichever is more."""
    start, end = pair
    return end - start <= max(5.0, 0.10 * start)


def _ratio(a: Any, b: Any) -> float | None:
    if not isinstance(a, int | float) or not isinstance(b, int | float) or not b:
        return None
    return round(a / b, 2)


def add_ratios(r: dict[str, Any]) -> None:
    """Add the ratios against the baselines measured in the same run, and the aim verdicts."""
    r["ingest_vs_copy"] = _ratio(r.get("ingest_trades_per_s"), r.get("copy_ceiling_rows_per_s"))
    r["ingest_vs_naive"] = _ratio(r.get("ingest_trades_per_s"), r.get("naive_rows_per_s"))
    r["api_latest_vs_bare"] = _ratio(r.get("api_latest_rps"), r.get("api_bare_rps"))
    compare = r.get("streams_latest_compare") or {}
    r["streams_latest_before_vs_bare"] = compare.get("before_vs_bare")
    r["streams_latest_after_vs_bare"] = compare.get("after_vs_bare")
    aims = {}
    for key, _, _, check in ROWS:
        if check is None:
            continue
        try:
            aims[key] = bool(check(r))
        except (KeyError, TypeError):
            continue  # the step was skipped
    r["aims_met"] = aims


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return " -> ".join(_fmt(v) for v in value)
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, int | float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:g}"
    return str(value)


def table(r: dict[str, Any]) -> str:
    """Return the results as a plain-text table."""
    m = r.get("machine", {})
    lines = [
        f"tickvault bench — {m.get('cpu_model')} x{m.get('nproc')}, "
        f"{m.get('memory_gb')} GB, commit {str(r.get('git_commit'))[:10]}",
        f"{'figure':<42}{'value':>18}  {'aim':<28}{'met':>4}",
    ]
    aims = r.get("aims_met", {})
    for key, label, aim, _ in ROWS:
        if key not in r:
            continue
        met = "" if key not in aims else ("yes" if aims[key] else "NO")
        lines.append(f"{label:<42}{_fmt(r[key]):>18}  {aim:<28}{met:>4}")
    return "\n".join(lines)
