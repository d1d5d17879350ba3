"""A Redis Cluster master holding a shard is SIGKILLed mid-run after acknowledging writes its
(frozen) replica never received; the replica is promoted, the entries are gone from the
shard's stream, and the stored result must still be exact once the collector has repaired the
loss. Entries the promoted replica lacks are noticed by the collector (its producer
key there no longer holds its last append) and refilled as ``stream_lost`` gaps; entries the
writers had already stored before the kill need no repair. The test checks the outcome."""

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
from tests.support.recordings import all_recorded_trades
from tests.support.redis_cluster import PrivateRedisCluster
from tests.support.services import replayed_recordings

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
    with replayed_recordings(
        tmp_path,
        database_url,
        cluster.url,
        prefix,
        speed=20,
        REDIS_CLUSTER="true",
        STREAM_SHARDS=str(SHARDS),
    ) as services:
        services.start("writer-1", "tickvault_writer", TICKVAULT_WRITER_CONSUMER="w1")
        services.start("writer-2", "tickvault_writer", TICKVAULT_WRITER_CONSUMER="w2")
        services.start("collector", "tickvault_collector")
        wait_for(lambda: trade_count(clean_db) > expected // 5, 90, "a fifth stored")
        failover_s = cluster.fail_over_losing_writes(victim, unreplicated_s=1.0)
        killed = time.monotonic()
        wait_for(lambda: trade_count(clean_db) >= expected, 180, "the repair", interval=0.2)
        repaired_s = time.monotonic() - killed
        codes = services.terminate()
    assert codes == {"writer-1": 0, "writer-2": 0, "collector": 0}
    assert_stored_exactly(clean_db, recorded)
    print(f"failover {failover_s:.1f} s, repaired {repaired_s:.1f} s after the kill")
