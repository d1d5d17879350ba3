"""The writer's own knobs, on top of the shared :class:`~tickvault.config.Settings`."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from tickvault.config import Settings
from tickvault.keys import ShardKeys


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
    writer_shards: Annotated[tuple[int, ...], NoDecode] = ()  # empty: every shard

    @field_validator("writer_shards", mode="before")
    @classmethod
    def _shards(cls, value: Any) -> tuple[int, ...]:
        items = value.split(",") if isinstance(value, str) else list(value)
        out: list[int] = []
        for item in (str(i).strip() for i in items):
            if not item:
                continue
            if not item.isdigit():
                raise ValueError(f"must be shard numbers separated by commas, got {item!r}")
            if int(item) not in out:
                out.append(int(item))
        return tuple(out)

    @model_validator(mode="after")
    def _shards_exist(self) -> WriterSettings:
        wrong = [i for i in self.writer_shards if i >= self.stream_shards]
        if wrong:
            raise ValueError(
                f"TICKVAULT_WRITER_SHARDS names shard {wrong[0]}, but TICKVAULT_STREAM_SHARDS="
                f"{self.stream_shards} makes shards 0 to {self.stream_shards - 1}"
            )
        return self

    def assigned_shards(self) -> tuple[ShardKeys, ...]:
        """Return the stream shards this replica consumes (every one unless assigned)."""
        keys = self.redis_keys
        if not self.writer_shards:
            return keys.all_shards()
        return tuple(keys.shard(i) for i in self.writer_shards)
