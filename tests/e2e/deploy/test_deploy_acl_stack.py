"""End to end as the compose deployments run it: replay exchange -> collector -> writers ->
PostgreSQL, each service logged in to Redis as its own ACL user of deploy/redis/users.acl, on
one Redis (one shard, docker-compose.yml) and on a Redis Cluster (3 masters, 3 replicas,
3 shards, deploy/compose.cluster.yml). Every recorded trade is stored exactly once, the API
answers the latest prices through its own user, and Redis refused nothing the services sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from tests.integration.writer.writer_support import assert_stored_exactly, trade_count
from tests.private_servers import DeployedRedis, Services, replayed_services
from tests.support.polling import wait_until
from tests.support.recordings import all_recorded_trades

from tickvault.keys import WRITER_GROUP
from tickvault_api import create_app
from tickvault_api.settings import ApiSettings

REFUSED = re.compile(r"NOPERM|no permissions", re.IGNORECASE)
SERVICES = ("writer-1", "writer-2", "collector")


@pytest.fixture(params=[(False, 1), (True, 3)], ids=["single-redis", "redis-cluster"])
def deployed(request: pytest.FixtureRequest) -> Iterator[DeployedRedis]:
    cluster, shards = request.param
    with DeployedRedis(cluster=cluster, shards=shards) as made:
        yield made


def drained(deployed: DeployedRedis) -> bool:
    """Return whether every shard's group has delivered and acknowledged every entry (read
    as the writers' user, which may)."""
    client = deployed.client("writer")
    try:
        for shard in deployed.keys.all_shards():
            groups = client.xinfo_groups(shard.stream) if client.exists(shard.stream) else []
            group = next((g for g in groups if g["name"] == WRITER_GROUP.encode()), None)
            if group is None or int(group["pending"]) or int(group["lag"] or 0):
                return False
        return True
    finally:
        client.close()


def stored_unless_refused(services: Services, engine: Engine, expected: int) -> bool:
    """Return whether *expected* trades are stored; fail at once when Redis refused a service
    something (it would retry for ever)."""
    for name in SERVICES:
        refusal = REFUSED.search(log := services.log(name))
        if refusal:
            line = log[log.rfind("\n", 0, refusal.start()) + 1 : log.find("\n", refusal.end())]
            raise AssertionError(f"Redis refused {name}: {line}")
    return trade_count(engine) >= expected


@pytest.mark.timeout(180)
def test_the_services_as_their_own_redis_users_store_the_recordings_exactly(
    deployed: DeployedRedis, database_url: str, clean_db: Engine, tmp_path: Path
) -> None:
    recorded = all_recorded_trades()
    expected = sum(len(ts) for ts in recorded.values())
    used = {deployed.keys.shard_of(symbol).index for symbol in recorded}
    nobody = "redis://nobody@127.0.0.1:1/0"  # each service is given its own user's URL
    with replayed_services(
        tmp_path, database_url, nobody, deployed.keys.prefix, speed=0
    ) as services:
        writer, collector = deployed.env("writer"), deployed.env("collector")
        services.start("writer-1", "tickvault_writer", TICKVAULT_WRITER_CONSUMER="w1", **writer)
        services.start("writer-2", "tickvault_writer", TICKVAULT_WRITER_CONSUMER="w2", **writer)
        services.start("collector", "tickvault_collector", **collector)
        wait_until(
            lambda: stored_unless_refused(services, clean_db, expected), 120, "every trade", 0.2
        )
        wait_until(lambda: drained(deployed), 30, "every shard drained", interval=0.2)
        codes = services.terminate()
        logs = {name: services.log(name) for name in SERVICES}
    assert codes == dict.fromkeys(SERVICES, 0), [log[-2000:] for log in logs.values()]
    assert_stored_exactly(clean_db, recorded)
    assert len(used) == min(2, deployed.keys.shards)  # the cluster's run uses two shards
    assert not [name for name, log in logs.items() if REFUSED.search(log)]
    if deployed.cluster:
        assert deployed.refusals() == set()

    # The API, logged in as `api`, serves the latest prices the writers cached.
    settings = ApiSettings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=database_url,
        symbols="ALL",
        **{k.removeprefix("TICKVAULT_").lower(): v for k, v in deployed.env("api").items()},
    )
    app = create_app(settings)
    try:
        client = app.test_client()
        for symbol, trades in recorded.items():
            body = client.get(f"/api/v1/prices/{symbol}/latest").get_json()
            assert (body["trade_id"], body["price"]) == (trades[-1].trade_id, trades[-1].price)
        listed = client.get("/api/v1/symbols").get_json()["symbols"]
        assert {s["symbol"]: s["status"] for s in listed} == dict.fromkeys(recorded, "TRADING")
    finally:
        app.extensions["tickvault"].hub.stop()
        app.extensions["tickvault"].stores.close()
    if deployed.cluster:
        assert deployed.refusals() == set()
