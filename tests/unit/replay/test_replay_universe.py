"""The whole-market universe: modelled on Binance's real spot list, seeded, Zipf-like rates."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.support.paths import FULL_EXCHANGE_INFO

from tickvault.symbols import is_name
from tickvault_replay.symbols import quote_of
from tickvault_replay.universe import synthetic_universe, universe_from_file, zipf_rates

pytestmark = pytest.mark.unit

SYMBOL = re.compile(r"^[A-Z0-9]{5,20}$")
UTF8 = {"币安人生USDT", "这是测试币456", "１２３４５６USDT"}


def _real() -> list[dict[str, Any]]:
    symbols: list[dict[str, Any]] = json.loads(gzip.decompress(FULL_EXCHANGE_INFO.read_bytes()))[
        "symbols"
    ]
    return symbols


def test_a_synthetic_universe_has_the_real_lists_proportions() -> None:
    real = _real()
    universe = synthetic_universe(len(real), seed=3)
    assert len(universe) == len(real) == 1695
    assert len({s.symbol for s in universe}) == len(universe)
    assert all(s.symbol == s.base + s.quote for s in universe)
    assert {s.symbol for s in universe if not SYMBOL.match(s.symbol)} == UTF8
    assert all(is_name(s.symbol) for s in universe)
    statuses = Counter(s.status for s in universe)
    assert set(statuses) == {"TRADING", "BREAK"}
    assert abs(statuses["BREAK"] / len(universe) - 433 / 1695) < 0.04
    real_quotes = Counter(s["quoteAsset"] for s in real)
    mine = Counter(s.quote for s in universe)
    top = [q for q, _ in real_quotes.most_common(5)]
    assert top == ["BTC", "USDT", "BUSD", "BNB", "ETH"]
    assert {q for q, _ in mine.most_common(5)} == set(top)
    for quote in top:
        assert abs(mine[quote] - real_quotes[quote]) / len(real) < 0.05, quote
    lengths = Counter(len(s.base) for s in universe)
    assert lengths.most_common(1)[0][0] == 3 and lengths[3] + lengths[4] > 0.7 * len(universe)


def test_the_busiest_symbols_are_the_well_known_ones_and_prices_sit_on_the_tick() -> None:
    universe = synthetic_universe(2000, seed=1)
    assert [s.symbol for s in universe[:3]] == ["BTCUSDT", "ETHUSDT", "BNBUSDT"]
    assert all(s.status == "TRADING" for s in universe[:15])
    assert {s.symbol for s in universe[12:15]} == UTF8
    for spec in universe:
        tick, step, price = Decimal(spec.tick), Decimal(spec.step), Decimal(spec.price)
        assert tick > 0 and step > 0 and price >= 100 * tick, spec
        assert price % tick == 0, spec
        assert all(len(v.split(".")[1]) == 8 for v in (spec.tick, spec.step, spec.price))


def test_the_universe_is_seeded() -> None:
    assert synthetic_universe(300, seed=5) == synthetic_universe(300, seed=5)
    assert synthetic_universe(300, seed=5) != synthetic_universe(300, seed=6)
    assert synthetic_universe(300, seed=5) == synthetic_universe(400, seed=5)[:300]


def test_zipf_rates_put_a_few_symbols_at_hundreds_a_second_and_most_under_one_a_minute() -> None:
    rates = zipf_rates(2000, 200.0, 1.5)
    assert rates[0] == 200.0 and rates == sorted(rates, reverse=True)
    assert sum(r >= 50 for r in rates) in range(2, 6)
    assert sum(r < 1 / 60 for r in rates) > len(rates) / 2


def test_a_real_exchange_info_gives_its_names_statuses_and_filters() -> None:
    real = _real()
    specs = universe_from_file(FULL_EXCHANGE_INFO, 0, seed=1)
    assert [s.symbol for s in specs] == [s["symbol"] for s in real]
    assert Counter(s.status for s in specs) == {"TRADING": 1262, "BREAK": 433}
    by_name = {s["symbol"]: s for s in real}
    for spec in specs[:200]:
        entry = by_name[spec.symbol]
        price_filter = next(f for f in entry["filters"] if f["filterType"] == "PRICE_FILTER")
        assert Decimal(spec.tick) == Decimal(price_filter["tickSize"])
        assert (spec.base, spec.quote) == (entry["baseAsset"], entry["quoteAsset"])
    assert len(universe_from_file(FULL_EXCHANGE_INFO, 50, seed=1)) == 50


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b'{"symbols": []}',
        b'{"symbols": [{"status": "TRADING"}]}',
        b"[1, 2]",
        b'{"symbols": [{"symbol": "AB", "baseAsset": "A", "quoteAsset": "B", "status": "ODD"}]}',
    ],
)
def test_a_malformed_universe_file_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "info.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=str(path)):
        universe_from_file(path, 0, seed=1)


def test_symbols_split_on_the_longest_known_quote_asset() -> None:
    assert quote_of("BTCUSDT") == ("BTC", "USDT")
    assert quote_of("ETHBUSD") == ("ETH", "BUSD")
    assert quote_of("USDTTRY") == ("USDT", "TRY")
    assert quote_of("BNBBTC") == ("BNB", "BTC")
    assert quote_of("这是测试币456") == ("这是测试币456", "USDT")
