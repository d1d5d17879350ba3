"""A Redis Cluster master holding a shard is SIGKILLed mid-run after acknowledging appends its
replica never received, while the writers are frozen so none of those entries is stored yet.
The replica is promoted without them; the collector notices (its producer key on the promoted
replica no longer holds its last append), opens ``stream_lost`` gaps from the shard's last
stored marks and refills them from REST: the stored result must still be exact."""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from tests.integration.writer.writer_support import (
    assert_stored_exactly,
    trade_count,
    wait_for,
)
from tests.support.metrics import scrape
from tests.support.paths import BTC_TRADES, ETH_TRADES
from tests.support.recordings import all_recorded_trades
from tests.support.redis_cluster import PrivateRedisCluster
from tests.support.replay import replay_process
from tests.support.servers import free_port
from tests.support.services import recording_services

from tickvault.keys import RedisKeys

SHARDS = 3
WRITERS = ("writer-1", "writer-2")


@pytest.mark.timeout(300)
def test_a_master_killed_mid_run_loses_entries_that_are_repaired_exactly(
    new_redis_cluster: PrivateRedisCluster, database_url: str, clean_db: Engine, tmp_path: Path
) -> None:
    cluster = new_redis_cluster
    prefix = f"tvtest:{uuid.uuid4().hex[:12]}"
    keys = RedisKeys(prefix, SHARDS, cluster=True)
    recorded = all_recorded_trades()
    expected = sum(len(ts) for ts in recorded.values())
    victim_shard = keys.shard_of("BTCUSDT")
    victim = cluster.master_of(victim_shard.stream)
    on_victim = {s for s in recorded if keys.shard_of(s).stream == victim_shard.stream}
    metrics_port = free_port()
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
        services.start(
            "collector", "tickvault_collector", TICKVAULT_COLLECTOR_METRICS_PORT=str(metrics_port)
        )
        wait_for(lambda: trade_count(clean_db) > expected // 5, 90, "a fifth stored")
        # Frozen writers store nothing more: what the dead master acknowledged is lost unstored.
        for name in WRITERS:
            services.signal(name, signal.SIGSTOP)
        stored_before = trade_count(clean_db)
        try:
            failover_s = cluster.fail_over_losing_writes(victim, unreplicated_s=1.0)
            killed = time.monotonic() - failover_s
        finally:
            for name in WRITERS:
                services.signal(name, signal.SIGCONT)
        wait_for(lambda: _all_filled(_lost_gaps(clean_db)), 60, "the loss refilled", 0.2)
        repaired_s = time.monotonic() - killed
        wait_for(lambda: trade_count(clean_db) >= expected, 120, "every trade", interval=0.2)
        losses = scrape(metrics_port)["tickvault_collector_stream_losses_total"]
        codes = services.terminate()
        collector_log = services.log("collector")
    assert codes == {"writer-1": 0, "writer-2": 0, "collector": 0}
    assert stored_before < expected  # the replay was still sending: entries were at risk
    assert_stored_exactly(clean_db, recorded)
    lost_gaps = _lost_gaps(clean_db)
    assert _all_filled(lost_gaps), lost_gaps
    assert {symbol for symbol, _ in lost_gaps} <= on_victim
    assert losses >= 1
    assert f"Redis lost entries of {victim_shard.stream}" in collector_log
    print(
        f"failover {failover_s:.1f} s; stream_lost gaps ({len(lost_gaps)}) filled "
        f"{repaired_s:.1f} s after the kill"
    )


def _lost_gaps(db: Engine) -> list[tuple[str, str]]:
    """Return the ``stream_lost`` gaps recorded, as (symbol, status)."""
    with db.connect() as conn:
        rows = conn.execute(
            text("SELECT symbol, status FROM trade_gaps WHERE reason = 'stream_lost'")
        ).all()
    return [(symbol, status) for symbol, status in rows]


def _all_filled(gaps: list[tuple[str, str]]) -> bool:
    """Return whether there is a gap and every one is filled."""
    return bool(gaps) and all(status == "filled" for _, status in gaps)
