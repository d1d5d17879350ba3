"""The compose deployments' Redis ACL on real servers: each service can do its work, no more.

``deploy/redis/start.sh`` starts, with the users of ``deploy/redis/users.acl``, a private
Redis as docker-compose.yml runs it (one shard, and three shards on the same node) and a
private Redis Cluster of three masters and three replicas as deploy/compose.cluster.yml runs
it (three shards, nodes replicating as ``replication``, the cluster created as ``admin`` by
``deploy/redis/cluster-init.sh``). Then every command the collector, the writers and the API
send (their scripts included: Redis checks the commands a script runs against the same user)
runs as that service's user, through a cluster client on the cluster; the API itself answers
through its own user; and what a user must not do is refused.
``tests/e2e/deploy/test_deploy_acl_stack.py`` runs the services themselves this way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.crc import key_slot
from tests.private_servers import DeployedRedis, PrivateRedisCluster, RedisAcl

from tickvault.codec import to_fields
from tickvault.config import Settings
from tickvault.keys import WRITER_GROUP, ShardKeys, shard_of
from tickvault.lease import Lease
from tickvault.logs import mask_secrets
from tickvault.redisconn import SyncRedis, check_mode
from tickvault.symbols import Status, status_value
from tickvault.tick import Tick
from tickvault_api import create_app
from tickvault_api.settings import ApiSettings
from tickvault_collector.append import APPEND, Appended
from tickvault_writer.batch import DeadLetter, decode_entries
from tickvault_writer.cache import LatestCache
from tickvault_writer.stream import StreamReader

T0 = 1_723_161_600_000_000
# (cluster, shards) of each deployment
DEPLOYMENTS = {"single-redis": (False, 1), "single-redis-3-shards": (False, 3)}
DEPLOYMENTS["redis-cluster"] = (True, 3)


@pytest.fixture(scope="module", params=list(DEPLOYMENTS))
def deployed(request: pytest.FixtureRequest) -> Iterator[DeployedRedis]:
    """A private Redis (or Redis Cluster) started with the deployment's ACL."""
    cluster, shards = DEPLOYMENTS[request.param]
    with DeployedRedis(cluster=cluster, shards=shards) as made:
        yield made


def symbol_in(shard: ShardKeys, shards: int) -> str:
    """Return a symbol whose ticks belong to *shard*."""
    return next(s for i in range(1000) if shard_of(s := f"S{i}USDT", shards) == shard.index)


def tick(symbol: str, trade_id: int) -> Tick:
    return Tick(symbol, trade_id, "61000.01000000", "0.00100000", T0, T0, False, T0)


def refused(call: Any) -> bool:
    try:
        call()
    except redis.exceptions.NoPermissionError:
        return True
    except redis.ResponseError as exc:
        return "NOPERM" in str(exc)
    return False


def append(c: SyncRedis, shard: ShardKeys, one: Tick, expected: bytes = b"") -> Appended:
    """Run the collector's append script as it does: one tick, its resume mark."""
    keys = [shard.stream, shard.producer("acl"), shard.lost, shard.last_id(one.symbol)]
    fields = [x for kv in to_fields(one).items() for x in kv]
    args = [100_000, expected, 60, 1, one.trade_id, len(fields), *fields]
    return Appended.from_reply(c.evalsha(c.script_load(APPEND), len(keys), *keys, *args))


def test_nobody_gets_in_without_a_user_and_its_password(deployed: DeployedRedis) -> None:
    nodes = getattr(deployed.server, "nodes", [deployed.server])
    for node in nodes:  # retry=None: redis-py would retry a refused login for seconds
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=node.port, retry=None).ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=node.port, username="api", password="wrong", retry=None).ping()
        acl = (node.dir / "users.acl").read_text()  # only hashes are written
        assert all(pw not in acl for pw in deployed.acl.passwords.values())


def test_the_collector_can_run_its_commands_and_nothing_of_the_others(
    deployed: DeployedRedis,
) -> None:
    keys = deployed.keys
    c = deployed.client("collector")
    check_mode(c, deployed.cluster)  # INFO's cluster section on a single Redis
    for shard in keys.all_shards():
        symbol = symbol_in(shard, keys.shards)
        first = append(c, shard, tick(symbol, 7))
        assert not first.full and first.last_id and not first.damaged
        assert c.mget([shard.last_id(symbol)]) == [b"7"]  # one MGET per shard on resume
        assert c.xrange(shard.stream, count=1)
        assert not refused(lambda: c.xinfo_groups(shard.stream))  # noqa: B023
    c.set(keys.heartbeat("collector", "a"), b"{}", ex=30)
    assert next(c.scan_iter(match=keys.heartbeat_pattern("collector")), None) is not None
    c.delete(keys.heartbeat("collector", "a"))
    lease = Lease(c, keys.audit_lease, 30)  # tickvault.lease, as the auditor holds it
    assert lease.acquire() and lease.renew() and lease.hold(5) and lease.release()
    c.hset(keys.symbols, "BTCUSDT", status_value(Status.TRADING, T0))
    assert c.hgetall(keys.symbols) and c.hdel(keys.symbols, "BTCUSDT") == 1
    c.time()
    shard = keys.shard(0)
    for forbidden in (
        lambda: c.hset(keys.latest("BTCUSDT"), "price", "1"),
        lambda: c.publish(keys.latest_channel, b"x"),
        lambda: c.xreadgroup(WRITER_GROUP, "w", {shard.stream: ">"}),
        lambda: c.xadd(shard.dead_letter, {b"x": b"1"}),
        lambda: c.set(keys.maintenance_lease, "x"),
        lambda: c.flushall(),
        lambda: c.config_get("*"),
    ):
        assert refused(forbidden)
    c.close()


def test_the_writer_can_run_its_commands_and_nothing_of_the_others(
    deployed: DeployedRedis,
) -> None:
    keys = deployed.keys
    w = deployed.client("writer")
    collector = deployed.client("collector")
    for shard in keys.all_shards():
        symbol = symbol_in(shard, keys.shards)
        last = append(collector, shard, tick(symbol, 9)).last_id
        reader = StreamReader(w, shard, "w1", count=10, block_ms=10, claim_idle_ms=0)
        reader.ensure_group()  # the writer's own code, as it runs
        entries = reader.read()
        assert entries
        reader.claim_abandoned()
        batch = decode_entries(entries)
        letter = DeadLetter(batch.ids[0], {b"x": b"1"}, "test")
        assert reader.finish(batch, [letter])  # dead letters and acks in one transaction
        w.incrby(shard.lost, 1)  # an entry found deleted while pending, as finish counts it
        assert reader.group_info()[0] == 0
        # The collector's next append reads the group (XINFO, XPENDING), trims and takes the
        # count.
        report = append(collector, shard, tick(symbol, 10), last)
        assert report.lost_entries == 1 and not report.gone and report.safe is not None
    symbols = [symbol_in(s, keys.shards) for s in keys.all_shards()] + ["XRPUSDT"]
    cache = LatestCache(w, keys)  # a pipeline of scripts on one Redis, one call each on a cluster
    assert cache.update({s: tick(s, 7) for s in symbols}) == len(symbols)
    w.set(keys.heartbeat("writer", "w1"), b"{}", px=30_000)
    assert w.exists(keys.heartbeat("writer", "w1"))
    lease = Lease(w, keys.maintenance_lease, 30)  # tickvault.lease, as maintenance holds it
    assert lease.acquire() and lease.renew() and lease.hold(5) and lease.release()
    for forbidden in (
        lambda: w.hset(keys.symbols, "X", "1"),
        lambda: w.set(keys.collector_last_id("BTCUSDT"), 1),
        lambda: w.set(keys.shard(0).producer("acl"), 1),
        lambda: w.publish("elsewhere", b"x"),
        lambda: w.keys("*"),
        lambda: w.flushall(),
    ):
        assert refused(forbidden)
    w.close()
    collector.close()


def test_the_api_answers_through_its_read_only_user(deployed: DeployedRedis) -> None:
    keys = deployed.keys
    writer = deployed.client("writer")
    LatestCache(writer, keys).update({"BTCUSDT": tick("BTCUSDT", 70)})
    status = status_value(Status.TRADING, T0)
    deployed.client("collector").hset(keys.symbols, "BTCUSDT", status)
    values = {k.removeprefix("TICKVAULT_").lower(): v for k, v in deployed.env("api").items()}
    settings = ApiSettings(_env_file=None, symbols="ALL", **values)  # type: ignore[call-arg]
    app = create_app(settings)
    client = app.test_client()
    body = client.get("/api/v1/prices/BTCUSDT/latest").get_json()
    assert body["trade_id"] == 70, body
    assert client.get("/api/v1/symbols").get_json()["symbols"][0]["status"] == "TRADING"
    api = deployed.client("api")
    # The live stream's reader (tickvault_api.hub) subscribes to the latest-price channel as
    # the API's user and gets what the writer publishes there (served only under Gunicorn,
    # so its Redis side is checked here directly).
    pubsub = api.pubsub()
    try:
        pubsub.subscribe(keys.latest_channel)
        assert pubsub.get_message(timeout=5)["type"] == "subscribe"
        LatestCache(writer, keys).update({"BTCUSDT": tick("BTCUSDT", 71)})
        message = pubsub.get_message(timeout=5)
        assert message is not None and b'"trade_id":71' in message["data"], message
    finally:
        pubsub.close()
    shard = keys.shard(0)
    for forbidden in (
        lambda: api.hset(keys.latest("BTCUSDT"), "price", "1"),
        lambda: api.delete(keys.latest("BTCUSDT")),
        lambda: api.xadd(shard.stream, {b"x": b"1"}),
        lambda: api.xrange(shard.stream),
        lambda: api.publish(keys.latest_channel, b"x"),
        lambda: api.get(keys.collector_last_id("BTCUSDT")),
        lambda: api.hgetall(keys.collector_last_id("BTCUSDT")),
    ):
        assert refused(forbidden)
    api.close()
    writer.close()
    app.extensions["tickvault"].hub.stop()
    app.extensions["tickvault"].stores.close()


ONLY_THE_CLUSTER = pytest.mark.parametrize("deployed", ["redis-cluster"], indirect=True)


@ONLY_THE_CLUSTER
def test_cluster_nodes_replicate_as_replication_and_only_admin_manages_them(
    deployed: DeployedRedis,
) -> None:
    cluster = deployed.server
    assert isinstance(cluster, PrivateRedisCluster)
    # Every master has a replica in sync: the replicas logged in as `replication`.
    cluster.wait_healthy(timeout=10)
    roles = cluster.roles()
    assert sum(r.master for r in roles) == 3 and sum(not r.master for r in roles) == 3
    node = roles[0].node
    replication = redis.Redis.from_url(node.url_as("replication"))
    assert replication.ping()
    for user in ("replication", "collector", "writer", "api"):
        as_user = redis.Redis.from_url(node.url_as(user))
        for forbidden in (
            lambda: as_user.execute_command("CLUSTER", "NODES"),  # noqa: B023
            lambda: as_user.execute_command("CLUSTER", "FAILOVER"),  # noqa: B023
            lambda: as_user.execute_command("CLUSTER", "FORGET", "x" * 40),  # noqa: B023
            lambda: as_user.execute_command("ACL", "LIST"),  # noqa: B023
        ):
            assert refused(forbidden), user
        as_user.close()
    assert refused(lambda: replication.get(deployed.keys.symbols))
    replication.close()


@ONLY_THE_CLUSTER
def test_the_services_users_follow_a_slot_being_migrated(deployed: DeployedRedis) -> None:
    """During resharding a node answers ASK for keys already moved; a cluster client then
    sends ASKING to the node importing the slot, which each service user may."""
    keys, cluster = deployed.keys, deployed.server
    assert isinstance(cluster, PrivateRedisCluster)
    key = keys.latest("MOVINGUSDT")
    slot = key_slot(key.encode())
    source = cluster.master_of(key)
    target = next(r.node for r in cluster.roles() if r.master and r.node is not source)
    ids = {r.node.port: r.node_id for r in cluster.roles()}
    admin = {node.port: node.client() for node in (source, target)}
    admin[target.port].execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source.port])
    admin[source.port].execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target.port])
    try:
        writer, api = deployed.client("writer"), deployed.client("api")
        # The key is not on the source: it answers ASK, the client asks the target.
        assert LatestCache(writer, keys).update({"MOVINGUSDT": tick("MOVINGUSDT", 3)}) == 1
        assert api.hgetall(key)[b"trade_id"] == b"3"
        counts = {
            port: client.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot)
            for port, client in admin.items()
        }
        assert counts == {source.port: 0, target.port: 1}  # it went to the importing node
        writer.close()
        api.close()
    finally:  # the moved key goes, the slot stays where it was
        admin[target.port].execute_command("ASKING")
        admin[target.port].delete(key)
        for client in admin.values():
            client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[source.port])
        for client in admin.values():
            client.close()


def test_a_redis_password_in_the_url_never_reaches_a_log_or_settings_dump() -> None:
    secret_url = RedisAcl().url("api", 6379)
    settings = Settings(_env_file=None, redis_url=secret_url)  # type: ignore[call-arg]
    shown = str(settings.safe_dict()) + repr(settings) + mask_secrets(f"connecting {secret_url}")
    assert "api%3Apw%40x" not in shown and RedisAcl().passwords["api"] not in shown
    assert "redis://api:***@127.0.0.1" in shown
