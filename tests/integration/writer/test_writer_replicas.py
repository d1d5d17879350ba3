"""Writer replicas as real processes: killed, restarted, cut off from PostgreSQL, stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine, text
from tests.integration.writer.writer_support import (
    assert_candles_recomputed,
    feed,
    group_state,
    recorded_ticks,
    stored_trades,
    terminate_backends,
    wait_for,
)

from tickvault.codec import latest_from_hash
from tickvault.keys import WRITER_GROUP, RedisKeys


class Replicas:
    """Starts ``python -m tickvault_writer`` processes and cleans them up."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tickvault_writer"],
                env={**self.env, "TICKVAULT_WRITER_CONSUMER": name},
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.logs,
            )
        self.procs[name] = proc
        return proc

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop_all(self) -> dict[str, int]:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        codes = {name: proc.wait(20) for name, proc in self.procs.items()}
        self.procs.clear()
        return codes

    def close(self) -> None:
        for proc in self.procs.values():
            proc.kill()
            proc.wait(10)


@pytest.fixture
def replicas(
    database_url: str, redis_url: str, redis_prefix: str, clean_db: Engine, tmp_path: Path
) -> Iterator[Replicas]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TICKVAULT_")},
        "TICKVAULT_DATABASE_URL": database_url,
        "TICKVAULT_REDIS_URL": redis_url,
        "TICKVAULT_REDIS_PREFIX": redis_prefix,
        "TICKVAULT_RETENTION_HOURS": "0",  # keep the 2024 recordings' partitions
        "TICKVAULT_CANDLE_RETENTION_DAYS": "0",
        "TICKVAULT_WRITER_METRICS_PORT": "0",
        "TICKVAULT_WRITER_CLAIM_IDLE_MS": "1000",
        "TICKVAULT_WRITER_BATCH_SIZE": "1000",
        "TICKVAULT_WRITER_RETRY_MAX_S": "0.5",
    }
    made = Replicas(env, tmp_path)
    yield made
    made.close()


def stored_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM trades")).scalar() or 0)


def test_three_replicas_one_killed_twice_and_database_sessions_cut_store_exactly_once(
    replicas: Replicas, redis_client: redis.Redis, redis_prefix: str, clean_db: Engine
) -> None:
    keys = RedisKeys(redis_prefix)
    by_symbol = recorded_ticks()
    ticks = sorted((t for ts in by_symbol.values() for t in ts), key=lambda t: t.trade_time)
    for name in ("a", "b", "c"):
        replicas.start(name)
    chunks = [ticks[i : i + 3000] for i in range(0, len(ticks), 3000)]
    fed = 0
    for i, chunk in enumerate(chunks):
        fed += feed(redis_client, keys, chunk + chunk[:100])  # with duplicates
        if i in (2, 6):  # kill a replica that is busy, then replace it
            wait_for(lambda: stored_count(clean_db) > 0, 30, "rows")
            victim = "a" if i == 2 else "a2"
            replicas.kill(victim)
            replicas.start("a2" if i == 2 else "a3")
        if i == 4:  # as if PostgreSQL restarted: every writer session dies at once
            wait_for(lambda: stored_count(clean_db) > 9000, 30, "rows before the cut")
            assert terminate_backends(clean_db, "tickvault-writer") > 0
    wait_for(lambda: group_state(redis_client, keys) == (0, 0), 90, "the drain", interval=0.2)

    stored = stored_trades(clean_db)
    assert len(stored) == len(ticks)
    for t in ticks:
        assert stored[(t.symbol, t.trade_id)][:3] == (t.price, t.quantity, t.trade_time)
    assert_candles_recomputed(clean_db, 24)
    for symbol, recorded in by_symbol.items():
        cached = latest_from_hash(symbol, redis_client.hgetall(keys.latest(symbol)))
        assert cached is not None and cached.trade_id == recorded[-1].trade_id
    assert replicas.stop_all() == {"b": 0, "c": 0, "a3": 0}


def test_sigterm_finishes_the_batch_in_flight_and_exits_0_with_nothing_pending(
    replicas: Replicas, redis_client: redis.Redis, redis_prefix: str, clean_db: Engine
) -> None:
    keys = RedisKeys(redis_prefix)
    ticks = recorded_ticks()["BTCUSDT"]
    replicas.env["TICKVAULT_WRITER_BATCH_SIZE"] = "200"
    proc = replicas.start("solo")
    wait_for(lambda: redis_client.exists(keys.heartbeat("writer", "solo")) == 1, 30, "start")
    feed(redis_client, keys, ticks)
    wait_for(lambda: stored_count(clean_db) > 0, 30, "the first rows")
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
    assert stored_count(clean_db) == delivered  # every delivered entry committed, none after
    assert redis_client.exists(keys.heartbeat("writer", "solo")) == 0
    log = (replicas.logs / "solo.log").read_text()
    assert "finishing the batch in flight" in log
