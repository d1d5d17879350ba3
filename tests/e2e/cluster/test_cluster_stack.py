"""End to end on a Redis Cluster (3 masters, 3 replicas): replay exchange -> collector -> a
tick stream in 3 shards -> writers -> PostgreSQL, every recorded trade stored exactly once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.cluster import RedisCluster
from sqlalchemy import Engine
from tests.integration.writer.writer_support import (
    assert_candles_recomputed,
    assert_stored_exactly,
    trade_count,
)
from tests.private_servers import PrivateRedisCluster, Services, replayed_services
from tests.support.polling import wait_until
from tests.support.recordings import all_recorded_trades

from tickvault.codec import latest_from_hash
from tickvault.keys import WRITER_GROUP, RedisKeys, shard_of
from tickvault.redisconn import connect

SHARDS = 3


@pytest.fixture
def cluster_prefix() -> str:
    return f"tvtest:{uuid.uuid4().hex[:12]}"


@pytest.fixture
def cluster_client(redis_cluster: PrivateRedisCluster) -> Iterator[RedisCluster]:
    client = connect(redis_cluster.url, cluster=True, socket_timeout=5)
    assert isinstance(client, RedisCluster)
    yield client
    client.close()


@pytest.fixture
def services(
    database_url: str,
    redis_cluster: PrivateRedisCluster,
    cluster_prefix: str,
    clean_db: Engine,
    tmp_path: Path,
) -> Iterator[Services]:
    with replayed_services(
        tmp_path,
        database_url,
        redis_cluster.url,
        cluster_prefix,
        speed=0,
        REDIS_CLUSTER="true",
        STREAM_SHARDS=str(SHARDS),
    ) as made:
        yield made


def shards_drained(client: RedisCluster, keys: RedisKeys) -> bool:
    """Return whether every shard's group has delivered and acknowledged every entry."""
    for shard in keys.all_shards():
        groups = client.xinfo_groups(shard.stream)
        names = (WRITER_GROUP, WRITER_GROUP.encode())
        group = next((g for g in groups if g["name"] in names), None)
        if group is None or int(group["pending"]) or int(group["lag"] or 0):
            return False
    return True


def test_the_recordings_through_three_shards_of_a_redis_cluster_are_stored_exactly(
    services: Services,
    cluster_client: RedisCluster,
    cluster_prefix: str,
    redis_cluster: PrivateRedisCluster,
    clean_db: Engine,
) -> None:
    recorded = all_recorded_trades()
    expected = sum(len(ts) for ts in recorded.values())
    keys = RedisKeys(cluster_prefix, SHARDS, cluster=True)
    used = {shard_of(symbol, SHARDS) for symbol in recorded}
    assert len(used) == 2  # the two recorded symbols land on two shards...
    masters = {redis_cluster.master_of(keys.shard(i).stream).port for i in used}
    assert len(masters) == 2  # ...served by two different masters
    # One writer consumes every shard, the other only the last: each shard's group
    # shares its entries between the writers reading it.
    services.start("writer-all", "tickvault_writer", TICKVAULT_WRITER_CONSUMER="w1")
    services.start(
        "writer-last",
        "tickvault_writer",
        TICKVAULT_WRITER_CONSUMER="w2",
        TICKVAULT_WRITER_SHARDS=str(SHARDS - 1),
    )
    services.start("collector", "tickvault_collector")
    wait_until(lambda: trade_count(clean_db) >= expected, 120, "every recorded trade", interval=0.2)
    wait_until(lambda: shards_drained(cluster_client, keys), 30, "every shard drained")
    codes = services.terminate()
    assert codes == {"writer-all": 0, "writer-last": 0, "collector": 0}, [
        services.log(n)[-2000:] for n in ("writer-all", "writer-last", "collector")
    ]

    assert_stored_exactly(clean_db, recorded)
    for symbol, trades in recorded.items():
        shard = keys.shard_of(symbol)
        # Each symbol's entries are in its own shard's stream only, and its resume mark
        # (set by the same script, in the same slot) says the last id published.
        assert int(cluster_client.get(shard.last_id(symbol)) or 0) == trades[-1].trade_id
        cached = latest_from_hash(symbol, cluster_client.hgetall(keys.latest(symbol)))
        assert cached is not None
        assert (cached.trade_id, cached.price) == (trades[-1].trade_id, trades[-1].price)
    # Acknowledged entries are trimmed, so count what each shard's stream was ever given.
    added = {i: _entries_added(cluster_client, keys.shard(i).stream) for i in range(SHARDS)}
    assert added[({0, 1, 2} - used).pop()] == 0
    assert sum(added.values()) >= expected
    assert "Redis unreachable" not in services.log("collector")
    assert_candles_recomputed(clean_db, 24)


def _entries_added(client: RedisCluster, stream: str) -> int:
    """Return how many entries *stream* was ever given (0 when it does not exist)."""
    if not client.exists(stream):
        return 0
    return int(client.xinfo_stream(stream)["entries-added"])
