"""End to end: replay exchange -> collector -> Redis Stream -> two writers -> PostgreSQL + cache."""

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
    group_state,
    stored_trades,
    wait_for,
)
from tests.support.paths import BTC_TRADES, ETH_TRADES
from tests.support.recordings import all_recorded_trades
from tests.support.replay import replay_process

from tickvault.codec import latest_from_hash
from tickvault.keys import RedisKeys


class Services:
    """The collector and writer processes of one test, with their logs."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, module: str, **env: str) -> None:
        with (self.logs / f"{name}.log").open("wb") as log:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", module],
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.logs,
            )

    def terminate(self) -> dict[str, int]:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        codes = {name: proc.wait(30) for name, proc in self.procs.items()}
        self.procs.clear()
        return codes

    def kill(self) -> None:
        for proc in self.procs.values():
            proc.kill()
            proc.wait(10)


@pytest.fixture
def services(
    database_url: str, redis_url: str, redis_prefix: str, clean_db: Engine, tmp_path: Path
) -> Iterator[Services]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TICKVAULT_")},
        "TICKVAULT_DATABASE_URL": database_url,
        "TICKVAULT_REDIS_URL": redis_url,
        "TICKVAULT_REDIS_PREFIX": redis_prefix,
        "TICKVAULT_SYMBOLS": "BTCUSDT,ETHUSDT",
        "TICKVAULT_RETENTION_HOURS": "0",  # the recordings are from 2024: keep them
        "TICKVAULT_CANDLE_RETENTION_DAYS": "0",
        "TICKVAULT_WRITER_METRICS_PORT": "0",
        "TICKVAULT_COLLECTOR_METRICS_PORT": "0",
        "TICKVAULT_COLLECTOR_QUIET_BACKFILL_S": "2",
        "TICKVAULT_WRITER_CLAIM_IDLE_MS": "2000",
    }
    made = Services(env, tmp_path)
    yield made
    made.kill()


def trade_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM trades")).scalar() or 0)


def test_replay_collector_and_two_writers_store_every_recorded_trade_once(
    services: Services, redis_client: redis.Redis, redis_prefix: str, clean_db: Engine
) -> None:
    recorded = all_recorded_trades()
    expected = sum(len(ts) for ts in recorded.values())
    keys = RedisKeys(redis_prefix)
    with replay_process(
        "--recording", str(BTC_TRADES), "--recording", str(ETH_TRADES), "--speed", "0"
    ) as replay:
        services.env["TICKVAULT_BINANCE_WS_URL"] = replay.ws_url
        services.env["TICKVAULT_BINANCE_REST_URL"] = replay.rest_url
        services.start("writer-1", "tickvault_writer", TICKVAULT_WRITER_CONSUMER="w1")
        services.start("writer-2", "tickvault_writer", TICKVAULT_WRITER_CONSUMER="w2")
        services.start("collector", "tickvault_collector")
        wait_for(
            lambda: trade_count(clean_db) >= expected, 100, "every recorded trade", interval=0.2
        )
        wait_for(lambda: group_state(redis_client, keys) == (0, 0), 30, "the drain")
        codes = services.terminate()
    assert codes == {"writer-1": 0, "writer-2": 0, "collector": 0}

    stored = stored_trades(clean_db)
    assert len(stored) == expected
    for symbol, trades in recorded.items():
        for t in trades:
            price, quantity, trade_time, *_ = stored[(symbol, t.trade_id)]
            assert (price, quantity, trade_time) == (t.price, t.quantity, t.trade_time_ms * 1000)
        cached = latest_from_hash(symbol, redis_client.hgetall(keys.latest(symbol)))
        assert cached is not None
        assert (cached.trade_id, cached.price) == (trades[-1].trade_id, trades[-1].price)
    assert_candles_recomputed(clean_db, 24)
