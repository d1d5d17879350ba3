"""The whole stack as ``make demo RECORDING=...`` starts it, checked against the recordings.

``tickvault up --replay --recording BTC --recording ETH --speed 20`` runs the replay exchange,
collector, writer and API as real processes, with this test's own database and Redis prefix.
Every recorded trade must be stored exactly once with Binance's exact strings, and the API's
answers must equal values computed here from the recordings (tests/support/recordings.py),
never from the code under test.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
from tests.integration.api import expected
from tests.support.cli import stack_env, terminate
from tests.support.db import rows
from tests.support.paths import TRADE_RECORDINGS
from tests.support.polling import wait_until
from tests.support.recordings import RecordedTrade, all_recorded_trades
from tests.support.redis_keys import delete_prefix

from tickvault.cli.up import free_port
from tickvault.codec import latest_from_hash
from tickvault.db.engine import make_engine
from tickvault.keys import WRITER_GROUP, RedisKeys

SPEED = 20
REPLAY_BOUND_S = 60.0
STORE_BOUND_S = 20.0
START_BOUND_S = 45.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Stack:
    """A running ``tickvault up`` and where to reach it."""

    process: subprocess.Popen[bytes]
    log_path: Path
    api: str
    database_url: str
    redis_url: str
    prefix: str
    last_ids: dict[str, int]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str) -> Any:
        return self.get_from(self.api, path)

    def get_from(self, base: str, path: str) -> Any:
        with urllib.request.urlopen(base + path, timeout=10) as response:
            return json.loads(response.read())

    def replay_url(self) -> str:
        found = re.search(r"starting the replay exchange on (http://\S+)", self.log())
        assert found, f"tickvault up did not say where the replay runs:\n{self.log()[-4000:]}"
        return found.group(1)

    def settled(self) -> bool:
        """Return whether every recording's last trade is cached and the stream fully acked."""
        client = redis.Redis.from_url(self.redis_url)
        keys = RedisKeys(self.prefix)
        try:
            for symbol, last_id in self.last_ids.items():
                latest = latest_from_hash(symbol, client.hgetall(keys.latest(symbol)))
                if latest is None or latest.trade_id != last_id:
                    return False
            groups = client.xinfo_groups(keys.stream)
        finally:
            client.close()
        group = next(g for g in groups if g["name"] == WRITER_GROUP.encode())
        return bool(group["pending"] == 0 and group["lag"] == 0)


def tickvault_command() -> str:
    script = Path(sys.executable).with_name("tickvault")
    assert script.exists(), f"no tickvault console script next to {sys.executable}"
    return str(script)


def wait_for(
    condition: Callable[[], bool],
    bound: float,
    what: str,
    stack: Stack,
    state: Callable[[], str] = lambda: "",
) -> None:
    """Wait until *condition* holds; fail at once if ``tickvault up`` exits, or after *bound*
    seconds with *state* and the stack's log."""

    def holds() -> bool:
        assert stack.process.poll() is None, f"tickvault up exited early:\n{stack.log()[-4000:]}"
        return condition()

    wait_until(holds, bound, what, 0.25, context=lambda: f"{state()}\n{stack.log()[-4000:]}")


@pytest.fixture(scope="module")
def stack(
    new_database: Callable[[], str], redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One demo stack for the module, run until every recorded trade has been replayed."""
    database_url = new_database()
    api_port = free_port()
    prefix = f"tvtest:stack{os.getpid()}"
    env = stack_env(database_url, redis_url, prefix, api_port)
    recordings = [arg for path in TRADE_RECORDINGS for arg in ("--recording", str(path))]
    workdir = tmp_path_factory.mktemp("stack")
    log_path = workdir / "up.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [tickvault_command(), "up", "--replay", *recordings, "--speed", str(SPEED)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
        )
    running = Stack(
        process,
        log_path,
        f"http://127.0.0.1:{api_port}",
        database_url,
        redis_url,
        prefix,
        {s: trades[-1].trade_id for s, trades in all_recorded_trades().items()},
    )
    try:
        wait_for(lambda: "tickvault is up" in running.log(), START_BOUND_S, "the API", running)
        replay = running.replay_url()
        wait_for(
            lambda: running.get_from(replay, "/_replay/stats")["finished"],
            REPLAY_BOUND_S,
            "the replay to finish",
            running,
        )
        wait_for(lambda: running.settled(), STORE_BOUND_S, "the writer to catch up", running)
        yield running
    finally:
        terminate(process)
        delete_prefix(redis_url, prefix)


@pytest.fixture(scope="module")
def stored(stack: Stack) -> list[tuple[Any, ...]]:
    """Every stored trade as (symbol, id, price, quantity, trade ms, event ms, maker), sorted."""
    engine = make_engine(stack.database_url, application_name="tickvault-e2e-stack")
    try:
        found = rows(
            engine,
            "SELECT symbol, trade_id, price::text, quantity::text, trade_time, "
            "event_time, is_buyer_maker FROM trades",
        )
    finally:
        engine.dispose()
    return sorted((r[0], r[1], r[2], r[3], ms(r[4]), ms(r[5]), r[6]) for r in found)


def as_row(t: RecordedTrade) -> tuple[Any, ...]:
    return (
        t.symbol,
        t.trade_id,
        t.price,
        t.quantity,
        t.trade_time_ms,
        t.event_time_ms,
        t.is_buyer_maker,
    )


def ms(dt: datetime) -> int:
    return (dt - EPOCH) // timedelta(milliseconds=1)


def iso_ms(epoch_ms: int) -> str:
    return (EPOCH + timedelta(milliseconds=epoch_ms)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def test_every_recorded_trade_is_stored_exactly_once(stored: list[tuple[Any, ...]]) -> None:
    recorded = all_recorded_trades()
    want = sorted(as_row(t) for trades in recorded.values() for t in trades)
    assert len(stored) == len(want)
    assert stored == want


def test_what_is_stored_is_the_recording_from_the_first_trade_seen_with_exact_strings(
    stored: list[tuple[Any, ...]],
) -> None:
    recorded = all_recorded_trades()
    for symbol, trades in recorded.items():
        mine = [row for row in stored if row[0] == symbol]
        assert mine, f"no {symbol} trade stored"
        first_id = mine[0][1]
        # no gap, no duplicate, nothing invented: an exact, contiguous tail of the recording
        assert mine == [as_row(t) for t in trades if t.trade_id >= first_id]
        assert mine[-1][1] == trades[-1].trade_id
    assert len(stored) >= 0.9 * sum(len(v) for v in recorded.values())


def test_api_answers_equal_values_computed_from_the_recording(
    stack: Stack, stored: list[tuple[Any, ...]]
) -> None:
    first_ids = {row[0]: row[1] for row in reversed(stored)}
    recorded = {
        symbol: [t for t in trades if t.trade_id >= first_ids[symbol]]
        for symbol, trades in all_recorded_trades().items()
    }
    check_latest(stack, recorded)
    check_at(stack, recorded["BTCUSDT"])
    check_range(stack, recorded["BTCUSDT"])
    for symbol, trades in recorded.items():
        stats = stack.get(f"/api/v1/prices/{symbol}/stats")
        expected.assert_stats(stats, expected.stats_of(expected.trades_of(trades)))


def test_sigterm_stops_the_whole_stack_cleanly(stack: Stack) -> None:
    stack.process.send_signal(signal.SIGTERM)
    assert stack.process.wait(timeout=30) == 0
    lines = stack.log().splitlines()
    assert lines[-1].endswith("up        | every service has stopped") or lines[-1].endswith(
        "every service has stopped"
    )
    assert not any("restarting in" in line for line in lines), "a service died during the run"


def check_latest(stack: Stack, recorded: dict[str, list[RecordedTrade]]) -> None:
    for symbol, trades in recorded.items():
        last = max(trades, key=lambda t: t.trade_id)
        body = stack.get(f"/api/v1/prices/{symbol.lower()}/latest")
        assert (body["symbol"], body["price"], body["quantity"], body["trade_id"]) == (
            symbol,
            last.price,
            last.quantity,
            last.trade_id,
        )
        assert (body["trade_time_ms"], body["trade_time"]) == (
            last.trade_time_ms,
            iso_ms(last.trade_time_ms),
        )


def check_at(stack: Stack, trades: list[RecordedTrade]) -> None:
    middle = trades[len(trades) // 2]
    second_ms = middle.trade_time_ms // 1000 * 1000
    before = [t for t in trades if t.trade_time_ms < second_ms + 1000]
    want = max(before, key=lambda t: (t.trade_time_ms, t.trade_id))
    body = stack.get(f"/api/v1/prices/BTCUSDT/at?time={iso_ms(second_ms)}")
    assert (body["price"], body["trade_id"], body["trade_time_ms"], body["in_second"]) == (
        want.price,
        want.trade_id,
        want.trade_time_ms,
        want.trade_time_ms >= second_ms,
    )


def check_range(stack: Stack, trades: list[RecordedTrade]) -> None:
    minute = datetime(2024, 8, 9, 0, 2, tzinfo=UTC)
    start = ms(minute)
    inside = sorted(
        (t for t in trades if start <= t.trade_time_ms < start + 60_000),
        key=lambda t: (t.trade_time_ms, t.trade_id),
    )
    assert inside, "the chosen minute must hold trades"
    body = stack.get("/api/v1/prices/BTCUSDT/range?minute=2024-08-09T00:02")
    high = max(Decimal(t.price) for t in inside)
    low = min(Decimal(t.price) for t in inside)
    assert Decimal(body["high"]) == high
    assert Decimal(body["low"]) == low
    assert body["open"] == inside[0].price
    assert body["close"] == inside[-1].price
    assert body["trades"] == len(inside)
    assert Decimal(body["volume"]) == sum((Decimal(t.quantity) for t in inside), Decimal(0))
    assert body["high_time"] in {iso_ms(t.trade_time_ms) for t in inside if t.price == body["high"]}
    assert body["low_time"] in {iso_ms(t.trade_time_ms) for t in inside if t.price == body["low"]}
