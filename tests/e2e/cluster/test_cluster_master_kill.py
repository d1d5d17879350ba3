"""A Redis Cluster master holding a shard is SIGKILLed mid-run after acknowledging writes its
replica (frozen, its replication link cut) never received; the replica is promoted, the
entries are gone from the shard's stream, and the stored result must still be exact once the
collector has repaired the loss. Entries the promoted replica lacks are noticed by the
collector (its producer key there no longer holds its last append) and refilled as
``stream_lost`` gaps; entries the writers had already stored before the kill need no repair.
The test checks that entries were lost, and the outcome."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine
from tests.integration.writer.writer_support import (
    assert_stored_exactly,
    trade_count,
    wait_for,
)
from tests.support.paths import BTC_TRADES, ETH_TRADES
from tests.support.recordings import all_recorded_trades
from tests.support.redis_cluster import PrivateRedisCluster
from tests.support.replay import replay_process
from tests.support.services import recording_services

from tickvault.keys import RedisKeys

SHARDS = 3


@pytest.mark.timeout(300)
def test_a_master_killed_mid_run_loses_entries_that_are_repaired_exactly(
    new_redis_cluster: PrivateRedisCluster, database_url: str, clean_db: Engine, tmp_path: Path
) -> None:
    cluster = new_redis_cluster
    prefix = f"tvtest:{uuid.uuid4().hex[:12]}"
    keys = RedisKeys(prefix, SHARDS, cluster=True)
    recorded = all_recorded_trades()
    expected = sum(len(ts) for ts in recorded.values())
    victim = cluster.master_of(keys.shard_of("BTCUSDT").stream)
    with (
        replay_process(
            "--recording", str(BTC_TRADES), "--recording", str(ETH_TRADES), "--speed", "20"
        ) as replay,
        recording_services(
            tmp_path,
            database_url,
            cluster.url,
            prefix,
            REDIS_CLUSTER="true",
            STREAM_SHARDS=str(SHARDS),
            BINANCE_WS_URL=replay.ws_url,
            BINANCE_REST_URL=replay.rest_url,
        ) as services,
    ):
        services.start("writer-1", "tickvault_writer", TICKVAULT_WRITER_CONSUMER="w1")
        services.start("writer-2", "tickvault_writer", TICKVAULT_WRITER_CONSUMER="w2")
        services.start("collector", "tickvault_collector")
        wait_for(lambda: trade_count(clean_db) > expected // 5, 90, "a fifth stored")
        streams = [shard.stream for shard in keys.all_shards()]
        failover = cluster.fail_over_losing_writes(victim, unreplicated_s=1.0, streams=streams)
        killed = time.monotonic()
        wait_for(lambda: trade_count(clean_db) >= expected, 180, "the repair", interval=0.2)
        repaired_s = time.monotonic() - killed
        codes = services.terminate()
    assert codes == {"writer-1": 0, "writer-2": 0, "collector": 0}
    assert failover.lost_entries > 0  # the dead master held entries its replica never got
    assert_stored_exactly(clean_db, recorded)
    print(
        f"failover {failover.serving_s:.1f} s, {failover.lost_entries} entries lost,"
        f" repaired {repaired_s:.1f} s after the kill"
    )
