"""Redis names: every key lives under the deployment's prefix, with the documented names."""

from __future__ import annotations

from binascii import crc_hqx

import pytest
from redis.crc import key_slot

from tickvault.keys import WRITER_GROUP, RedisKeys, shard_of


def test_default_names() -> None:
    keys = RedisKeys()
    assert (keys.stream, keys.dead_letter, keys.latest_channel) == (
        "tickvault:ticks",
        "tickvault:ticks:dead",
        "tickvault:prices",
    )
    assert keys.latest("BTCUSDT") == "tickvault:latest:BTCUSDT"
    assert keys.heartbeat("writer", "w1") == "tickvault:heartbeat:writer:w1"
    assert keys.heartbeat_pattern("writer") == "tickvault:heartbeat:writer:*"
    assert keys.collector_last_id("ETHUSDT") == "tickvault:collector:last_id:ETHUSDT"
    assert keys.maintenance_lease == "tickvault:lease:maintenance"
    assert keys.audit_lease == "tickvault:lease:audit"
    assert WRITER_GROUP == "tickvault-writers"


def test_every_name_is_under_the_prefix() -> None:
    keys = RedisKeys("tvtest:abc")
    names = [
        keys.stream,
        keys.dead_letter,
        keys.latest_channel,
        keys.latest("BTCUSDT"),
        keys.heartbeat("api", "1"),
        keys.heartbeat_pattern("api"),
        keys.collector_last_id("BTCUSDT"),
        keys.maintenance_lease,
        keys.audit_lease,
    ]
    assert all(name.startswith("tvtest:abc:") for name in names)
    assert len(set(names)) == len(names)


def test_one_shard_on_one_node_keeps_the_names_tickvault_always_used() -> None:
    keys = RedisKeys("tickvault", shards=1, cluster=False)
    (only,) = keys.all_shards()
    assert (only.stream, only.dead_letter, only.last_id("BTCUSDT")) == (
        "tickvault:ticks",
        "tickvault:ticks:dead",
        "tickvault:collector:last_id:BTCUSDT",
    )
    assert keys.shard_of("ETHUSDT") == only


def test_a_cluster_or_several_shards_tag_every_shard_key() -> None:
    assert RedisKeys("tv", shards=1, cluster=True).stream == "tv:{s0}:ticks"
    keys = RedisKeys("tv", shards=3)
    assert [s.stream for s in keys.all_shards()] == [
        "tv:{s0}:ticks",
        "tv:{s1}:ticks",
        "tv:{s2}:ticks",
    ]
    assert keys.shard(2).dead_letter == "tv:{s2}:ticks:dead"
    # Single keys need no tag: they are never touched together with another key.
    assert (keys.latest("BTCUSDT"), keys.symbols, keys.audit_lease) == (
        "tv:latest:BTCUSDT",
        "tv:symbols",
        "tv:lease:audit",
    )


def test_keys_used_together_share_one_cluster_slot() -> None:
    keys = RedisKeys("tvtest:abc", shards=4, cluster=True)
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "DOGEUSDT"]
    for shard in keys.all_shards():
        together = [shard.stream, shard.dead_letter]
        together += [shard.last_id(s) for s in symbols if keys.shard_of(s) == shard]
        assert len({key_slot(k.encode()) for k in together}) == 1, together
    slots = {key_slot(s.stream.encode()) for s in keys.all_shards()}
    assert len(slots) == 4  # distinct shards are distinct slots, free to live on other nodes


def test_a_symbol_always_maps_to_the_same_shard() -> None:
    # Redis Cluster's CRC16 of the name: the same in every process and Python version.
    assert [shard_of(s, 3) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")] == [
        crc_hqx(b"BTCUSDT", 0) % 3,
        crc_hqx(b"ETHUSDT", 0) % 3,
        crc_hqx(b"SOLUSDT", 0) % 3,
    ]
    assert (shard_of("BTCUSDT", 3), shard_of("ETHUSDT", 3)) == (1, 2)
    keys = RedisKeys(shards=3)
    assert keys.collector_last_id("ETHUSDT") == keys.shard(2).last_id("ETHUSDT")
    assert {shard_of(f"SYM{i}USDT", 3) for i in range(60)} == {0, 1, 2}


def test_a_sharded_deployment_has_no_single_stream_name() -> None:
    keys = RedisKeys(shards=2)
    with pytest.raises(ValueError, match="name the shard"):
        _ = keys.stream
    with pytest.raises(ValueError, match="shard 2 does not exist"):
        keys.shard(2)
    with pytest.raises(ValueError, match="1 to 1024"):
        RedisKeys(shards=0)
