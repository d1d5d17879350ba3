"""The whole pipeline (replay -> collector -> private Redis -> writers -> PostgreSQL) under the
faults of issue 15, with audits off: what was lost must come back through gaps alone.

Each test gets its own Redis server (it may be restarted empty or starved of memory) and a
clean database; the replay serves both real recordings as fast as the collector reads.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine, text
from tests.integration.writer.writer_support import stored_trades
from tests.private_servers import PrivateRedis, ReplayProcess, Services, replay_process, stack_env
from tests.support.paths import BTC_TRADES, ETH_TRADES
from tests.support.polling import wait_until
from tests.support.recordings import RecordedTrade, all_recorded_trades

from tickvault.keys import WRITER_GROUP, RedisKeys

RECORDINGS = ("--recording", str(BTC_TRADES), "--recording", str(ETH_TRADES))
Recorded = dict[str, list[RecordedTrade]]


@pytest.fixture(scope="session")
def recorded() -> Recorded:
    """Every trade of both real recordings, by symbol."""
    return all_recorded_trades()


@dataclass
class Pipeline:
    """One test's replay, Redis, services and database."""

    services: Services
    redis: PrivateRedis
    replay: ReplayProcess
    db: Engine
    keys: RedisKeys
    recorded: Recorded

    def client(self) -> redis.Redis:
        return self.redis.client()

    def start_writer(self, name: str) -> None:
        self.services.start(name, "tickvault_writer", TICKVAULT_WRITER_CONSUMER=name)

    def start_writer_and_group(self, name: str, *, frozen: bool = False) -> None:
        """Start writer *name* and wait for its group; SIGSTOP it then when *frozen* (it
        acknowledges nothing until sent SIGCONT)."""
        self.start_writer(name)
        self.wait(self.group_exists, "the writers' group")
        if frozen:
            self.signal(name, signal.SIGSTOP)

    def start_collector(self, name: str = "collector", **env: str) -> None:
        self.services.start(
            name,
            "tickvault_collector",
            TICKVAULT_COLLECTOR_INSTANCE=name,
            **{f"TICKVAULT_{k}": v for k, v in env.items()},
        )

    def signal(self, name: str, sig: signal.Signals) -> None:
        self.services.signal(name, sig)

    def kill(self, name: str) -> None:
        proc = self.services.procs.pop(name)
        proc.kill()
        proc.wait(10)

    def seed_resume(self) -> None:
        """Resume every symbol just before its recording, as a previous run would have."""
        client = self.client()
        for symbol, trades in self.recorded.items():
            client.set(self.keys.collector_last_id(symbol), trades[0].trade_id - 1)
        client.close()

    def stored(self) -> int:
        with self.db.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM trades")).scalar() or 0)

    def gaps(self) -> list[tuple[str, int, int, str, str]]:
        with self.db.connect() as conn:
            rows = conn.execute(
                text("SELECT symbol, first_id, last_id, status, reason FROM trade_gaps")
            ).all()
        return [tuple(r) for r in rows]  # type: ignore[misc]

    def group_exists(self) -> bool:
        try:
            groups = self.client().xinfo_groups(self.keys.stream)
        except redis.ResponseError:
            return False
        return any(g["name"] in (WRITER_GROUP, WRITER_GROUP.encode()) for g in groups)

    def logs(self) -> str:
        return "\n".join(
            f"--- {name}\n{self.services.log(name)[-3000:]}" for name in self.services.procs
        )

    def wait(self, predicate: Callable[[], object], what: str, timeout: float = 60) -> float:
        """Poll *predicate*; return the seconds it took (fail with the logs after *timeout*)."""
        start = time.monotonic()
        wait_until(predicate, timeout, what, 0.1, context=self.logs)
        return time.monotonic() - start

    def expected(self) -> int:
        return sum(len(ts) for ts in self.recorded.values())

    def repaired(self) -> float:
        """Wait for every recorded trade and every gap filled, check it all exactly; return
        the seconds the repair took."""
        took = self.wait(lambda: self.stored() >= self.expected(), "every trade stored", 90)
        self.wait(lambda: {g[3] for g in self.gaps()} == {"filled"}, "every gap filled", 30)
        self.assert_exact()
        return took

    def assert_exact(self) -> None:
        """Every recorded trade stored once with its exact values; every gap filled."""
        stored = stored_trades(self.db)  # fails on a trade stored twice
        missing = [
            (s, t.trade_id)
            for s, ts in self.recorded.items()
            for t in ts
            if (s, t.trade_id) not in stored
        ]
        assert missing == [], f"{len(missing)} lost, first {missing[:5]}"
        assert len(stored) == self.expected(), "trades stored that the recordings lack"
        for symbol, trades in self.recorded.items():
            for t in trades:
                price, quantity, trade_time, *_ = stored[(symbol, t.trade_id)]
                assert (price, quantity, trade_time) == (
                    t.price,
                    t.quantity,
                    t.trade_time_ms * 1000,
                ), (symbol, t.trade_id)
        assert {g[3] for g in self.gaps()} <= {"filled"}, self.gaps()


@pytest.fixture
def pipeline(
    database_url: str,
    redis_prefix: str,
    clean_db: Engine,
    tmp_path: Path,
    recorded: Recorded,
) -> Iterator[Pipeline]:
    with PrivateRedis() as rds, replay_process(*RECORDINGS, "--speed", "0") as replay:
        env = stack_env(
            database_url,
            rds.url,
            redis_prefix,
            SYMBOLS="BTCUSDT,ETHUSDT",
            RETENTION_HOURS="0",
            CANDLE_RETENTION_DAYS="0",
            BINANCE_WS_URL=replay.ws_url,
            BINANCE_REST_URL=replay.rest_url,
            COLLECTOR_AUDIT_INTERVAL_S="0",
            COLLECTOR_TAIL_GRACE_S="2",
            COLLECTOR_BACKOFF_MAX_S="2",
            COLLECTOR_SUMMARY_INTERVAL_S="5",
        )
        services = Services(env, tmp_path)
        made = Pipeline(services, rds, replay, clean_db, RedisKeys(redis_prefix), recorded)
        try:
            yield made
        finally:
            for proc in services.procs.values():
                proc.send_signal(signal.SIGCONT)
            services.kill()
