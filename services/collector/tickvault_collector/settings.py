"""The collector's own knobs, on top of the shared :class:`~tickvault.config.Settings`."""

from __future__ import annotations

import os
import socket

from pydantic import Field

from tickvault.config import RestBudgetSettings, WsBaseUrl
from tickvault.retry import RetryPolicy


def _default_instance() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class CollectorSettings(RestBudgetSettings):
    """Settings of ``tickvault-collector`` (env ``TICKVAULT_COLLECTOR_*``, and the exchange's
    URLs and the stream cap, which only the collector uses)."""

    collector_streams_per_connection: int = Field(default=1024, ge=1, le=1024)
    collector_symbols_refresh_s: float = Field(default=300.0, gt=0)
    collector_tail_grace_s: float = Field(default=5.0, gt=0)
    collector_backfill_max_trades: int = Field(default=1_000_000, ge=0)
    collector_metrics_port: int = Field(default=9101, ge=0, le=65535)
    collector_silence_timeout_s: float = Field(default=60.0, gt=0)
    collector_lifetime_s: float = Field(default=23 * 3600.0, gt=0)
    collector_lifetime_jitter_s: float = Field(default=600.0, ge=0)
    collector_backoff_initial_s: float = Field(default=0.5, gt=0)
    collector_rate_limited_backoff_s: float = Field(default=120.0, ge=0)
    collector_connect_budget: int = Field(default=250, ge=1, le=300)
    collector_connect_budget_window_s: float = Field(default=300.0, gt=0)
    collector_flush_ms: float = Field(default=5.0, gt=0)
    collector_batch_size: int = Field(default=1000, ge=1, le=100_000)
    collector_buffer_max: int = Field(default=500_000, ge=100)
    collector_heartbeat_ttl_s: float = Field(default=15.0, ge=1)
    collector_summary_interval_s: float = Field(default=60.0, gt=0)
    collector_audit_interval_s: float = Field(default=600.0, ge=0)
    collector_audit_lookback_hours: int = Field(default=0, ge=0, le=24 * 3650)
    collector_instance: str = Field(default_factory=_default_instance, min_length=1)

    # The exchange's URLs and the stream's cap: shared names (README), read by the collector alone.
    binance_ws_url: WsBaseUrl = "wss://stream.binance.com:9443"
    stream_maxlen: int = Field(default=2_000_000, ge=1000)

    def retry_policy(self) -> RetryPolicy:
        """Return how the collector waits between attempts to reach Binance or Redis.

        A 429/418 answer waits for ``Retry-After`` but never less than
        ``TICKVAULT_COLLECTOR_RATE_LIMITED_BACKOFF_S`` (Binance bans an IP that hammers it).
        """
        limited = self.collector_rate_limited_backoff_s
        return RetryPolicy(
            self.collector_backoff_initial_s,
            self.collector_backoff_max_s,
            limited_default=limited,
            limited_floor=limited,
        )
