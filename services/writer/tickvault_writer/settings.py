"""The writer's own knobs, on top of the shared :class:`~tickvault.config.Settings`."""

from __future__ import annotations

from pydantic import Field

from tickvault.config import Settings


class WriterSettings(Settings):
    """Settings of ``tickvault-writer`` (env ``TICKVAULT_WRITER_*``)."""

    writer_batch_size: int = Field(default=10_000, ge=1, le=100_000)
    writer_block_ms: int = Field(default=50, ge=1, le=10_000)
    writer_claim_idle_ms: int = Field(default=30_000, ge=100)
    writer_consumer: str | None = None
    writer_metrics_port: int = Field(default=9102, ge=0, le=65535)
    writer_metrics_bind: str = "0.0.0.0"
    writer_maintenance_interval_s: float = Field(default=300.0, ge=0)
    writer_maintenance_lease_s: float = Field(default=600.0, gt=0)
    writer_heartbeat_interval_s: float = Field(default=2.0, gt=0)
    writer_heartbeat_ttl_s: float = Field(default=10.0, gt=0)
    writer_summary_interval_s: float = Field(default=30.0, gt=0)
    writer_retry_max_s: float = Field(default=5.0, gt=0)
