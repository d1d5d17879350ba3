"""The slot of one shard's keys is moved to another Redis Cluster master while the collector
appends to it and the writers read and acknowledge it: for a while the slot is half moved
(``ASK`` for the keys already on the target, ``TRYAGAIN`` for the collector's script whose keys
are split), then owned by the other master (``MOVED``). Every service must carry on through it
and the stored result must be exact."""

from __future__ import annotations

import time

import pytest
from redis.crc import key_slot
from sqlalchemy import Engine
from tests.e2e.cluster.sharded_run import StartRun
from tests.integration.writer.writer_support import assert_stored_exactly, trade_count
from tests.support.polling import wait_until


@pytest.mark.timeout(300)
def test_a_shard_moved_to_another_master_mid_run_is_stored_exactly(
    start_sharded_run: StartRun, clean_db: Engine
) -> None:
    with start_sharded_run(40) as run:
        cluster = run.cluster
        moving = run.keys.shard_of("BTCUSDT")
        source = cluster.master_of(moving.stream)
        target = next(r.node for r in cluster.roles() if r.master and r.node is not source)
        run.wait_a_fifth_stored(clean_db)
        started = time.monotonic()
        move = cluster.move_slot(key_slot(moving.stream.encode()), target)
        # The stream first: the collector's script then finds the shard's keys split between
        # the masters (TRYAGAIN) until the slot is settled; the writers' reads follow ASK.
        move.migrate(moving.stream)
        wait_until(
            lambda: run.faults("collector").get("resharding", 0) >= 1,
            30,
            "the collector to meet the half-moved slot",
        )
        moved = move.finish()
        move_s = time.monotonic() - started
        stored_after_move = trade_count(clean_db)
        run.wait_every_trade_stored(clean_db)
        faults = {name: run.faults(name) for name in run.ports}
        collector_log = run.stop()
    assert cluster.master_of(moving.stream) is target
    assert stored_after_move < run.expected  # the replay still sent after the move: it was live
    assert moved >= 3  # the stream, the collector's producer key and the resume mark at least
    assert_stored_exactly(clean_db, run.recorded)
    # The collector met the half-moved slot, said what it was, and retried.
    assert "Redis resharding" in collector_log
    assert "Redis takes appends again" in collector_log
    print(f"{moved} keys moved in {move_s:.1f} s; Redis faults retried: {faults}")
