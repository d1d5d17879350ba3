"""Every Redis name two services share: stream, group, cache keys, channels, heartbeats.

All keys live under a prefix (``TICKVAULT_REDIS_PREFIX``, default ``tickvault``) so that test
runs, and several deployments on one Redis, never see each other's data.
"""

from __future__ import annotations

from dataclasses import dataclass

WRITER_GROUP = "tickvault-writers"


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """The Redis names of one tickvault deployment."""

    prefix: str = "tickvault"

    @property
    def stream(self) -> str:
        """Return the stream of ticks and gap records (collector → writers)."""
        return f"{self.prefix}:ticks"

    @property
    def dead_letter(self) -> str:
        """Return the stream of entries the writer could not decode, with the reason."""
        return f"{self.prefix}:ticks:dead"

    def latest(self, symbol: str) -> str:
        """Return the hash holding *symbol*'s latest trade."""
        return f"{self.prefix}:latest:{symbol}"

    @property
    def latest_channel(self) -> str:
        """Return the pub/sub channel announcing every new latest price."""
        return f"{self.prefix}:prices"

    def heartbeat(self, service: str, instance: str) -> str:
        """Return the heartbeat key of one service instance (a value with a TTL)."""
        return f"{self.prefix}:heartbeat:{service}:{instance}"

    def heartbeat_pattern(self, service: str) -> str:
        """Return the SCAN pattern matching every instance's heartbeat of *service*."""
        return f"{self.prefix}:heartbeat:{service}:*"

    @property
    def symbols(self) -> str:
        """Return the hash of tracked symbols and their status (collector writes, API reads)."""
        return f"{self.prefix}:symbols"

    def collector_last_id(self, symbol: str) -> str:
        """Return the key holding the last trade id the collector published for *symbol*."""
        return f"{self.prefix}:collector:last_id:{symbol}"

    @property
    def maintenance_lease(self) -> str:
        """Return the lease key that lets one writer replica run partition maintenance."""
        return f"{self.prefix}:lease:maintenance"

    @property
    def audit_lease(self) -> str:
        """Return the lease key that lets one process run the gap auditor."""
        return f"{self.prefix}:lease:audit"
