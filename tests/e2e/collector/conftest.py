"""Run the real collector as a subprocess against the replay exchange, and read its stream."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from tests.private_servers import replay_process
from tests.support.paths import BTC_TRADES, ETH_TRADES
from tests.support.polling import wait_until
from tests.support.recordings import RecordedTrade, all_recorded_trades

from tickvault.codec import GapRecord, from_fields
from tickvault.keys import RedisKeys
from tickvault.tick import Tick

RECORDINGS = ("--recording", str(BTC_TRADES), "--recording", str(ETH_TRADES))
# The collector must not resume from a PostgreSQL other tests write to: point it nowhere.
NO_DATABASE = "postgresql://postgres@127.0.0.1:1/none"


@dataclass
class StreamContent:
    """What the collector published: ticks by symbol and id, and gap records."""

    ticks: dict[str, dict[int, Tick]] = field(default_factory=dict)
    gaps: list[GapRecord] = field(default_factory=list)
    entries: int = 0
    last_id: bytes = b"-"

    def __repr__(self) -> str:
        held = {symbol: len(ids) for symbol, ids in self.ticks.items()}
        return f"StreamContent({self.entries} entries, trades {held}, {len(self.gaps)} gaps)"


def read_stream(
    client: redis.Redis,
    stream: str,
    content: StreamContent | None = None,
) -> StreamContent:
    """Read the stream (from where *content* stopped) and decode every entry."""
    content = content or StreamContent()
    start = content.last_id
    while True:
        lo = start if start == b"-" else b"(" + start
        rows = client.xrange(stream, min=lo, max="+", count=10_000)
        if not rows:
            return content
        for _entry_id, fields in rows:
            decoded = from_fields(fields)
            content.entries += 1
            if isinstance(decoded, Tick):
                content.ticks.setdefault(decoded.symbol, {})[decoded.trade_id] = decoded
            else:
                content.gaps.append(decoded)
        start = content.last_id = rows[-1][0]


def missing_ids(content: StreamContent, expected: dict[str, list[RecordedTrade]]) -> int:
    """Return how many recorded trade ids the stream does not hold yet."""
    return sum(
        1
        for symbol, trades in expected.items()
        for t in trades
        if t.trade_id not in content.ticks.get(symbol, {})
    )


def assert_exact(content: StreamContent, expected: dict[str, list[RecordedTrade]]) -> None:
    """Assert every recorded trade is in the stream with byte-equal price and quantity."""
    for symbol, trades in expected.items():
        got = content.ticks.get(symbol, {})
        missing = [t.trade_id for t in trades if t.trade_id not in got]
        assert missing == [], f"{symbol}: {len(missing)} ids missing, first {missing[:5]}"
        for t in trades:
            tick = got[t.trade_id]
            assert (tick.price, tick.quantity, tick.is_buyer_maker) == (
                t.price,
                t.quantity,
                t.is_buyer_maker,
            ), t.trade_id
            assert tick.trade_time // 1000 == t.trade_time_ms
        assert set(got) == {t.trade_id for t in trades}, f"{symbol}: ids outside the recording"


@pytest.fixture(scope="session")
def recorded() -> dict[str, list[RecordedTrade]]:
    """Every trade of both real recordings, by symbol."""
    return all_recorded_trades()


@dataclass
class CollectorProcess:
    """A running ``tickvault-collector`` with its log file."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Return what the collector logged so far."""
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 20) -> int:
        """Send SIGTERM and return the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL the collector."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)

    def tail(self) -> str:
        """Return the end of the log (what a failed wait shows)."""
        return "collector log tail:\n" + self.log()[-4000:]

    def read_until(
        self,
        client: redis.Redis,
        stream: str,
        content: StreamContent,
        done: Callable[[StreamContent], object],
        timeout: float,
        what: str,
        interval: float = 0.2,
    ) -> StreamContent:
        """Read *stream* into *content* until *done* holds; fail at once if the collector
        exits, or after *timeout* seconds, with its log."""

        def read() -> StreamContent:
            assert self.process.poll() is None, "collector exited:\n" + self.log()[-4000:]
            return read_stream(client, stream, content)

        return wait_until(read, timeout, what, interval, until=done, context=self.tail)


Start = Callable[..., CollectorProcess]  # the start_collector fixture
Recorded = dict[str, list[RecordedTrade]]


@pytest.fixture
def start_collector(
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
) -> Iterator[Callable[..., CollectorProcess]]:
    """A factory starting the collector on a replay, with this test's Redis prefix."""
    started: list[CollectorProcess] = []

    def start(replay: Any, symbols: str = "BTCUSDT,ETHUSDT", **env: Any) -> CollectorProcess:
        values = {
            "TICKVAULT_REDIS_URL": redis_url,
            "TICKVAULT_REDIS_PREFIX": redis_prefix,
            "TICKVAULT_DATABASE_URL": NO_DATABASE,
            "TICKVAULT_SYMBOLS": symbols,
            "TICKVAULT_BINANCE_WS_URL": replay.ws_url,
            "TICKVAULT_BINANCE_REST_URL": replay.rest_url,
            "TICKVAULT_COLLECTOR_METRICS_PORT": "0",
            "TICKVAULT_COLLECTOR_TAIL_GRACE_S": "2",
            "TICKVAULT_COLLECTOR_SILENCE_TIMEOUT_S": "4",
            "TICKVAULT_COLLECTOR_BACKOFF_MAX_S": "2",
            "TICKVAULT_COLLECTOR_RATE_LIMITED_BACKOFF_S": "1",
            "TICKVAULT_COLLECTOR_SUMMARY_INTERVAL_S": "5",
            "TICKVAULT_LOG_LEVEL": "INFO",
        }
        values.update({f"TICKVAULT_COLLECTOR_{k.upper()}": str(v) for k, v in env.items()})
        log_path = tmp_path / f"collector-{len(started)}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tickvault_collector"],
                env={**os.environ, **values},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        run = CollectorProcess(proc, log_path)
        started.append(run)
        return run

    yield start
    for run in started:
        if run.process.poll() is None:
            run.kill()


def seed_resume(client: redis.Redis, prefix: str, expected: dict[str, list[RecordedTrade]]) -> None:
    """Tell the collector it has seen everything before the recordings' first trades.

    The replay's clock may run before the collector connects (as the real market does); a
    collector with no resume point starts from the first trade it sees, so a test that wants
    every id of a recording sets the resume point the way a previous run would have.
    """
    keys = RedisKeys(prefix)
    for symbol, trades in expected.items():
        client.set(keys.collector_last_id(symbol), trades[0].trade_id - 1)


def wait_for_every_trade(
    client: redis.Redis,
    prefix: str,
    expected: dict[str, list[RecordedTrade]],
    collector: CollectorProcess,
    timeout: float,
) -> StreamContent:
    """Poll the stream until it holds every recorded id (or fail with the collector's log)."""
    return collector.read_until(
        client,
        RedisKeys(prefix).stream,
        StreamContent(),
        lambda content: missing_ids(content, expected) == 0,
        timeout,
        "every recorded trade id",
    )


Capture = Callable[..., tuple[StreamContent, CollectorProcess]]


@pytest.fixture
def capture(
    start_collector: Start,
    redis_client: redis.Redis,
    redis_prefix: str,
    recorded: dict[str, list[RecordedTrade]],
) -> Capture:
    """Run the collector against the replay (under *faults*, if any) until every recorded
    trade is in the stream; check it kept running, stops cleanly and published each trade
    exactly."""

    def run(
        replay_args: list[str],
        timeout: float,
        faults: dict[str, Any] | None = None,
        **options: Any,
    ) -> tuple[StreamContent, CollectorProcess]:
        with replay_process(*RECORDINGS, *replay_args) as replay:
            if faults is not None:
                replay.post_faults(faults)
            collector = start_collector(replay, **options)
            content = wait_for_every_trade(redis_client, redis_prefix, recorded, collector, timeout)
            assert collector.process.poll() is None
            assert collector.terminate() == 0
        assert_exact(content, recorded)
        return content, collector

    return run
