"""The stream codec: every tick and gap record survives the stream unchanged, bad entries fail
with CodecError and nothing else."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tickvault.codec import (
    MAX_ID,
    MAX_TIME,
    GapRecord,
    GapStatus,
    LatestPrice,
    from_fields,
    latest_from_hash,
    latest_message,
    latest_to_hash,
    to_fields,
)
from tickvault.errors import CodecError
from tickvault.tick import Source, Tick

symbols = st.from_regex(r"[A-Z0-9_\-]{1,40}", fullmatch=True)
decimals = st.from_regex(r"[0-9]{1,30}(\.[0-9]{1,30})?", fullmatch=True)
ids = st.integers(min_value=0, max_value=MAX_ID)
times = st.integers(min_value=0, max_value=MAX_TIME)
finders = st.text(min_size=1, max_size=64).filter(str.isprintable)

ticks = st.builds(
    Tick,
    symbol=symbols,
    trade_id=ids,
    price=decimals,
    quantity=decimals,
    trade_time=times,
    event_time=times,
    is_buyer_maker=st.booleans(),
    received_at=times,
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


# The first BTCUSDT trade of the real recording, as the collector would normalize it.
REAL_TICK = Tick(
    symbol="BTCUSDT",
    trade_id=3735683259,
    price="61837.63000000",
    quantity="0.02000000",
    trade_time=1723161255342000,
    event_time=1723161255342000,
    is_buyer_maker=False,
    received_at=1723161254071927,
)
REAL_GAP = GapRecord("ETHUSDT", 1520540000, 1520540004, GapStatus.DETECTED, 1723161300000123)


def as_str_map(fields: dict[bytes, bytes]) -> dict[str, str]:
    """Return *fields* as redis-py gives them with ``decode_responses=True``."""
    return {k.decode(): v.decode() for k, v in fields.items()}


def test_real_tick_encodes_to_the_documented_layout() -> None:
    assert to_fields(REAL_TICK) == {
        b"v": b"1",
        b"k": b"t",
        b"s": b"BTCUSDT",
        b"i": b"3735683259",
        b"p": b"61837.63000000",
        b"q": b"0.02000000",
        b"T": b"1723161255342000",
        b"E": b"1723161255342000",
        b"r": b"1723161254071927",
        b"m": b"0",
        b"o": b"ws",
    }


def test_gap_record_encodes_to_the_documented_layout() -> None:
    assert to_fields(REAL_GAP) == {
        b"v": b"1",
        b"k": b"g",
        b"s": b"ETHUSDT",
        b"a": b"1520540000",
        b"b": b"1520540004",
        b"st": b"detected",
        b"d": b"1723161300000123",
        b"f": b"",
        b"o": b"collector",
    }


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


@given(ticks, st.data())
def test_mixed_bytes_and_str_fields_decode_the_same(tick: Tick, data: st.DataObject) -> None:
    mixed: dict[Any, Any] = {}
    for key, value in to_fields(tick).items():
        k_str, v_str = data.draw(st.booleans()), data.draw(st.booleans())
        mixed[key.decode() if k_str else key] = value.decode() if v_str else value
    assert from_fields(mixed) == tick


TRADE_FIELDS = [k.decode() for k in to_fields(REAL_TICK)]
GAP_FIELDS = [k.decode() for k in to_fields(REAL_GAP)]


@pytest.mark.parametrize("field", TRADE_FIELDS)
def test_trade_missing_any_field_is_a_codec_error(field: str) -> None:
    fields = as_str_map(to_fields(REAL_TICK))
    del fields[field]
    with pytest.raises(CodecError):
        from_fields(fields)


@pytest.mark.parametrize("field", GAP_FIELDS)
def test_gap_missing_any_field_is_a_codec_error(field: str) -> None:
    fields = as_str_map(to_fields(REAL_GAP))
    del fields[field]
    with pytest.raises(CodecError):
        from_fields(fields)


TRADE_CORRUPTIONS = [
    ("v", "2"),  # a layout this code does not know
    ("v", ""),
    ("k", "x"),
    ("p", "6.18e4"),
    ("p", "-61837.63"),
    ("p", "61,837.63"),
    ("p", "NaN"),
    ("p", "Infinity"),
    ("p", " 61837.63"),
    ("p", ""),
    ("p", "1."),
    ("p", ".5"),
    ("q", "0.02 "),
    ("m", "2"),
    ("m", "true"),
    ("m", ""),
    ("i", "-1"),
    ("i", "1_000"),
    ("i", " 42"),
    ("i", "+42"),
    ("i", "12.0"),
    ("i", str(2**63)),  # does not fit PostgreSQL's bigint
    ("T", "1723161255342000.5"),
    ("T", str(MAX_TIME + 1)),  # past year 9999: no datetime can hold it
    ("E", "abc"),
    ("r", ""),
    ("o", "rest"),
    ("s", ""),
    ("s", "btcusdt"),
    ("s", "BTC USDT"),
    ("s", "BTC\x00USDT"),
]


@pytest.mark.parametrize(("field", "value"), TRADE_CORRUPTIONS)
def test_malformed_trade_is_a_codec_error(field: str, value: str) -> None:
    fields = as_str_map(to_fields(REAL_TICK))
    fields[field] = value
    with pytest.raises(CodecError):
        from_fields(fields)


GAP_CORRUPTIONS = [
    ("a", "1520540005"),  # first after last
    ("b", "1520539999"),
    ("a", "-1"),
    ("st", "lost"),
    ("d", "soon"),
    ("f", "x"),
    ("o", ""),
    ("o", "collector\n"),
    ("s", "eth"),
]


@pytest.mark.parametrize(("field", "value"), GAP_CORRUPTIONS)
def test_malformed_gap_is_a_codec_error(field: str, value: str) -> None:
    fields = as_str_map(to_fields(REAL_GAP))
    fields[field] = value
    with pytest.raises(CodecError):
        from_fields(fields)


UNDECODABLE = {k: b"\xff" for k in to_fields(REAL_TICK) if k not in {b"v", b"k"}}


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {b"v": b"1"},
        {"v": "1", "k": "t"},
        {b"v": 1, b"k": b"t"},  # not bytes or str at all
        {b"v": b"1", b"k": b"t", b"p": None},
        {b"\xff": b"\xff"},
        {b"v": b"1", b"k": b"t", **UNDECODABLE},
    ],
)
def test_garbage_entries_are_codec_errors(fields: dict[Any, Any]) -> None:
    with pytest.raises(CodecError):
        from_fields(fields)


def test_invalid_utf8_in_a_symbol_is_a_codec_error() -> None:
    fields = to_fields(REAL_TICK)
    fields[b"s"] = b"BTC\xffUSDT"
    with pytest.raises(CodecError):
        from_fields(fields)


KNOWN_KEYS = sorted({*TRADE_FIELDS, *GAP_FIELDS})
scalars = st.binary(max_size=24) | st.text(max_size=24)
keys = st.sampled_from(KNOWN_KEYS) | scalars
valid_values = st.sampled_from(
    [v for entry in (REAL_TICK, REAL_GAP) for v in to_fields(entry).values()]
)
values = valid_values | scalars | valid_values.map(bytes.decode)


def encode_key(key: str | bytes, as_bytes: bool) -> str | bytes:
    if isinstance(key, str) and as_bytes:
        return key.encode()
    return key


@given(
    st.sampled_from([REAL_TICK, REAL_GAP]) | ticks | gaps(),
    st.dictionaries(keys, values, max_size=6),
    st.sets(st.sampled_from(KNOWN_KEYS), max_size=3),
    st.booleans(),
)
def test_any_field_map_decodes_or_raises_codec_error_only(
    base: Tick | GapRecord,
    overrides: dict[Any, Any],
    removed: set[str],
    bytes_keys: bool,
) -> None:
    fields: dict[Any, Any] = dict(as_str_map(to_fields(base)))
    for key in removed:
        fields.pop(key, None)
    for key, value in overrides.items():
        fields[encode_key(key, bytes_keys)] = value
    try:
        decoded = from_fields(fields)
    except CodecError:
        return
    # Whatever decodes is a valid value that the codec encodes and decodes identically.
    assert from_fields(to_fields(decoded)) == decoded


@given(st.dictionaries(scalars, scalars, max_size=12))
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
        "event_time": "1723161255342000",
        "is_buyer_maker": "0",
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


def test_latest_message_is_json_with_api_field_names() -> None:
    assert orjson.loads(latest_message(REAL_TICK)) == {
        "symbol": "BTCUSDT",
        "price": "61837.63000000",
        "quantity": "0.02000000",
        "trade_id": 3735683259,
        "trade_time": "2024-08-08T23:54:15.342Z",
        "trade_time_ms": 1723161255342,
    }
