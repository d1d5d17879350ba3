"""The stream codec: every tick and gap record survives the stream unchanged, bad entries fail
with CodecError and nothing else."""

from __future__ import annotations

import importlib
from typing import Any

import msgspec
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from tests.support.paths import BTC_TRADES
from tests.support.recordings import FIRST_BTC_TICK as REAL_TICK
from tests.support.recordings import read_trades

from tickvault.codec import (
    LATEST_JSON_FIELDS,
    MAX_ID,
    MAX_TIME,
    GapFinder,
    GapReason,
    GapRecord,
    GapStatus,
    LatestPrice,
    from_fields,
    latest_from_hash,
    latest_from_message,
    latest_json,
    latest_message,
    latest_to_hash,
    to_fields,
)
from tickvault.errors import CodecError
from tickvault.tick import MAX_TIME_US, MAX_TRADE_ID, MIN_TIME_US, Source, Tick, iso_ms

symbols = st.from_regex(r"[A-Z0-9_\-]{1,40}", fullmatch=True)
decimals = st.from_regex(r"[0-9]{1,30}(\.[0-9]{1,30})?", fullmatch=True)
ids = st.integers(min_value=0, max_value=MAX_ID)
times = st.integers(min_value=0, max_value=MAX_TIME)
tick_times = st.integers(min_value=MIN_TIME_US, max_value=MAX_TIME_US)  # what a Tick accepts
finders = st.sampled_from(GapFinder)

ticks = st.builds(
    Tick,
    symbol=symbols,
    trade_id=st.integers(min_value=0, max_value=MAX_TRADE_ID),
    price=decimals,
    quantity=decimals,
    trade_time=tick_times,
    event_time=tick_times,
    is_buyer_maker=st.booleans(),
    received_at=st.integers(min_value=0, max_value=MAX_TIME_US),
    source=st.sampled_from(Source),
)


@st.composite
def gaps(draw: st.DrawFn) -> GapRecord:
    first = draw(ids)
    return GapRecord(
        symbol=draw(symbols),
        first_id=first,
        last_id=draw(st.integers(min_value=first, max_value=MAX_ID)),
        status=draw(st.sampled_from(GapStatus)),
        detected_at=draw(times),
        filled_at=draw(st.none() | times),
        found_by=draw(finders),
    )


REAL_GAP = GapRecord("ETHUSDT", 1520540000, 1520540004, GapStatus.DETECTED, 1723161300000123)


def as_str_map(fields: dict[bytes, bytes]) -> dict[str, str]:
    """Return *fields* as redis-py gives them with ``decode_responses=True``."""
    return {k.decode(): v.decode() for k, v in fields.items()}


def test_real_tick_encodes_to_the_documented_layout() -> None:
    assert to_fields(REAL_TICK) == {
        b"t2": b"BTCUSDT|3735683259|61837.63000000|0.02000000"
        b"|1723161255342000|1723161255343000|1723161254087896|1|ws"
    }


def test_gap_record_encodes_to_the_documented_layout() -> None:
    assert to_fields(REAL_GAP) == {
        b"g2": b"ETHUSDT|1520540000|1520540004|detected|1723161300000123||collector|ws_gap"
    }


@pytest.mark.parametrize(
    ("tail", "finder", "reason"),
    [
        (b"collector", GapFinder.COLLECTOR, GapReason.WS_GAP),
        (b"auditor", GapFinder.AUDITOR, GapReason.AUDIT),
        (b"collector|stream_lost", GapFinder.COLLECTOR, GapReason.STREAM_LOST),
        (b"collector|buffer_overflow", GapFinder.COLLECTOR, GapReason.BUFFER_OVERFLOW),
    ],
)
def test_gap_reason_decodes_and_records_without_one_read_as_before(
    tail: bytes, finder: GapFinder, reason: GapReason
) -> None:
    record = from_fields({b"g2": b"ETHUSDT|1|5|detected|1723161300000123||" + tail})
    assert isinstance(record, GapRecord)
    assert (record.found_by, record.reason) == (finder, reason)
    assert from_fields(to_fields(record)) == record


@pytest.mark.parametrize("tail", [b"collector|nonsense", b"collector|", b"collector|WS_GAP"])
def test_gap_record_with_an_unknown_reason_is_refused(tail: bytes) -> None:
    with pytest.raises(CodecError):
        from_fields({b"g2": b"ETHUSDT|1|5|detected|1723161300000123||" + tail})


def test_the_migration_allows_exactly_the_gap_reasons() -> None:
    migration = importlib.import_module("tickvault.db.migrations.versions.0005_archive_import")
    assert set(migration.AFTER) == {r.value for r in GapReason}


@given(ticks)
@example(REAL_TICK)
def test_every_tick_round_trips_through_bytes_and_str_fields(tick: Tick) -> None:
    fields = to_fields(tick)
    assert all(type(k) is bytes and type(v) is bytes for k, v in fields.items())
    assert from_fields(fields) == tick
    assert from_fields(as_str_map(fields)) == tick
    decoded = from_fields(fields)
    assert isinstance(decoded, Tick)
    # Exact strings and µs integers, not merely equal values.
    assert (decoded.price, decoded.quantity) == (tick.price, tick.quantity)
    assert (decoded.trade_time, decoded.event_time, decoded.received_at) == (
        tick.trade_time,
        tick.event_time,
        tick.received_at,
    )


@given(gaps())
@example(REAL_GAP)
def test_every_gap_record_round_trips_through_bytes_and_str_fields(gap: GapRecord) -> None:
    assert from_fields(to_fields(gap)) == gap
    assert from_fields(as_str_map(to_fields(gap))) == gap


@given(ticks, st.booleans(), st.booleans())
def test_mixed_bytes_and_str_fields_decode_the_same(
    tick: Tick, str_key: bool, str_value: bool
) -> None:
    ((key, value),) = to_fields(tick).items()
    mixed: dict[Any, Any] = {
        key.decode() if str_key else key: value.decode() if str_value else value
    }
    assert from_fields(mixed) == tick


TRADE_PARTS = [
    "symbol", "trade_id", "price", "quantity", "trade_time", "event_time", "received_at",
    "buyer_maker", "source",
]  # fmt: skip
GAP_PARTS = ["symbol", "first_id", "last_id", "status", "detected_at", "filled_at", "found_by"]


def with_part(entry: Tick | GapRecord, part: str, value: str | None) -> dict[str, str]:
    """Return *entry*'s fields with one attribute replaced (or removed when *value* is None)."""
    ((key, raw),) = as_str_map(to_fields(entry)).items()
    names = TRADE_PARTS if isinstance(entry, Tick) else GAP_PARTS
    parts = raw.split("|")
    index = names.index(part)
    if value is None:
        del parts[index]
    else:
        parts[index] = value
    return {key: "|".join(parts)}


TRADE_CORRUPTIONS = [
    ("price", "6.18e4"),
    ("price", "-61837.63"),
    ("price", "61,837.63"),
    ("price", "NaN"),
    ("price", "Infinity"),
    ("price", " 61837.63"),
    ("price", ""),
    ("price", "1."),
    ("price", ".5"),
    ("price", "1|2"),  # a separator inside a value shifts every attribute
    ("quantity", "0.02 "),
    ("buyer_maker", "2"),
    ("buyer_maker", "true"),
    ("buyer_maker", ""),
    ("trade_id", "-1"),
    ("trade_id", "1_000"),
    ("trade_id", " 42"),
    ("trade_id", "+42"),
    ("trade_id", "12.0"),
    ("trade_id", "٤٢"),  # Arabic-Indic digits: int() takes them, PostgreSQL would not
    ("trade_id", str(2**63)),  # does not fit PostgreSQL's bigint
    ("trade_time", "1723161255342000.5"),
    ("trade_time", str(MAX_TIME + 1)),  # past the codec's bound (year 5138)
    ("event_time", "abc"),
    ("received_at", ""),
    ("source", "rest"),
    ("symbol", ""),
    ("symbol", "btcusdt"),
    ("symbol", "BTC USDT"),
    ("symbol", "BTC\x00USDT"),
]


GAP_CORRUPTIONS = [
    ("first_id", "1520540005"),  # first after last
    ("last_id", "1520539999"),
    ("first_id", "-1"),
    ("status", "lost"),
    ("detected_at", "soon"),
    ("filled_at", "x"),
    ("found_by", ""),
    ("found_by", "collector\n"),
    ("found_by", "someone else"),
    ("symbol", "eth"),
]


# Each real entry broken one way: one attribute missing (None) or holding a value refused.
BROKEN = [
    *((REAL_TICK, part, None) for part in TRADE_PARTS),
    *((REAL_GAP, part, None) for part in GAP_PARTS),
    *((REAL_TICK, part, value) for part, value in TRADE_CORRUPTIONS),
    *((REAL_GAP, part, value) for part, value in GAP_CORRUPTIONS),
]


@pytest.mark.parametrize(
    ("entry", "part", "value"),
    BROKEN,
    ids=[f"{type(e).__name__}-{p}-{'missing' if v is None else repr(v)}" for e, p, v in BROKEN],
)
def test_an_entry_missing_or_malformed_in_any_attribute_is_a_codec_error(
    entry: Tick | GapRecord, part: str, value: str | None
) -> None:
    with pytest.raises(CodecError):
        from_fields(with_part(entry, part, value))


TRADE_VALUE = to_fields(REAL_TICK)[b"t2"]


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {b"t1": TRADE_VALUE},  # a layout this code does not know
        {b"t3": TRADE_VALUE},
        {b"x2": TRADE_VALUE},
        {b"t2": TRADE_VALUE, b"g2": b""},  # two entries in one
        {"t2": 5},  # not bytes or str at all
        {b"t2": None},
        {b"\xff": b"\xff"},
        {b"t2": b"\xff" * 20},
        {b"t2": TRADE_VALUE.replace(b"BTCUSDT", b"BTC\xffUSDT")},
        {b"g2": TRADE_VALUE},
    ],
)
def test_garbage_entries_are_codec_errors(fields: dict[Any, Any]) -> None:
    with pytest.raises(CodecError):
        from_fields(fields)


scalars = st.binary(max_size=120) | st.text(max_size=120)
keys = st.sampled_from([b"t2", b"g2", "t2", "g2"]) | scalars
valid_values = st.sampled_from([TRADE_VALUE, to_fields(REAL_GAP)[b"g2"]])


@given(
    st.sampled_from([REAL_TICK, REAL_GAP]) | ticks | gaps(),
    st.integers(min_value=0, max_value=140),
    st.binary(max_size=12) | st.text(max_size=12),
)
def test_any_spliced_entry_decodes_or_raises_codec_error_only(
    base: Tick | GapRecord, at: int, splice: bytes | str
) -> None:
    ((key, value),) = to_fields(base).items()
    insert = splice.encode("utf-8", "surrogatepass") if isinstance(splice, str) else splice
    spliced = value[:at] + insert + value[at + len(insert) :]
    try:
        decoded = from_fields({key: spliced})
    except CodecError:
        return
    # Whatever decodes is a valid value that the codec encodes and decodes identically.
    assert from_fields(to_fields(decoded)) == decoded


@given(st.dictionaries(keys, valid_values | scalars, max_size=3))
def test_arbitrary_maps_never_raise_anything_but_codec_error(fields: dict[Any, Any]) -> None:
    try:
        decoded = from_fields(fields)
    except CodecError:
        return
    assert from_fields(to_fields(decoded)) == decoded


# ------------------------------------------------------------------ latest-price cache


def expected_latest(tick: Tick) -> LatestPrice:
    return LatestPrice(
        symbol=tick.symbol,
        trade_id=tick.trade_id,
        price=tick.price,
        quantity=tick.quantity,
        trade_time=tick.trade_time,
        event_time=tick.event_time,
        is_buyer_maker=tick.is_buyer_maker,
    )


@given(ticks)
@example(REAL_TICK)
def test_latest_hash_round_trips_with_str_and_bytes_fields(tick: Tick) -> None:
    fields = latest_to_hash(tick)
    assert latest_from_hash(tick.symbol, fields) == expected_latest(tick)
    as_bytes = {k.encode(): v.encode() for k, v in fields.items()}
    assert latest_from_hash(tick.symbol, as_bytes) == expected_latest(tick)


def test_latest_hash_holds_exact_strings() -> None:
    assert latest_to_hash(REAL_TICK) == {
        "trade_id": "3735683259",
        "price": "61837.63000000",
        "quantity": "0.02000000",
        "trade_time": "1723161255342000",
        "event_time": "1723161255343000",
        "is_buyer_maker": "1",
    }


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {b"price": b"1.0"},
        {**latest_to_hash(REAL_TICK), "trade_id": "x"},
        {**latest_to_hash(REAL_TICK), "price": "1e3"},
        {**latest_to_hash(REAL_TICK), "price": "\u00e9"},
        {b"trade_id": 5},
    ],
)
def test_unreadable_latest_hash_is_none(fields: dict[Any, Any]) -> None:
    assert latest_from_hash("BTCUSDT", fields) is None


def test_latest_message_carries_every_field_exactly() -> None:
    assert msgspec.json.decode(latest_message(REAL_TICK)) == {
        "symbol": "BTCUSDT",
        "trade_id": 3735683259,
        "price": "61837.63000000",
        "quantity": "0.02000000",
        "trade_time_us": REAL_TICK.trade_time,
        "event_time_us": REAL_TICK.event_time,
        "is_buyer_maker": REAL_TICK.is_buyer_maker,
    }


@given(ticks)
@example(REAL_TICK)
def test_latest_message_round_trips(tick: Tick) -> None:
    assert latest_from_message(latest_message(tick)) == expected_latest(tick)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[]",
        b'{"symbol":"BTCUSDT","price":"1.00000000","trade_id":1}',
        latest_message(REAL_TICK).replace(b'"BTCUSDT"', b'"btcusdt"'),
        latest_message(REAL_TICK).replace(b'"BTCUSDT"', b'"BTCUSDT\\n"'),
        latest_message(REAL_TICK).replace(b'"61837.63000000"', b'"6.1e4"'),
        latest_message(REAL_TICK).replace(b"3735683259", b"-1"),
        latest_message(REAL_TICK).replace(b"3735683259", b"true"),
        latest_message(REAL_TICK).replace(b"3735683259", b"1" * 30),
        latest_message(REAL_TICK).replace(b'"is_buyer_maker":true', b'"is_buyer_maker":1'),
    ],
)
def test_unreadable_latest_message_is_none(raw: bytes) -> None:
    assert latest_from_message(raw) is None


def test_latest_json_is_the_api_body_aged_at_now() -> None:
    price = expected_latest(REAL_TICK)
    body = latest_json(price, REAL_TICK.trade_time + 1_234_567)
    assert body == {
        "symbol": "BTCUSDT",
        "price": "61837.63000000",
        "quantity": "0.02000000",
        "trade_id": 3735683259,
        "trade_time": iso_ms(REAL_TICK.trade_time),
        "trade_time_ms": REAL_TICK.trade_time // 1000,
        "age_ms": 1234,
    }
    assert tuple(body) == LATEST_JSON_FIELDS
    assert latest_json(price, REAL_TICK.trade_time - 5_000)["age_ms"] == 0  # clock skew


def test_the_real_tick_is_the_first_trade_of_the_btc_recording() -> None:
    first = read_trades(BTC_TRADES)[0]
    assert first.tick() == REAL_TICK
