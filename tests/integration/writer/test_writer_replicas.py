"""Writer replicas as real processes: killed, restarted, cut off from PostgreSQL, stopped."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine
from tests.integration.writer.writer_support import (
    assert_candles_recomputed,
    feed,
    group_state,
    recorded_ticks,
    stored_trades,
    trade_count,
)
from tests.private_servers import Services, recording_services
from tests.support.db import terminate_backends
from tests.support.polling import wait_until

from tickvault.codec import latest_from_hash
from tickvault.keys import WRITER_GROUP, RedisKeys


@pytest.fixture
def replicas(
    database_url: str, redis_url: str, redis_prefix: str, clean_db: Engine, tmp_path: Path
) -> Iterator[Services]:
    with recording_services(
        tmp_path,
        database_url,
        redis_url,
        redis_prefix,
        WRITER_CLAIM_IDLE_MS="1000",
        WRITER_BATCH_SIZE="1000",
        WRITER_RETRY_MAX_S="0.5",
    ) as made:
        yield made


def start(replicas: Services, name: str) -> subprocess.Popen[bytes]:
    """Start the writer replica *name* (its consumer name too)."""
    replicas.start(name, "tickvault_writer", TICKVAULT_WRITER_CONSUMER=name)
    return replicas.procs[name]


def test_three_replicas_one_killed_twice_and_database_sessions_cut_store_exactly_once(
    replicas: Services, redis_client: redis.Redis, redis_prefix: str, clean_db: Engine
) -> None:
    keys = RedisKeys(redis_prefix)
    by_symbol = recorded_ticks()
    ticks = sorted((t for ts in by_symbol.values() for t in ts), key=lambda t: t.trade_time)
    for name in ("a", "b", "c"):
        start(replicas, name)
    chunks = [ticks[i : i + 3000] for i in range(0, len(ticks), 3000)]
    fed = 0
    for i, chunk in enumerate(chunks):
        fed += feed(redis_client, keys, chunk + chunk[:100])  # with duplicates
        if i in (2, 6):  # kill a replica that is busy, then replace it
            wait_until(lambda: trade_count(clean_db) > 0, 30, "rows")
            victim = "a" if i == 2 else "a2"
            killed = replicas.procs.pop(victim)
            killed.kill()
            killed.wait(10)
            start(replicas, "a2" if i == 2 else "a3")
        if i == 4:  # as if PostgreSQL restarted: every writer session dies at once
            wait_until(lambda: trade_count(clean_db) > 9000, 30, "rows before the cut")
            assert terminate_backends(clean_db, "tickvault-writer") > 0
    wait_until(lambda: group_state(redis_client, keys) == (0, 0), 90, "the drain", interval=0.2)

    stored = stored_trades(clean_db)
    assert len(stored) == len(ticks)
    for t in ticks:
        assert stored[(t.symbol, t.trade_id)][:3] == (t.price, t.quantity, t.trade_time)
    assert_candles_recomputed(clean_db, 24)
    for symbol, recorded in by_symbol.items():
        cached = latest_from_hash(symbol, redis_client.hgetall(keys.latest(symbol)))
        assert cached is not None and cached.trade_id == recorded[-1].trade_id
    assert replicas.terminate() == {"b": 0, "c": 0, "a3": 0}


def test_sigterm_finishes_the_batch_in_flight_and_exits_0_with_nothing_pending(
    replicas: Services, redis_client: redis.Redis, redis_prefix: str, clean_db: Engine
) -> None:
    keys = RedisKeys(redis_prefix)
    ticks = recorded_ticks()["BTCUSDT"]
    replicas.env["TICKVAULT_WRITER_BATCH_SIZE"] = "200"
    proc = start(replicas, "solo")
    wait_until(lambda: redis_client.exists(keys.heartbeat("writer", "solo")) == 1, 30, "start")
    feed(redis_client, keys, ticks)
    wait_until(lambda: trade_count(clean_db) > 0, 30, "the first rows")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    replicas.procs.clear()

    pending, lag = group_state(redis_client, keys)
    assert pending == 0
    delivered = next(
        int(g["entries-read"])
        for g in redis_client.xinfo_groups(keys.stream)
        if g["name"] == WRITER_GROUP.encode()
    )
    assert delivered == len(ticks) - lag
    assert trade_count(clean_db) == delivered  # every delivered entry committed, none after
    assert redis_client.exists(keys.heartbeat("writer", "solo")) == 0
    log = replicas.log("solo")
    assert "finishing the batch in flight" in log
