"""Tick helpers: exact µs conversions, the API's millisecond format, and the immutable Tick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tickvault.errors import InvalidTick
from tickvault.tick import (
    MAX_TIME_US,
    MIN_TIME_US,
    Source,
    Tick,
    datetime_to_us,
    is_decimal_string,
    is_plausible_time_us,
    is_symbol,
    iso_ms,
    us_to_datetime,
)

# 2024-08-08T23:54:15.342Z, the first trade of the BTCUSDT recording, plus 7 µs.
T_US = 1_723_161_255_342_007


def test_us_to_datetime_keeps_microseconds() -> None:
    assert us_to_datetime(T_US) == datetime(2024, 8, 8, 23, 54, 15, 342_007, tzinfo=UTC)
    assert us_to_datetime(0) == datetime(1970, 1, 1, tzinfo=UTC)


def test_datetime_to_us_is_exact() -> None:
    assert datetime_to_us(datetime(2024, 8, 8, 23, 54, 15, 342_007, tzinfo=UTC)) == T_US


def test_datetime_to_us_honours_the_offset() -> None:
    cest = timezone(timedelta(hours=2))
    assert datetime_to_us(datetime(2024, 8, 9, 1, 54, 15, 342_007, tzinfo=cest)) == T_US


@given(st.integers(min_value=0, max_value=253_402_300_799_999_999))
@example(T_US)
@example(MIN_TIME_US)
@example(MAX_TIME_US)
def test_us_and_datetime_round_trip_exactly(us: int) -> None:
    assert datetime_to_us(us_to_datetime(us)) == us


@given(st.datetimes(timezones=st.just(UTC)))
def test_datetime_and_us_round_trip_exactly(dt: datetime) -> None:
    if dt < datetime(1970, 1, 1, tzinfo=UTC):
        return
    assert us_to_datetime(datetime_to_us(dt)) == dt


@pytest.mark.parametrize(
    ("us", "text"),
    [
        (T_US, "2024-08-08T23:54:15.342Z"),
        (1_723_161_599_999_999, "2024-08-08T23:59:59.999Z"),  # truncated, never rounded up
        (1_723_161_600_000_000, "2024-08-09T00:00:00.000Z"),
        (0, "1970-01-01T00:00:00.000Z"),
        (5_000, "1970-01-01T00:00:00.005Z"),
    ],
)
def test_iso_ms_formats_utc_milliseconds_with_z(us: int, text: str) -> None:
    assert iso_ms(us) == text


@given(st.integers(min_value=0, max_value=253_402_300_799_999_999))
def test_iso_ms_parses_back_to_the_millisecond(us: int) -> None:
    parsed = datetime.strptime(iso_ms(us), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert datetime_to_us(parsed) == us - us % 1000


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("61837.63000000", True),
        ("0.00200000", True),
        ("2683", True),
        ("0", True),
        ("-1.0", False),
        ("1e5", False),
        ("1.", False),
        (".5", False),
        ("", False),
        ("1.0 ", False),
        ("NaN", False),
        ("١٢", False),  # non-ASCII digits are not what Binance sends
    ],
)
def test_is_decimal_string(text: str, ok: bool) -> None:
    assert is_decimal_string(text) is ok


@pytest.mark.parametrize(
    ("text", "ok"),
    [("BTCUSDT", True), ("1000SATSUSDT", True), ("btcusdt", False), ("BTC USDT", False)],
)
def test_is_symbol(text: str, ok: bool) -> None:
    assert is_symbol(text) is ok


def test_plausible_times_span_2009_to_2100() -> None:
    assert is_plausible_time_us(T_US)
    assert not is_plausible_time_us(T_US // 1000)  # milliseconds mistaken for µs
    assert not is_plausible_time_us(T_US * 1000)  # nanoseconds mistaken for µs
    assert us_to_datetime(MIN_TIME_US) == datetime(2009, 1, 1, tzinfo=UTC)
    assert us_to_datetime(MAX_TIME_US) == datetime(2100, 1, 1, tzinfo=UTC)


def test_tick_is_immutable_and_slotted() -> None:
    tick = Tick("BTCUSDT", 1, "1.0", "2.0", T_US, T_US, True, T_US)
    assert tick.source is Source.WS
    assert tick.trade_datetime == datetime(2024, 8, 8, 23, 54, 15, 342_007, tzinfo=UTC)
    with pytest.raises(AttributeError):
        tick.price = "2.0"  # type: ignore[misc]
    assert not hasattr(tick, "__dict__")
    assert msgspec.structs.replace(tick, source=Source.AUDIT).source == "audit"


def test_sources_have_the_documented_names() -> None:
    assert [s.value for s in Source] == ["ws", "backfill", "audit", "archive"]


GOOD = {
    "symbol": "BTCUSDT",
    "trade_id": 3735683259,
    "price": "61837.63000000",
    "quantity": "0.02000000",
    "trade_time": T_US,
    "event_time": T_US,
    "is_buyer_maker": False,
    "received_at": T_US,
}


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("symbol", "btcusdt", "symbol 'btcusdt' is not a Binance symbol name tickvault can store"),
        ("symbol", "BTC|USDT", "symbol"),
        ("symbol", b"BTCUSDT", "symbol"),
        ("trade_id", -1, "trade id -1 is out of range"),
        ("trade_id", 2**63, "out of range"),
        ("trade_id", "7", "trade id '7' is out of range"),
        ("price", "6.18e4", "price '6.18e4' is not a plain decimal string"),
        ("price", "-1.0", "price"),
        ("quantity", "", "quantity '' is not a plain decimal string"),
        ("quantity", 2.5, "quantity"),
        ("trade_time", T_US // 1000, "trade_time 1723161255342 is not a plausible"),
        ("event_time", T_US * 1000, "event_time"),
        ("received_at", -1, "received_at -1 is not an epoch-microsecond time before 2100"),
        ("received_at", MAX_TIME_US + 1, "received_at"),
    ],
)
def test_the_constructor_refuses_a_trade_that_breaks_an_invariant(
    field: str, value: object, reason: str
) -> None:
    with pytest.raises(InvalidTick) as caught:
        Tick(**{**GOOD, field: value})  # type: ignore[arg-type]
    assert reason in str(caught.value)
    assert isinstance(caught.value, ValueError)  # msgspec reports it as a validation error


def test_a_copy_is_validated_too() -> None:
    tick = Tick(**GOOD)  # type: ignore[arg-type]
    with pytest.raises(InvalidTick):
        msgspec.structs.replace(tick, price="1e3")
    assert msgspec.structs.replace(tick, price="1.5").price == "1.5"


def test_the_bounds_themselves_are_valid() -> None:
    low = Tick(**{**GOOD, "trade_id": 0, "trade_time": MIN_TIME_US})  # type: ignore[arg-type]
    high = Tick(**{**GOOD, "trade_id": 2**63 - 1, "received_at": MAX_TIME_US})  # type: ignore[arg-type]
    assert (low.trade_id, high.trade_id) == (0, 2**63 - 1)
