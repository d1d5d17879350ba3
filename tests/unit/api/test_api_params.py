"""Parsing of times, windows, cursors and choices into values or the errors of docs/API.md."""

from __future__ import annotations

import base64
import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickvault.codec import MAX_TIME
from tickvault.tick import MAX_TIME_US, MAX_TRADE_ID, MIN_TIME_US
from tickvault_api.errors import (
    InvalidParameter,
    InvalidRange,
    InvalidTime,
    RangeTooLarge,
    UnknownSymbol,
)
from tickvault_api.params import (
    HOUR_US,
    MINUTE_US,
    Window,
    decode_cursor,
    encode_cursor,
    parse_limit,
    parse_minute,
    parse_symbol,
    parse_time,
    parse_window,
)

T0 = 1_723_161_600_000_000  # 2024-08-09T00:00:00Z in µs


@pytest.mark.parametrize(
    "raw",
    [
        "2024-08-09T00:00:00Z",
        "2024-08-09T00:00:00",
        "2024-08-09T02:00:00+02:00",
        "2024-08-08T19:00:00-05:00",
        "1723161600000",
        "2024-08-09 00:00:00.000Z",
    ],
)
def test_every_time_form_means_the_same_instant(raw: str) -> None:
    assert parse_time(raw, "time") == T0


def test_milliseconds_and_microseconds_are_kept() -> None:
    assert parse_time("2024-08-09T00:00:00.123Z", "t") == T0 + 123_000
    assert parse_time("2024-08-09T00:00:00.123456Z", "t") == T0 + 123_456
    assert parse_time("1723161600123", "t") == T0 + 123_000


@pytest.mark.parametrize(
    "raw",
    [
        "١٧٢٣١٦١٦٠٠٠٠٠",
        "yesterday",
        "2024-13-01T00:00:00Z",
        "99999999999999999",
        " 1723161600000 ",
        "2024-02-30T00:00:00Z",
        "2023-02-29",
        "2024-08-09T24:00:00Z",
        "2024-08-09T00:00:60Z",
        "T00:00",
        "2024-08-09T00:00:00ZZ",
        "2024-08-09T00:00:00Z\x00",  # CPython's fromisoformat stops at the NUL
        "2024-08-09T00:00:00\x00junk",
        "2024-08-09T00:00:00\u200b",
        "2024-08-09T00:00.5",  # CPython reads half a second; ISO 8601 would mean 30 s
        "2024-08-09T00.5",
    ],
)
def test_bad_times_are_invalid_time(raw: str) -> None:
    with pytest.raises(InvalidTime):
        parse_time(raw, "time")


@given(st.text(max_size=60))
def test_no_text_crashes_the_parsers(raw: str) -> None:
    with contextlib.suppress(InvalidParameter):
        parse_limit(raw, 10, 100)
    with contextlib.suppress(InvalidTime):
        parse_minute(raw)
    with contextlib.suppress(InvalidTime, InvalidParameter):
        parse_time(raw, "time")


def test_missing_time_is_invalid_parameter() -> None:
    with pytest.raises(InvalidParameter, match="'start' is required"):
        parse_time(None, "start")


def test_windows_are_checked() -> None:
    assert parse_window("1723161600000", "1723161660000", HOUR_US) == Window(T0, T0 + MINUTE_US)
    with pytest.raises(InvalidRange):
        parse_window("1723161660000", "1723161600000", HOUR_US)
    with pytest.raises(InvalidRange):
        parse_window("1723161600000", "1723161600000", HOUR_US)
    with pytest.raises(RangeTooLarge):
        parse_window("2024-08-09T00:00Z", "2024-08-09T01:00:00.001Z", HOUR_US)


def test_minutes_are_parsed_exactly() -> None:
    assert parse_minute("2024-08-09T00:00") == Window(T0, T0 + MINUTE_US)
    for bad in ("2024-08-09T24:00", "2024-08-09T00:00:00", "2024-02-30T00:00", "x"):
        with pytest.raises(InvalidTime):
            parse_minute(bad)


def test_symbols_are_case_insensitive_and_unknown_ones_list_the_tracked() -> None:
    assert parse_symbol("btcUSDT", ("BTCUSDT", "ETHUSDT")) == "BTCUSDT"
    with pytest.raises(UnknownSymbol, match="tracked symbols: BTCUSDT, ETHUSDT"):
        parse_symbol("DOGEUSDT", ("BTCUSDT", "ETHUSDT"))


def test_an_unknown_symbol_among_thousands_names_a_few_and_where_to_look() -> None:
    tracked = tuple(f"S{i:04d}USDT" for i in range(2000))
    with pytest.raises(UnknownSymbol) as caught:
        parse_symbol("x" * 5000, tracked)
    message = caught.value.message
    assert len(message) < 600, message
    assert "2000 are tracked (S0000USDT, " in message and "GET /api/v1/symbols" in message
    assert "S0020USDT" not in message and "x" * 41 not in message


@given(st.integers(0, MAX_TIME), st.integers(0, MAX_TRADE_ID))
def test_cursors_round_trip(t: int, i: int) -> None:
    assert decode_cursor(encode_cursor(t, i)) == (t, i)


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "zzz",
        "!!!!",
        "LTE6MQ",
        "YWJj",
        "é",
        b64("9999999999999999999:1"),  # a time no datetime holds: was a 500
        b64(f"{MAX_TIME + 1}:1"),
        b64(f"1:{MAX_TRADE_ID + 1}"),
        b64("1:1\n"),
        b64("١:1"),
        "\x00",
    ],
)
def test_foreign_cursors_are_invalid_parameter(raw: str) -> None:
    with pytest.raises(InvalidParameter):
        decode_cursor(raw)


def test_times_outside_the_span_are_taken_as_its_nearest_edge() -> None:
    for early in ("1", "-5", "0", "1970-01-01T00:00:00Z", "0001-01-01T00:00-23:59"):
        assert parse_time(early, "t") == MIN_TIME_US
    for late in ("9999999999999999", "9999-12-31T23:59:59.999999+23:59", "2100-01-01T00:00:01Z"):
        assert parse_time(late, "t") == MAX_TIME_US
    assert parse_time("2024-02-29", "t") == parse_time("2024-03-01", "t") - 86_400_000_000


def test_limits() -> None:
    assert parse_limit(None, 100, 500) == 100
    assert parse_limit("500", 100, 500) == 500
    assert parse_limit("0500", 100, 500) == 500
    assert parse_limit("501", 100, 500) == parse_limit("999999999", 100, 500) == 500
    # "9" * 5000 is past Python's int() digit limit: a ValueError, once a 500
    for bad in ("0", "-1", "1.5", "ten", "²", "١٢", "1" * 40, "9" * 5000, "5\x00"):
        with pytest.raises(InvalidParameter):
            parse_limit(bad, 100, 500)
