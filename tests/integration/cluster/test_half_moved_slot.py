"""A writer on a Redis Cluster whose shard slot is being moved to another master (a reshard):
between MIGRATE and the slot's new owner being announced, the shard's keys are on the target
while the source still owns the slot. Single-key reads follow ``ASK``; a transaction does not
(redis-py raises ``AskError``), so the writer's acknowledging transaction is retried as a
``resharding`` fault until the slot settles — nothing is lost or acknowledged twice."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from redis.cluster import RedisCluster
from redis.crc import key_slot
from sqlalchemy import Engine
from tests.integration.writer.writer_support import tick_of, trade_count
from tests.private_servers import PrivateRedisCluster
from tests.support.polling import wait_until
from tests.support.recordings import all_recorded_trades

from tickvault.codec import to_fields
from tickvault.keys import WRITER_GROUP
from tickvault_writer.service import Writer
from tickvault_writer.settings import WriterSettings

TICKS = 500


def test_a_writer_acknowledging_into_a_half_moved_slot_retries_until_it_settles(
    new_redis_cluster: PrivateRedisCluster,
    make_settings: Callable[..., Any],
    database_url: str,
    clean_db: Engine,
) -> None:
    cluster = new_redis_cluster
    settings = make_settings(
        WriterSettings,
        redis_url=cluster.url,
        redis_cluster=True,
        redis_prefix=f"tvtest:{uuid.uuid4().hex[:12]}",
        retention_hours=0,
        candle_retention_days=0,
        writer_maintenance_interval_s=0,
        writer_metrics_port=0,
        writer_retry_max_s=0.5,
    )
    stream = settings.redis_keys.stream
    writer = Writer(settings)
    client = RedisCluster.from_url(cluster.url)
    try:
        writer.reader.ensure_group()
        for trade in all_recorded_trades()["BTCUSDT"][:TICKS]:
            client.xadd(stream, to_fields(tick_of(trade)))  # type: ignore[arg-type]
        source = cluster.master_of(stream)
        target = next(r.node for r in cluster.roles() if r.master and r.node is not source)
        move = cluster.move_slot(key_slot(stream.encode()), target)
        move.migrate(stream)  # every key of the shard on the target, the slot still the source's
        stepped = threading.Thread(target=writer.step)  # reads through ASK, stores, acks
        stepped.start()
        wait_until(lambda: _resharding(writer) >= 1, 30, "the acknowledgement to meet ASK")
        assert trade_count(clean_db) == TICKS  # stored, not yet acknowledged
        assert stepped.is_alive()  # still retrying the acknowledgement
        move.finish()
        stepped.join(30)
        assert not stepped.is_alive()
        group = next(g for g in client.xinfo_groups(stream) if g["name"] == WRITER_GROUP.encode())
        assert (group["pending"], group["lag"]) == (0, 0)
        assert writer.totals.inserted == TICKS
        assert cluster.master_of(stream) is target
    finally:
        client.close()
        writer.close()


def _resharding(writer: Writer) -> float:
    """Return the writer's ``resharding`` faults retried so far."""
    value = writer.metrics.registry.get_sample_value(
        "tickvault_writer_redis_faults_total", {"fault": "resharding"}
    )
    return value or 0.0
