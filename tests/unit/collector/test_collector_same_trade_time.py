"""A trade seen through REST and through the WebSocket gets the same primary key.

The key of ``trades`` is ``(symbol, trade_time, trade_id)``: if the backfill and the live feed
disagreed on ``trade_time`` by so much as a microsecond, one trade would be stored twice.
The collector asks both for microseconds (``timeUnit=MICROSECOND`` on the stream URL, the
``X-MBX-TIME-UNIT: MICROSECOND`` header on REST); an endpoint that ignores the request answers
milliseconds, which both parsers scale the same way.
"""

from __future__ import annotations

import asyncio

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from tickvault.rest.parse import parse_trades
from tickvault.tick import Tick
from tickvault_collector.frames import parse_frame
from tickvault_collector.metrics import make_metrics
from tickvault_collector.rest import RestClient
from tickvault_collector.settings import CollectorSettings
from tickvault_collector.ws_limits import combined_url

SYMBOLS = st.sampled_from(["BTCUSDT", "ETHUSDT", "1000SATSUSDT", "A2ZUSDT"])
TIMES_US = st.integers(min_value=1_500_000_000_000_000, max_value=4_000_000_000_000_000)
DECIMALS = st.builds(
    lambda whole, frac: f"{whole}.{frac:08d}",
    st.integers(min_value=0, max_value=10**7),
    st.integers(min_value=0, max_value=10**8 - 1),
)


def _key(tick: Tick) -> tuple[str, int, int]:
    return tick.symbol, tick.trade_time, tick.trade_id


def _both(
    symbol: str, trade_id: int, price: str, qty: str, ws_time: int, rest_time: int, maker: bool
) -> tuple[Tick, Tick]:
    frame = msgspec.json.encode(
        {
            "stream": f"{symbol.lower()}@trade",
            "data": {
                "e": "trade",
                "E": ws_time,
                "s": symbol,
                "t": trade_id,
                "p": price,
                "q": qty,
                "T": ws_time,
                "m": maker,
                "M": True,
            },
        }
    )
    body = msgspec.json.encode(
        [
            {
                "id": trade_id,
                "price": price,
                "qty": qty,
                "quoteQty": "0",
                "time": rest_time,
                "isBuyerMaker": maker,
                "isBestMatch": True,
            }
        ]
    )
    live = parse_frame(frame.decode(), ws_time + 1)  # a text frame
    assert isinstance(live, Tick), live
    (rest,) = parse_trades(symbol, body, ws_time + 2)
    return live, rest


@given(SYMBOLS, st.integers(0, 10**12), DECIMALS, DECIMALS, TIMES_US, st.booleans())
def test_rest_and_websocket_give_the_same_key_in_microseconds(
    symbol: str, trade_id: int, price: str, qty: str, time_us: int, maker: bool
) -> None:
    live, rest = _both(symbol, trade_id, price, qty, time_us, time_us, maker)
    assert _key(live) == _key(rest) == (symbol, time_us, trade_id)
    assert (live.price, live.quantity, live.is_buyer_maker) == (rest.price, rest.quantity, maker)


@given(SYMBOLS, st.integers(0, 10**12), DECIMALS, DECIMALS, TIMES_US, st.booleans())
def test_rest_and_websocket_give_the_same_key_in_milliseconds(
    symbol: str, trade_id: int, price: str, qty: str, time_us: int, maker: bool
) -> None:
    time_ms = time_us // 1000
    live, rest = _both(symbol, trade_id, price, qty, time_ms, time_ms, maker)
    assert _key(live) == _key(rest) == (symbol, time_ms * 1000, trade_id)


@given(SYMBOLS, st.integers(0, 10**12), TIMES_US)
def test_one_side_in_ms_and_the_other_in_us_agree_on_a_whole_millisecond(
    symbol: str, trade_id: int, time_us: int
) -> None:
    whole = time_us - time_us % 1000  # a trade time Binance gives in ms has no µs digits
    live, rest = _both(symbol, trade_id, "1.00000000", "1.00000000", whole, whole // 1000, False)
    assert _key(live) == _key(rest)
    live, rest = _both(symbol, trade_id, "1.00000000", "1.00000000", whole // 1000, whole, False)
    assert _key(live) == _key(rest)


def test_the_collector_asks_both_the_stream_and_rest_for_microseconds() -> None:
    assert "timeUnit=MICROSECOND" in combined_url("wss://stream.binance.com:9443")

    async def headers() -> str | None:
        rest = RestClient.from_settings(CollectorSettings(), make_metrics())
        try:
            return rest._http().headers.get("X-MBX-TIME-UNIT")
        finally:
            await rest.close()

    assert asyncio.run(headers()) == "MICROSECOND"
