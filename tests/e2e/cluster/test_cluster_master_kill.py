"""A Redis Cluster master holding a shard is SIGKILLed mid-run after acknowledging appends its
replica never received, while the writers are frozen so none of those entries is stored yet.
The replica is promoted without them; the collector notices (its producer key on the promoted
replica no longer holds its last append), opens ``stream_lost`` gaps from the shard's last
stored marks and refills them from REST: the stored result must still be exact."""

from __future__ import annotations

import signal
import time

import pytest
from sqlalchemy import Engine, text
from tests.e2e.cluster.sharded_run import WRITERS, StartRun
from tests.integration.writer.writer_support import assert_stored_exactly, trade_count
from tests.support.polling import wait_until


@pytest.mark.timeout(300)
def test_a_master_killed_mid_run_loses_entries_that_are_repaired_exactly(
    start_sharded_run: StartRun, clean_db: Engine
) -> None:
    with start_sharded_run(20) as run:
        cluster = run.cluster
        services, keys = run.services, run.keys
        victim_shard = keys.shard_of("BTCUSDT")
        victim = cluster.master_of(victim_shard.stream)
        on_victim = {s for s in run.recorded if keys.shard_of(s) == victim_shard}
        run.wait_a_fifth_stored(clean_db)
        # Frozen writers store nothing more: what the dead master acknowledged is lost unstored.
        for name in WRITERS:
            services.signal(name, signal.SIGSTOP)
        stored_before = trade_count(clean_db)
        try:
            streams = [shard.stream for shard in keys.all_shards()]
            failover = cluster.fail_over_losing_writes(victim, unreplicated_s=1.0, streams=streams)
            killed = time.monotonic() - failover.serving_s
        finally:
            for name in WRITERS:
                services.signal(name, signal.SIGCONT)
        wait_until(lambda: _all_filled(_lost_gaps(clean_db)), 60, "the loss refilled", 0.2)
        repaired_s = time.monotonic() - killed
        run.wait_every_trade_stored(clean_db)
        losses = run.metrics("collector")["tickvault_collector_stream_losses_total"]
        collector_log = run.stop()
    assert stored_before < run.expected  # the replay was still sending: entries were at risk
    assert failover.lost_entries > 0  # the dead master held entries its replica never got
    assert_stored_exactly(clean_db, run.recorded)
    lost_gaps = _lost_gaps(clean_db)
    assert _all_filled(lost_gaps), lost_gaps
    assert {symbol for symbol, _ in lost_gaps} <= on_victim
    assert losses >= 1
    assert f"Redis lost entries of {victim_shard.stream}" in collector_log
    print(
        f"failover {failover.serving_s:.1f} s, {failover.lost_entries} entries lost;"
        f" stream_lost gaps ({len(lost_gaps)}) filled "
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
