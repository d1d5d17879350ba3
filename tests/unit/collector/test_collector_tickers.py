"""Every symbol's latest trade id from ticker/24hr and !ticker_1h@arr, whatever arrives."""

from __future__ import annotations

import json

import pytest

from tickvault.errors import FrameError
from tickvault.symbols import Selection
from tickvault_collector.tickers import TickerRow, parse_rest_tickers, parse_stream_tickers
from tickvault_collector.universe import Tracker

E_MS = 1_723_161_905_800


def _rest(symbol: object, first: object, last: object, close: object = E_MS) -> dict[str, object]:
    return {
        "symbol": symbol,
        "openPrice": "1.0",
        "lastPrice": "1.1",
        "openTime": E_MS - 86_400_000,
        "closeTime": close,
        "firstId": first,
        "lastId": last,
        "count": 0,
    }


def _entry(symbol: object, first: object, last: object) -> dict[str, object]:
    return {"e": "1hTicker", "E": E_MS, "s": symbol, "o": "1", "c": "2", "F": first, "L": last}


def test_rest_rows_give_first_and_last_ids_and_the_answers_time() -> None:
    body = json.dumps([_rest("BTCUSDT", 10, 20), _rest("QUIETUSDT", -1, -1)]).encode()
    tickers = parse_rest_tickers(body)
    assert tickers.rows == [
        TickerRow("BTCUSDT", 10, 20, E_MS * 1000),
        TickerRow("QUIETUSDT", -1, -1, E_MS * 1000),
    ]
    assert tickers.bad == 0


def test_stream_frames_combined_or_raw_give_the_same_rows() -> None:
    entries = [_entry("BTCUSDT", 5, 9), _entry("ETHUSDT", 7, 7)]
    combined = json.dumps({"stream": "!ticker_1h@arr", "data": entries})
    assert parse_stream_tickers(combined) == parse_stream_tickers(json.dumps(entries))
    assert parse_stream_tickers(combined).rows[1] == TickerRow("ETHUSDT", 7, 7, E_MS * 1000)


def test_bad_rows_are_counted_and_the_good_ones_kept() -> None:
    rows = [
        _rest("BTCUSDT", 10, 20),
        _rest("ethusdt", 1, 2),
        _rest("这是测试币456", 1, 2),
        _rest("XRPUSDT", "10", 20),
        _rest("ADAUSDT", 30, 20),
        _rest("DOTUSDT", -1, 5),
        {"symbol": "LTCUSDT"},
        "row",
    ]
    tickers = parse_rest_tickers(json.dumps(rows).encode())
    assert [r.symbol for r in tickers.rows] == ["BTCUSDT", "这是测试币456"]
    assert tickers.bad == 6
    assert tickers.bad_names == ("ethusdt",)
    frame = json.dumps(
        {"stream": "!ticker_1h@arr", "data": [_entry("A", 1, 2), _entry(None, 1, 2)]}
    )
    assert parse_stream_tickers(frame).bad == 1


@pytest.mark.parametrize("body", [b"", b"<html>", b'[{"symbol":"BT', b"{}", b'"x"'])
def test_an_answer_that_is_no_array_is_a_frame_error(body: bytes) -> None:
    with pytest.raises(FrameError):
        parse_rest_tickers(body)
    with pytest.raises(FrameError):
        parse_stream_tickers(body)


def test_an_unrequested_utf8_name_in_the_rolling_ticker_is_a_row_like_any_other() -> None:
    # !ticker_1h@arr carries every symbol, asked for or not, UTF-8 names included (since 2025-12)
    frame = json.dumps(
        {
            "stream": "!ticker_1h@arr",
            "data": [
                _entry("BTCUSDT", 10, 20),
                _entry("币安人生USDT", 5, 8),
                _entry("bad name", 1, 2),
            ],
        },
        ensure_ascii=False,
    ).encode()
    tickers = parse_stream_tickers(frame)
    assert [(r.symbol, r.first_id, r.last_id) for r in tickers.rows] == [
        ("BTCUSDT", 10, 20),
        ("币安人生USDT", 5, 8),
    ]
    assert tickers.bad_names == ("bad name",)
    tracker = Tracker(Selection.parse(["BTCUSDT", "币安*"]))
    assert tracker.wants("币安人生USDT") and not tracker.wants("这是测试币456")
