"""The Redis client factory and the sharded names on a real Redis Cluster (3 masters, 3
replicas, started by the ``redis_cluster`` fixture): every key a script or transaction touches
together is in one slot, and a cluster's errors are reported as what they are."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster
from tests.private_servers import PrivateRedisCluster
from tests.support.polling import wait_until

from tickvault.errors import ConfigError
from tickvault.keys import RedisKeys
from tickvault.redisconn import (
    REDIS_ERRORS,
    RedisFault,
    check_mode,
    check_mode_async,
    classify,
    connect,
    connect_async,
    describe,
)

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "ADAUSDT")
# The shape of the collector's script: append to one shard's stream, move its symbols' marks.
APPEND_AND_MARK = """
redis.call('XADD', KEYS[1], '*', 'v', ARGV[1])
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[1]) end
return #KEYS
"""


async def check_mode_of_async_client(url: str, *, cluster: bool) -> None:
    """Connect an asyncio client to *url* as *cluster* says and check the server's mode."""
    client = connect_async(url, cluster=cluster)
    try:
        await check_mode_async(client, cluster=cluster)
    finally:
        await client.aclose()


@pytest.fixture
def keys() -> RedisKeys:
    return RedisKeys(f"tvtest:{uuid.uuid4().hex[:12]}", shards=3, cluster=True)


def test_the_cluster_client_is_seeded_by_the_url_and_reaches_every_master(
    redis_cluster: PrivateRedisCluster, keys: RedisKeys
) -> None:
    client = connect(redis_cluster.url, cluster=True, socket_timeout=5)
    assert isinstance(client, RedisCluster)
    try:
        check_mode(client, cluster=True)
        for symbol in SYMBOLS:  # slots all over the cluster, one client
            client.set(keys.latest(symbol), symbol)
        assert client.mget_nonatomic([keys.latest(s) for s in SYMBOLS]) == [
            s.encode() for s in SYMBOLS
        ]
        masters = {redis_cluster.master_of(keys.latest(s)).port for s in SYMBOLS}
        assert len(masters) > 1
    finally:
        client.close()


def test_a_shard_script_and_a_shard_transaction_each_stay_in_one_slot(
    redis_cluster: PrivateRedisCluster, keys: RedisKeys
) -> None:
    client = connect(redis_cluster.url, cluster=True, socket_timeout=5)
    try:
        for shard in keys.all_shards():
            mine = [s for s in SYMBOLS if keys.shard_of(s) == shard]
            names = [shard.stream, *(shard.last_id(s) for s in mine)]
            assert client.eval(APPEND_AND_MARK, len(names), *names, "7") == len(names)
            client.xgroup_create(shard.stream, "g", id="0")
            (entry_id,) = [e[0] for e in client.xreadgroup("g", "c", {shard.stream: ">"})[0][1]]
            pipe = client.pipeline(transaction=True)  # the writer's finish: dead-letter + ack
            pipe.xadd(shard.dead_letter, {"entry_id": entry_id, "reason": "test"})
            pipe.xack(shard.stream, "g", entry_id)
            assert pipe.execute()[1] == 1
        # Two shards in one script: the cluster refuses, and it is called what it is.
        a, b = keys.shard(0), keys.shard(1)
        with pytest.raises(REDIS_ERRORS) as refused:
            client.eval(APPEND_AND_MARK, 2, a.stream, b.stream, "7")
        assert classify(refused.value) is RedisFault.CROSS_SLOT
        assert "unreachable" not in describe(refused.value)
    finally:
        client.close()


def test_the_asyncio_cluster_client_works_the_same(
    redis_cluster: PrivateRedisCluster, keys: RedisKeys
) -> None:
    async def scenario() -> list[bytes | None]:
        client = connect_async(redis_cluster.url, cluster=True)
        assert isinstance(client, AsyncRedisCluster)
        try:
            await check_mode_async(client, cluster=True)
            shard = keys.shard_of("ETHUSDT")
            await client.eval(APPEND_AND_MARK, 2, shard.stream, shard.last_id("ETHUSDT"), "42")
            return [await client.get(shard.last_id("ETHUSDT")), await client.get("nothing")]
        finally:
            await client.aclose()

    assert asyncio.run(scenario()) == [b"42", None]


def test_a_plain_client_on_a_cluster_is_a_configuration_error(
    redis_cluster: PrivateRedisCluster,
) -> None:
    client = connect(redis_cluster.url, socket_timeout=5)
    try:
        with pytest.raises(ConfigError, match="set TICKVAULT_REDIS_CLUSTER=true"):
            check_mode(client, cluster=False)
    finally:
        client.close()
    with pytest.raises(ConfigError, match="set TICKVAULT_REDIS_CLUSTER=true"):
        asyncio.run(check_mode_of_async_client(redis_cluster.url, cluster=False))


def test_a_cluster_client_on_a_plain_redis_is_a_configuration_error(redis_url: str) -> None:
    plain = redis_url.rsplit("/", 1)[0] + "/0"  # a cluster has database 0 only
    with pytest.raises(REDIS_ERRORS) as refused:
        connect(plain, cluster=True, socket_timeout=5)
    assert classify(refused.value) is RedisFault.WRONG_MODE
    with pytest.raises(ConfigError, match="is not a cluster"):
        asyncio.run(check_mode_of_async_client(plain, cluster=True))


def test_a_slot_range_without_any_node_is_cluster_down_not_unreachable(
    new_redis_cluster: PrivateRedisCluster,
) -> None:
    cluster = new_redis_cluster
    client = connect(cluster.url, cluster=True, socket_timeout=2, socket_connect_timeout=1)
    try:
        master = cluster.master_of("tv:{s0}:ticks")
        probe = next(  # a key served by another master, which stays up
            k for k in (f"tv:{{s{i}}}:probe" for i in range(100)) if cluster.master_of(k) != master
        )
        replica = cluster.replica_of(master)
        replica.kill()
        master.kill()  # nothing left to serve the slots of this master
        seen: list[str] = []

        def refusals() -> list[str]:
            try:
                client.set(probe, 1)
            except REDIS_ERRORS as exc:
                seen.append(describe(exc))
            return seen

        wait_until(
            refusals,
            30,
            "the client to say the cluster is down",
            0.2,
            until=lambda got: any(line.startswith("Redis cluster down") for line in got),
        )
        assert "CLUSTERDOWN" in seen[-1] or "cluster is down" in seen[-1], seen[-1]
    finally:
        client.close()


def test_the_cluster_url_must_not_name_a_database() -> None:
    with pytest.raises(redis.exceptions.RedisClusterException, match="db"):
        connect("redis://127.0.0.1:1/3", cluster=True)
