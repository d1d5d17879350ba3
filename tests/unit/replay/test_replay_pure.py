"""The replay's pure cores: formats, aggregation, decimals, control messages, rate limits,
the synthetic market."""

from __future__ import annotations

import gzip
import itertools
import json
from decimal import Decimal
from pathlib import Path

import pytest
from tests.support.paths import BINANCE_DATA

from tickvault_replay import loader
from tickvault_replay.aggregate import AggBuilder, split_agg
from tickvault_replay.control import handle
from tickvault_replay.decimals import quote_qty
from tickvault_replay.encode import event_frame
from tickvault_replay.faults import FaultError, parse_script
from tickvault_replay.formats import detect, parse_csv
from tickvault_replay.model import COMBINED_MS, AggTrade, Trade
from tickvault_replay.ratelimit import MessageRate, WeightBook
from tickvault_replay.synthetic import synthetic_events

pytestmark = pytest.mark.unit

CRYPTOFEED = BINANCE_DATA / "ws_spot_btc_eth_dot_aggtrade_depth_kline_20210404_cryptofeed.txt.gz"
BOOK_PART1 = BINANCE_DATA / "ws_spot_btcusdt_trade_bookticker_depth_20240808T2354Z_part1.gz"


def test_formats_are_detected_from_their_first_line() -> None:
    assert detect('1723161254087896568 {"stream":"btcusdt@trade","data":{}}') == "ns"
    assert detect("wss://stream.binance.com:9443/stream?streams=a <-> 1617566590.3") == "cryptofeed"
    assert detect('{"e":"trade"}') == "jsonl"
    assert detect("1,60000.01000000,0.00100000,60.00001,1735689600010866,True,True") == "csv"


def test_public_data_csv_rows_read_microseconds_and_milliseconds() -> None:
    new = parse_csv("5,60000.01,0.001,60.00001,1735689600010866,True,True", "BTCUSDT")
    old = parse_csv("5,60000.01,0.001,60.00001,1583709433583,False,True", "BTCUSDT")
    assert new.time_us == 1735689600010866 and new.buyer_maker is True
    assert old.time_us == 1583709433583000 and old.buyer_maker is False


def test_csv_and_jsonl_recordings_load_with_the_symbol_from_the_file_name(tmp_path: Path) -> None:
    csv = tmp_path / "BTCUSDT-trades-2025-01-01.csv"
    csv.write_text(
        "7,60000.01000000,0.00100000,60.00001000,1735689600010866,True,True\n"
        "8,60000.02000000,0.00200000,120.00004000,1735689600020000,False,True\n"
    )
    jsonl = tmp_path / "rest.jsonl"
    jsonl.write_text(
        json.dumps(
            {
                "id": 1,
                "price": "2.5",
                "qty": "1",
                "quoteQty": "2.5",
                "time": 1,
                "isBuyerMaker": True,
                "isBestMatch": True,
            }
        )
        + "\n"
    )
    rec = loader.load([str(csv), f"ETHUSDT={jsonl}"])
    trades = [e.trade for e in rec.events if e.trade]
    assert [(t.symbol, t.id) for t in trades] == [("ETHUSDT", 1), ("BTCUSDT", 7), ("BTCUSDT", 8)]
    last = next(e for e in rec.events if e.trade and e.trade.id == 8)
    frame = event_frame(last, COMBINED_MS)
    assert frame[:2] == b"\x81\x7e"  # text frame, 16-bit length
    assert json.loads(frame[4:]) == {
        "stream": "btcusdt@trade",
        "data": {
            "e": "trade",
            "E": 1735689600020,
            "s": "BTCUSDT",
            "t": 8,
            "p": "60000.02000000",
            "q": "0.00200000",
            "T": 1735689600020,
            "m": False,
            "M": True,
        },
    }


def test_hftbacktest_file_serves_every_recorded_stream_and_skips_the_snapshot() -> None:
    events = loader.load_file(BOOK_PART1, None)
    with gzip.open(BOOK_PART1, "rt") as fh:
        lines = fh.read().splitlines()
    assert len(events) == len(lines) - 1
    assert {e.stream for e in events} == {
        "btcusdt@trade",
        "btcusdt@bookTicker",
        "btcusdt@depth@100ms",
    }


def test_cryptofeed_aggtrades_are_served_as_recorded_and_expanded_into_trades() -> None:
    rec = loader.load([str(CRYPTOFEED)])
    aggs = [e for e in rec.events if e.agg and e.symbol == "BTCUSDT"]
    trades = [e.trade for e in rec.events if e.trade and e.symbol == "BTCUSDT"]
    assert len(aggs) == 1227 and aggs[0].agg is not None and aggs[0].agg.id == 665076760
    assert [t.id for t in trades] == list(range(trades[0].id, trades[0].id + len(trades)))
    for event in aggs:
        agg = event.agg
        assert agg is not None
        fills = [t for t in trades if agg.first_id <= t.id <= agg.last_id]
        assert sum(Decimal(t.qty) for t in fills) == Decimal(agg.qty)


def test_split_and_rebuild_an_aggregate_round_trip() -> None:
    agg = AggTrade("BTCUSDT", 10, "60000.00000000", "0.00000010", 100, 102, 5, 6, True)
    fills = split_agg(agg)
    assert [f.qty for f in fills] == ["0.00000003", "0.00000003", "0.00000004"]
    builder = AggBuilder({"BTCUSDT": 10})
    assert all(builder.add(f) is None for f in fills)
    assert builder.close_all() == [agg]


def test_quote_quantity_is_the_exact_product() -> None:
    assert quote_qty("60814.78000000", "0.00034000") == "20.67702520"
    assert quote_qty("0.00001234", "0.00000001") == "0.0000000000001234"


@pytest.mark.parametrize(
    ("request_text", "reply"),
    [
        ('{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}', {"result": None, "id": 1}),
        ('{"method":"LIST_SUBSCRIPTIONS","id":3}', {"result": ["ethusdt@trade"], "id": 3}),
        ('{"method":"GET_PROPERTY","params":["combined"],"id":2}', {"result": False, "id": 2}),
        (
            '{"method":"SUBSCRIBE","params":["btc usdt"],"id":4}',
            {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 4},
        ),
        (
            '{"method":"SET_PROPERTY","params":["nope",true],"id":5}',
            {"error": {"code": 0, "msg": "Unknown property"}, "id": 5},
        ),
        (
            '{"method":"SET_PROPERTY","params":["combined","yes"],"id":6}',
            {"error": {"code": 1, "msg": "Invalid value type: expected Boolean"}, "id": 6},
        ),
        (
            '{"method":"SUBSCRIBE","params":[],"id":{"x":1}}',
            {
                "error": {
                    "code": 2,
                    "msg": "Invalid request: request ID must be an unsigned integer",
                }
            },
        ),
        (
            '{"method":"LIST_SUBSCRIPTIONS","params":[1],"id":7}',
            {"error": {"code": 2, "msg": "Invalid request: too many parameters"}, "id": 7},
        ),
    ],
)
def test_control_messages_get_binances_answers(request_text: str, reply: object) -> None:
    got = handle(request_text, {"ethusdt@trade": None}, False, max_streams=1024)
    assert json.loads(got.body) == reply


def test_garbage_control_messages_get_error_bodies_never_exceptions() -> None:
    for text in [
        "",
        "{",
        "[]",
        "null",
        '{"id":1}',
        '{"method":"FOO","id":1}',
        "\x00" * 9,
        '{"method":"SUBSCRIBE","params":"x","id":1}',
        "[" * 100_000,  # deeper than any decoder recurses: still an answer
        '{"id":' + "[" * 5000 + "]" * 5000 + "}",
    ]:
        body = json.loads(handle(text, {}, False, max_streams=1024).body)
        assert body["error"]["code"] in (2, 3)


def test_malformed_json_is_answered_with_the_column_where_it_breaks() -> None:
    for text, column in [("x", 1), ('{"method": SUBSCRIBE}', 12), ("{", 2), ('{"é": x}', 7)]:
        body = json.loads(handle(text, {}, False, max_streams=1024).body)
        expected = f"Invalid JSON: expected value at line 1 column {column}"
        assert body == {"error": {"code": 3, "msg": expected}}, text


def test_weight_book_resets_each_window_and_bans_after_ignoring_429() -> None:
    book = WeightBook(limit=50, window_s=60, ban_s=120)
    assert [book.charge("ip", 25, 10.0).status for _ in range(3)] == [200, 200, 429]
    assert book.charge("ip", 25, 11.0).status == 418
    assert book.charge("ip", 25, 200.0).status == 200


def test_message_rate_allows_five_a_second() -> None:
    rate = MessageRate(5)
    assert [rate.hit(0.1 * i) for i in range(6)] == [True] * 5 + [False]
    assert MessageRate(5).hit(0.0) and MessageRate(0).hit(0.0)


def test_fault_scripts_are_validated() -> None:
    faults = parse_script(
        b'{"faults":[{"type":"drop","trade_ids":[1]},{"type":"lifetime","seconds":2}]}'
    )
    assert len(faults) == 2
    for bad in [b'{"type":"explode"}', b'{"type":"drop","trade_ids":"x"}', b"nope"]:
        with pytest.raises(FaultError):
            parse_script(bad)


def test_synthetic_market_is_seeded_on_the_tick_with_consecutive_ids() -> None:
    def take(seed: int) -> list[Trade]:
        events = synthetic_events(["BTCUSDT", "ETHUSDT"], seed, 20.0, 1_000_000)
        return [e.trade for e in itertools.islice(events, 6000) if e.trade]

    first, again, other = take(3), take(3), take(4)
    assert first == again and first != other
    for symbol, tick, step, low, high in [
        ("BTCUSDT", "0.01", "0.00001", 50000, 70000),
        ("ETHUSDT", "0.01", "0.0001", 2000, 3200),
    ]:
        trades = [t for t in first if t.symbol == symbol]
        assert [t.id for t in trades] == list(range(trades[0].id, trades[0].id + len(trades)))
        for t in trades:
            assert len(t.price.split(".")[1]) == 8 and len(t.qty.split(".")[1]) == 8
            assert Decimal(t.price) % Decimal(tick) == 0 and Decimal(t.qty) % Decimal(step) == 0
            assert low < Decimal(t.price) < high
        sizes = sorted(Decimal(t.qty) for t in trades)
        assert sizes[-1] > 20 * sizes[len(sizes) // 2]  # heavy tail
        same_ms = sum(1 for a, b in itertools.pairwise(trades) if a.time_us == b.time_us)
        assert same_ms > len(trades) // 10  # bursts: sweeps fill several trades at once
