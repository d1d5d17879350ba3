"""The fast path's pure parts: batch aggregates and the binary COPY encoding."""

from __future__ import annotations

import struct

from tickvault.tick import Source, Tick
from tickvault_writer.aggregate import Candle, Level, aggregate
from tickvault_writer.binary import HEADER, PG_EPOCH_US, TRAILER, copy_binary, numeric_field
from tickvault_writer.prepare import prepare

M = 1_723_161_240_000_000  # a minute boundary (2024-08-08T23:54:00Z)


def tick(trade_id: int, price: str, qty: str, t: int, symbol: str = "BTCUSDT") -> Tick:
    return Tick(symbol, trade_id, price, qty, t, t, False, t, Source.WS)


def test_candles_order_by_time_then_id_whatever_the_arrival_order() -> None:
    ticks = [
        tick(12, "10.50", "2.0", M + 5),  # same time as 11: 11 opens
        tick(11, "10.00", "1.5", M + 5),
        tick(13, "9.00", "0.25", M + 30_000_000),
        tick(14, "11.00", "1", M + 40_000_000),
        tick(15, "9.0", "3.00", M + 50_000_000),  # the low again, later: low_time stays 13's
        tick(16, "10.5", "1", M + 60_000_000),  # the next minute
    ]
    levels, candles = aggregate(ticks)
    assert candles[0] == Candle(
        "BTCUSDT",
        M,
        "10.00",
        "11.00",
        "9.00",
        "9.0",
        "7.75",
        5,
        # Σ p·q = 21.000 + 15.000 + 2.2500 + 11.00 + 27.000, scale of the widest product
        "76.2500",
        "49.50",
        "493.2500",  # Σp and Σp² at PostgreSQL's scales
        M + 5,
        11,
        M + 50_000_000,
        15,
        M + 40_000_000,
        M + 30_000_000,
    )
    assert candles[1].open == candles[1].close == "10.5"
    assert candles[1].trades == 1
    assert levels == [
        Level("BTCUSDT", M, "9.00", 2, "3.25"),  # "9.00" and "9.0" are one level
        Level("BTCUSDT", M, "10.00", 1, "1.5"),
        Level("BTCUSDT", M, "10.50", 1, "2.0"),
        Level("BTCUSDT", M, "11.00", 1, "1"),
        Level("BTCUSDT", M + 60_000_000, "10.5", 1, "1"),
    ]


def test_sums_stay_exact_beyond_float_and_default_decimal_precision() -> None:
    big = "12345678901234567890.123456789012345678901234567890"
    levels, candles = aggregate([tick(1, big, big, M), tick(2, big, big, M + 1)])
    assert levels[0].volume == "24691357802469135780.246913578024691357802469135780"
    assert candles[0].price_sum == levels[0].volume
    scaled = int(big.replace(".", ""))  # an independent check in integers: 2·big², 60 decimals
    exact = str(2 * scaled * scaled)
    assert candles[0].quote_volume == exact[:-60] + "." + exact[-60:]
    assert candles[0].price_sq_sum == candles[0].quote_volume


def test_numeric_fields_are_base_10000_groups_with_weight_and_display_scale() -> None:
    def fields(text: str) -> tuple[int, ...]:
        raw = numeric_field(text)
        (length,) = struct.unpack(">i", raw[:4])
        assert length == len(raw) - 4
        return struct.unpack(f">hhhh{(length - 8) // 2}H", raw[4:])

    assert fields("61837.63000000") == (3, 1, 0, 8, 6, 1837, 6300)
    assert fields("0.00081000") == (2, -1, 0, 8, 8, 1000)
    assert fields("0.00000001") == (1, -2, 0, 8, 1)
    assert fields("10000") == (1, 1, 0, 0, 1)
    assert fields("000123.4500") == (2, 0, 0, 4, 123, 4500)
    assert fields("0") == (0, 0, 0, 0)
    assert fields("0.000") == (0, 0, 0, 3)


def test_copy_stream_frames_each_row_and_converts_times_to_postgresql_epoch() -> None:
    data = copy_binary([tick(7, "1.5", "2", M)])
    assert data.startswith(HEADER) and data.endswith(TRAILER)
    row = data[len(HEADER) : -len(TRAILER)]
    assert row[:13] == struct.pack(">hi", 8, 7) + b"BTCUSDT"
    assert row.endswith(struct.pack(">iq", 8, M - PG_EPOCH_US))
    assert struct.pack(">iq", 8, 7) in row


def test_prepare_gives_postgresql_array_literals_with_quoted_symbols() -> None:
    prepared = prepare([tick(1, "2.5", "1", M, "NULL")])
    assert prepared.params[0] == '{"NULL"}'
    assert prepared.params[2] == "{2.5}"
    assert (prepared.candles, prepared.levels) == (1, 1)
