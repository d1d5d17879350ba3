"""The API's own settings: serving knobs and the limits that protect PostgreSQL."""

from __future__ import annotations

from pydantic import Field, model_validator

from tickvault.config import API_BIND, Bind, DatabaseUrl, Settings


class ApiSettings(Settings):
    """Settings of ``tickvault-api`` (env ``TICKVAULT_API_*`` on top of the shared ones)."""

    api_bind: Bind = API_BIND
    api_database_url: DatabaseUrl | None = None  # unset: TICKVAULT_DATABASE_URL
    api_workers: int = Field(default=2, ge=1, le=64)
    api_connections: int = Field(default=1000, ge=10, le=100_000)
    api_access_log: bool = False
    api_graceful_timeout: int = Field(default=10, ge=1, le=600)
    api_max_window_hours: int = Field(default=31 * 24, ge=1, le=24 * 3650)
    api_max_candles: int = Field(default=5000, ge=10, le=100_000)
    api_history_max_limit: int = Field(default=5000, ge=1, le=100_000)
    api_history_default_limit: int = Field(default=1000, ge=1, le=100_000)
    api_statement_timeout_ms: int = Field(default=5000, ge=100, le=600_000)
    api_db_pool_size: int = Field(default=8, ge=1, le=256)
    api_redis_pool_size: int = Field(default=64, ge=2, le=10_000)
    api_cache_ttl_seconds: float = Field(default=60.0, ge=0, le=86_400)
    api_cache_entries: int = Field(default=2048, ge=0, le=1_000_000)
    api_cache_grace_seconds: float = Field(default=10.0, ge=0, le=86_400)
    api_symbols_refresh_seconds: float = Field(default=5.0, ge=0, le=3600)
    api_stream_max_seconds: float = Field(default=300.0, ge=1, le=86_400)
    api_max_streams: int = Field(default=5000, ge=1, le=100_000)
    api_stream_buffer: int = Field(default=256, ge=1, le=100_000)
    api_replica_max_lag_seconds: float = Field(default=300.0, gt=0, le=86_400)
    api_stream_interval_ms: int = Field(default=50, ge=0, le=10_000)
    api_max_exports: int = Field(default=2, ge=1, le=256)
    api_export_max_seconds: float = Field(default=300.0, ge=1, le=86_400)

    @model_validator(mode="after")
    def _api_url_default(self) -> ApiSettings:
        if self.api_database_url is None:
            object.__setattr__(self, "api_database_url", self.database_url)
        return self

    @property
    def api_db_url(self) -> str:
        """Return the API's database URL (the read-write URL unless a read-only one is set)."""
        return self.api_database_url or self.database_url
