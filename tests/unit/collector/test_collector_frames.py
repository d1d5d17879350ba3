"""The frame parser on real recorded frames, every other frame shape, and fuzzed input."""

from __future__ import annotations

import gzip
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.paths import BTC_TRADES, ETH_TRADES
from tests.support.recordings import read_trades

from tickvault.tick import Source, Tick
from tickvault_collector.frames import (
    ControlReply,
    Malformed,
    ServerShutdown,
    Unknown,
    parse_frame,
    to_us,
)

RECEIVED = 1_723_161_255_400_000


def test_every_recorded_frame_parses_into_the_exact_tick() -> None:
    for path in (BTC_TRADES, ETH_TRADES):
        for trade in read_trades(path):
            tick = parse_frame(trade.raw, RECEIVED)
            assert tick == Tick(
                trade.symbol,
                trade.trade_id,
                trade.price,
                trade.quantity,
                trade.trade_time_ms * 1000,
                trade.event_time_ms * 1000,
                trade.is_buyer_maker,
                RECEIVED,
                Source.WS,
            )


def test_microsecond_frames_keep_their_microseconds() -> None:
    frame = (
        '{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343123,'
        '"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000",'
        '"T":1723161255342999,"m":false,"M":true}}'
    )
    tick = parse_frame(frame, RECEIVED)
    assert isinstance(tick, Tick)
    assert (tick.trade_time, tick.event_time, tick.is_buyer_maker) == (
        1723161255342999,
        1723161255343123,
        False,
    )


def test_raw_trade_frames_and_legacy_keys_are_accepted() -> None:
    frame = (
        '{"e":"trade","E":1723161255343,"s":"ETHUSDT","t":7,"p":"2.5","q":"1",'
        '"b":11,"a":12,"T":1723161255342,"m":true}'
    )
    tick = parse_frame(frame, RECEIVED)
    assert isinstance(tick, Tick)
    assert (tick.symbol, tick.trade_id, tick.price, tick.quantity) == ("ETHUSDT", 7, "2.5", "1")


def test_server_shutdown_is_recognised_in_both_shapes() -> None:
    raw = parse_frame('{"e":"serverShutdown","E":1770123456789}', RECEIVED)
    combined = parse_frame(
        '{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1770123456789}}', RECEIVED
    )
    assert raw == combined == ServerShutdown(1770123456789000)


def test_control_replies_carry_result_or_error() -> None:
    assert parse_frame('{"result":null,"id":1}', RECEIVED) == ControlReply(1, None, None)
    assert parse_frame(
        '{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":2}', RECEIVED
    ) == ControlReply(2, None, "Invalid request: invalid stream")
    assert parse_frame('{"error":{"code":3,"msg":"x"}}', RECEIVED) == ControlReply(None, None, "x")


def test_unknown_events_are_classified_not_failed() -> None:
    assert parse_frame(
        '{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT"}}', RECEIVED
    ) == Unknown("btcusdt@bookTicker")
    assert parse_frame('{"e":"mysteryEvent","E":1}', RECEIVED) == Unknown("mysteryEvent")
    assert parse_frame("[1,2]", RECEIVED) == Unknown("array")


def test_malformed_frames_say_why() -> None:
    good = (
        '{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT",'
        '"t":1,"p":"1.0","q":"2.0","T":1723161255342,"m":true}}'
    )
    cases = {
        "truncated": good[: len(good) // 2],
        "wrong types": good.replace('"t":1', '"t":"1"'),
        "float price": good.replace('"p":"1.0"', '"p":1.0'),
        "not decimal": good.replace('"q":"2.0"', '"q":"2e5"'),
        "negative id": good.replace('"t":1', '"t":-1'),
        "missing field": good.replace('"m":true', '"x":true'),
        "bad time": good.replace('"T":1723161255342', '"T":5'),
        "lower symbol": good.replace('"s":"BTCUSDT"', '"s":"btc usdt"'),
        "scalar": "42",
    }
    for name, frame in cases.items():
        assert isinstance(parse_frame(frame, RECEIVED), Malformed), name
    binary = parse_frame(good.encode(), RECEIVED)
    assert isinstance(binary, Malformed)
    assert binary.reason == "binary frame"


def test_time_units_are_told_apart_by_magnitude() -> None:
    assert to_us(1723161255342) == 1723161255342000
    assert to_us(1723161255342123) == 1723161255342123


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_arbitrary_input_never_raises(frame: str | bytes) -> None:
    result = parse_frame(frame, RECEIVED)
    assert isinstance(result, Tick | ControlReply | ServerShutdown | Unknown | Malformed)


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["e", "E", "s", "t", "p", "q", "T", "m", "stream", "data", "id", "result", "error"]
            ),
            inner,
            max_size=8,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(_JSONISH)
def test_arbitrary_json_shaped_like_frames_never_raises(value: object) -> None:
    result = parse_frame(json.dumps(value), RECEIVED)
    assert isinstance(result, Tick | ControlReply | ServerShutdown | Unknown | Malformed)


def test_the_recordings_hold_only_trade_frames() -> None:
    with gzip.open(BTC_TRADES, "rt") as fh:
        first = fh.readline().partition(" ")[2]
    assert isinstance(parse_frame(first, RECEIVED), Tick)
