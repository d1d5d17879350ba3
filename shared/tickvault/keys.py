"""Every Redis name two services share: streams, groups, cache keys, channels, heartbeats.

All keys live under a prefix (``TICKVAULT_REDIS_PREFIX``, default ``tickvault``) so that test
runs, and several deployments on one Redis, never see each other's data.

The tick stream is split into ``TICKVAULT_STREAM_SHARDS`` shards. A symbol always belongs to
the same shard (:func:`shard_of`: the CRC16 that Redis Cluster hashes keys with, of the
symbol's name, modulo the shard count; stable across processes and Python versions, unlike
``hash()``). Everything that one script, pipeline or transaction
touches together belongs to one shard and carries that shard's Redis Cluster hash tag, so it
sits in one slot on one node:

- the collector's script appends to a shard's stream and moves the resume marks of that
  shard's symbols (:class:`ShardKeys`: ``stream``, ``last_id(symbol)``);
- a writer acknowledges a shard's entries and dead-letters the bad ones in one transaction
  (``stream``, ``dead_letter``).

The other keys are touched one at a time (a latest-price hash, a heartbeat, a lease, the hash
of tracked symbols) and need no tag. With one shard on a single Redis node the names are the
ones tickvault has always used (``tickvault:ticks``, ``tickvault:collector:last_id:BTCUSDT``);
on a Redis Cluster, or with several shards, they carry the tag
(``tickvault:{s0}:ticks``, ``tickvault:{s0}:collector:last_id:BTCUSDT``).
"""

from __future__ import annotations

from binascii import crc_hqx
from dataclasses import dataclass

WRITER_GROUP = "tickvault-writers"
MAX_SHARDS = 1024


def shard_of(symbol: str, shards: int) -> int:
    """Return the shard (0 … shards-1) that *symbol*'s ticks and resume mark belong to."""
    return crc_hqx(symbol.encode("utf-8"), 0) % shards


@dataclass(frozen=True, slots=True)
class ShardKeys:
    """The names of one shard of the tick stream (all in one Redis Cluster slot)."""

    index: int
    base: str  # "<prefix>" for the untagged single shard, "<prefix>:{s<i>}" otherwise

    @property
    def stream(self) -> str:
        """Return this shard's stream of ticks and gap records (collector → writers)."""
        return f"{self.base}:ticks"

    @property
    def dead_letter(self) -> str:
        """Return the stream of this shard's entries the writer could not store, with why."""
        return f"{self.base}:ticks:dead"

    def last_id(self, symbol: str) -> str:
        """Return the key of the last trade id the collector published for *symbol*."""
        return f"{self.base}:collector:last_id:{symbol}"

    def producer(self, instance: str) -> str:
        """Return the key holding the id of the last entry collector *instance* appended.

        It changes in the same script as the stream, so a Redis that lost appended entries
        (restarted empty, failed over to a replica that had not got them) shows an older
        value or none: the collector compares it with what its own appends returned.
        """
        return f"{self.base}:collector:appended:{instance}"

    @property
    def lost(self) -> str:
        """Return the counter of entries a writer found deleted from the stream while pending
        (set in the writer's acknowledging transaction, taken by the collector's next append)."""
        return f"{self.base}:ticks:lost"


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """The Redis names of one tickvault deployment.

    *shards* is ``TICKVAULT_STREAM_SHARDS``; *cluster* is ``TICKVAULT_REDIS_CLUSTER``. Keys
    carry hash tags when either asks for them (see the module's docstring).
    """

    prefix: str = "tickvault"
    shards: int = 1
    cluster: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.shards <= MAX_SHARDS:
            raise ValueError(f"shards must be 1 to {MAX_SHARDS}, got {self.shards}")

    @property
    def tagged(self) -> bool:
        """Return whether shard keys carry Redis Cluster hash tags."""
        return self.cluster or self.shards > 1

    # ------------------------------------------------------------------ the sharded stream

    def shard(self, index: int) -> ShardKeys:
        """Return the names of shard *index*."""
        if not 0 <= index < self.shards:
            raise ValueError(f"shard {index} does not exist (shards: {self.shards})")
        base = f"{self.prefix}:{{s{index}}}" if self.tagged else self.prefix
        return ShardKeys(index, base)

    def all_shards(self) -> tuple[ShardKeys, ...]:
        """Return every shard's names, shard 0 first."""
        return tuple(self.shard(i) for i in range(self.shards))

    def shard_of(self, symbol: str) -> ShardKeys:
        """Return the names of the shard *symbol* belongs to."""
        return self.shard(shard_of(symbol, self.shards))

    @property
    def stream(self) -> str:
        """Return the stream of a one-shard deployment (ValueError when there are more)."""
        return self._only_shard().stream

    @property
    def dead_letter(self) -> str:
        """Return the dead-letter stream of a one-shard deployment (ValueError with more)."""
        return self._only_shard().dead_letter

    def collector_last_id(self, symbol: str) -> str:
        """Return the key holding the last trade id the collector published for *symbol*."""
        return self.shard_of(symbol).last_id(symbol)

    def _only_shard(self) -> ShardKeys:
        if self.shards != 1:
            raise ValueError(f"{self.shards} stream shards: name the shard (RedisKeys.shard)")
        return self.shard(0)

    # ------------------------------------------------------------------ single keys

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

    @property
    def maintenance_lease(self) -> str:
        """Return the lease key that lets one writer replica run partition maintenance."""
        return f"{self.prefix}:lease:maintenance"

    @property
    def audit_lease(self) -> str:
        """Return the lease key that lets one process run the gap auditor."""
        return f"{self.prefix}:lease:audit"
