"""Synthetic ids that only grow (across restarts too), and rolling-window statistics."""

from __future__ import annotations

import itertools
import random
from decimal import Decimal

import pytest

from tickvault_replay.ids import IDS_PER_SECOND, clock_id, first_id_at
from tickvault_replay.model import Trade
from tickvault_replay.rolling import MINUTE_MS, MinuteBars, Window
from tickvault_replay.symbols import spec_for
from tickvault_replay.synthetic import SyntheticSource
from tickvault_replay.tickers import rest_row, stream_entry, window_open

pytestmark = pytest.mark.unit

START = 1_790_000_000_000_000  # an epoch time in µs


def _trades(source: SyntheticSource, until_us: int) -> list[Trade]:
    out = []
    while (due := source.next_time()) is not None and due <= until_us:
        out += [e.trade for e in source.take() if e.trade is not None]
    return out


def _run(start_us: int, seconds: float, rate: float, first_id: int | None = None) -> list[Trade]:
    source = SyntheticSource(seed=1, start_us=start_us)
    first = first_id_at(start_us) if first_id is None else first_id
    source.add(spec_for("BTCUSDT"), rate, first, start_us)
    return _trades(source, start_us + int(seconds * 1e6))


@pytest.mark.parametrize("rate", [0.5, 200.0, 3000.0])
def test_a_restarted_market_starts_above_every_id_the_first_one_printed(rate: float) -> None:
    first = _run(START, 20, rate)
    assert first, "the first run printed nothing"
    ids = [t.id for t in first]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    assert all(t.id <= clock_id(t.time_us) for t in first)
    restart = first[-1].time_us + 1000  # a restart one millisecond after the last trade
    second = _run(restart, 5, rate)
    assert second[0].id > ids[-1]
    assert second[0].id == first_id_at(restart)


def test_a_burst_faster_than_the_clock_is_spread_out_not_renumbered() -> None:
    trades = _run(START, 2, IDS_PER_SECOND * 3.0)
    ids = [t.id for t in trades]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    assert all(t.id <= clock_id(t.time_us) for t in trades)
    assert all(a.time_us <= b.time_us for a, b in itertools.pairwise(trades))


def test_a_fixed_first_id_is_kept_and_halting_skips_no_id() -> None:
    source = SyntheticSource(seed=4, start_us=START)
    source.add(spec_for("ETHUSDT"), 50.0, 0, START)
    before = _trades(source, START + 2_000_000)
    source.set_trading("ETHUSDT", False, START + 2_000_000)
    assert source.next_time() is None
    source.set_trading("ETHUSDT", True, START + 60_000_000)
    after = _trades(source, START + 62_000_000)
    ids = [t.id for t in before + after]
    assert ids[0] == 0 and ids == list(range(len(ids)))
    assert after[0].time_us >= START + 60_000_000


def test_one_heap_serves_many_symbols_in_time_order() -> None:
    source = SyntheticSource(seed=2, start_us=START)
    for n in range(300):
        source.add(spec_for(f"S{n:03d}USDT"), 0.5 + n % 7, 1, START)
    trades = _trades(source, START + 30_000_000)
    assert all(a.time_us <= b.time_us for a, b in itertools.pairwise(trades))
    per_symbol: dict[str, list[int]] = {}
    for t in trades:
        per_symbol.setdefault(t.symbol, []).append(t.id)
    assert len(per_symbol) > 250
    assert all(ids == list(range(1, len(ids) + 1)) for ids in per_symbol.values())


def _brute(trades: list[tuple[int, int, int, int]], start_ms: int) -> Window | None:
    inside = [t for t in trades if t[0] - t[0] % MINUTE_MS >= start_ms]
    if not inside:
        return None
    before = [t for t in trades if t[0] - t[0] % MINUTE_MS < start_ms]
    return Window(
        inside[0][1],
        max(t[1] for t in inside),
        min(t[1] for t in inside),
        inside[-1][1],
        before[-1][1] if before else None,
        sum(t[2] for t in inside),
        sum(t[1] * t[2] for t in inside),
        inside[0][3],
        inside[-1][3],
        len(inside),
    )


def test_minute_bars_answer_any_window_like_the_trades_themselves() -> None:
    rng = random.Random(9)
    bars, trades, now = MinuteBars(), [], 1_790_000_000_000
    for trade_id in range(5000):
        now += int(rng.expovariate(1 / 2000))
        trade = (now, rng.randint(10**8, 2 * 10**8), rng.randint(1, 10**6), trade_id)
        trades.append(trade)
        bars.add(*trade)
    for span in (60_000, 3_600_000, 86_400_000, 7 * 60_000):
        start = window_open(now, span)
        assert bars.window(start) == _brute(trades, start), span
    assert bars.window(now + MINUTE_MS) is None
    assert bars.last_close == trades[-1][1]


def test_bars_older_than_a_day_are_trimmed_but_totals_stay_right() -> None:
    bars, trades = MinuteBars(), []
    for n in range(4000):  # one trade every 40 s: more than two days
        trade = (1_790_000_000_000 + n * 40_000, 10**8 + n, 1000, n)
        trades.append(trade)
        bars.add(*trade)
    assert len(bars.minutes) < 2000
    start = window_open(trades[-1][0], 86_400_000)
    assert bars.window(start) == _brute(trades, start)


def test_ticker_rows_and_stream_entries_have_binances_keys_and_exact_values() -> None:
    window = Window(
        open=6000000000000,  # 60000
        high=6010000000000,
        low=5990000000000,
        close=6005000000000,
        prev_close=5999000000000,
        volume=300000000,  # 3
        quote=3 * 6000000000000 * 100000000,  # 3 x 60000, in 10^-16
        first_id=100,
        last_id=149,
        count=50,
    )
    book = b'{"u":1,"s":"BTCUSDT","b":"60049.99","B":"1.5","a":"60050.00","A":"2"}'
    row = rest_row("BTCUSDT", window, (6005000000000, "0.01000000", book), (10, 20), True)
    assert list(row) == [
        "symbol", "priceChange", "priceChangePercent", "weightedAvgPrice", "prevClosePrice",
        "lastPrice", "lastQty", "bidPrice", "bidQty", "askPrice", "askQty", "openPrice",
        "highPrice", "lowPrice", "volume", "quoteVolume", "openTime", "closeTime", "firstId",
        "lastId", "count",
    ]  # fmt: skip
    assert row["priceChange"] == "50.00000000" and row["priceChangePercent"] == "0.083"
    assert row["weightedAvgPrice"] == "60000.00000000" and row["quoteVolume"] == "180000.00000000"
    assert (row["bidPrice"], row["askQty"]) == ("60049.99", "2")
    assert (row["firstId"], row["lastId"], row["count"]) == (100, 149, 50)
    mini = rest_row("BTCUSDT", window, (None, "0", b""), (10, 20), False)
    assert list(mini) == [
        "symbol", "openPrice", "highPrice", "lowPrice", "lastPrice", "volume", "quoteVolume",
        "openTime", "closeTime", "firstId", "lastId", "count",
    ]  # fmt: skip
    quiet = rest_row("XYZBTC", None, (123, "0.1", b""), (10, 20), True)
    assert (quiet["firstId"], quiet["lastId"], quiet["count"]) == (-1, -1, 0)
    assert quiet["lastPrice"] == quiet["openPrice"] == "0.00000123"
    entry = stream_entry("1h", "BTCUSDT", window, (10, 20), 21)
    assert list(entry) == [*"eEspPohlcwvqOCFLn"]
    assert entry["e"] == "1hTicker" and (entry["F"], entry["L"], entry["n"]) == (100, 149, 50)
    assert Decimal(entry["c"]) - Decimal(entry["o"]) == Decimal(entry["p"])
