"""The Redis Stream layout: the only code that turns entries into fields and back.

Layout version 2 keeps each entry in ONE field, because a field costs the collector, Redis
and the writer per entry (measured: one packed field reads 2.7x and decodes 4x faster than
eleven named fields). The field's name says the kind and the layout version; its value holds
the attributes joined by ``|`` (no attribute can contain one):

- ``t2``, a trade (:class:`~tickvault.tick.Tick`):
  ``symbol|trade_id|price|quantity|trade_time|event_time|received_at|buyer_maker|source``
  with exact decimal strings, epoch-µs times and ``1``/``0`` for buyer-is-maker, e.g.
  ``BTCUSDT|3735683259|61837.63000000|0.00081000|1723161255343000|...|0|ws``.
- ``g2``, a gap record (:class:`GapRecord`):
  ``symbol|first_id|last_id|status|detected_at|filled_at|found_by|reason`` (``filled_at``
  empty until filled; ``reason`` is a :class:`GapReason`, and a record written before it
  existed, without the attribute, decodes as ``ws_gap`` from the collector or ``audit`` from
  the auditor).

The same module owns the latest-price cache hash (:func:`latest_to_hash`,
:func:`latest_from_hash`), the live-price pub/sub message (:func:`latest_message`,
:func:`latest_from_message`) and the one JSON body of a latest price (:func:`latest_json`, the
REST answer, every Server-Sent Event and the CLI's table columns), so the writer that fills
them and the API that reads them cannot disagree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

import msgspec

from tickvault.errors import CodecError, InvalidTick
from tickvault.symbols import MAX_NAME_CHARS, SYMBOL_PATTERN, is_name
from tickvault.tick import (
    DECIMAL_PATTERN,
    MAX_TIME_US,
    MAX_TRADE_ID,
    MIN_TIME_US,
    Source,
    Tick,
    is_decimal_string,
    iso_ms,
)

TRADE_FIELD = b"t2"
GAP_FIELD = b"g2"

# A gap record's bounds, enforced by its pattern (digit counts): ids below 10**18
# (PostgreSQL's bigint holds them), times below 10**17 µs (year 5138, which Python's
# datetime and PostgreSQL's timestamptz hold). A trade's bounds are the Tick's own.
MAX_ID = 10**18 - 1
MAX_TIME = 10**17 - 1

FieldMap = Mapping[bytes, bytes] | Mapping[str, str] | Mapping[bytes | str, bytes | str]

# A name's UTF-8 bytes (up to 4 a character); the decoded name is checked with is_name.
_SYM = rf"([A-Z0-9_.\-\x80-\xff]{{1,{4 * MAX_NAME_CHARS}}})".encode()
_ID = rb"([0-9]{1,18})"
_TIME = rb"([0-9]{1,17})"
_GAP = re.compile(
    rb"\|".join(
        (
            _SYM,
            _ID,
            _ID,
            rb"(detected|filled|unfillable)",
            _TIME,
            rb"([0-9]{0,17})",
            rb"(collector|auditor)",
        )
    )
    + rb"(?:\|([a-z_]{1,32}))?"
)


_SOURCES = {s.value.encode(): s for s in Source}
_MAKER = {b"1": True, b"0": False}
_TRADE_ERRORS = (InvalidTick, ValueError, KeyError, UnicodeDecodeError)


class GapStatus(StrEnum):
    """Lifecycle of a gap in trade ids."""

    DETECTED = "detected"
    FILLED = "filled"
    UNFILLABLE = "unfillable"


class GapFinder(StrEnum):
    """Who found a gap: the collector (a jump in trade ids) or the auditor (PostgreSQL)."""

    COLLECTOR = "collector"
    AUDITOR = "auditor"


class GapReason(StrEnum):
    """Why trades went missing: the ``reason`` column of ``trade_gaps`` and a metric label.

    Every way a trade can fail to arrive that tickvault detects has one (docs/OPERATIONS.md
    lists them with how each is repaired).
    """

    WS_GAP = "ws_gap"  # a jump in trade ids on a live connection
    RECONNECT = "reconnect"  # ids missed while disconnected or stopped (resume point on)
    TAIL = "tail"  # the ticker shows trades the connection never delivered
    BUFFER_OVERFLOW = "buffer_overflow"  # dropped: the collector's buffer was full
    STREAM_LOST = "stream_lost"  # published, then lost by Redis before a writer stored it
    CLAIM_DELETED = "claim_deleted"  # deleted from the stream while pending in the group
    AUDIT = "audit"  # a hole the auditor found in PostgreSQL
    ARCHIVE = "archive"  # a hole in Binance's public archive, found by ``tickvault import``


# The reason of a gap whose record names none, or a value this version does not know.
DEFAULT_REASON = {GapFinder.COLLECTOR: GapReason.WS_GAP, GapFinder.AUDITOR: GapReason.AUDIT}


@dataclass(frozen=True, slots=True)
class GapRecord:
    """A range of trade ids that went missing, and what became of it."""

    symbol: str
    first_id: int
    last_id: int
    status: GapStatus
    detected_at: int  # epoch µs
    filled_at: int | None = None  # epoch µs
    found_by: GapFinder = GapFinder.COLLECTOR
    reason: GapReason = GapReason.WS_GAP


def to_fields(entry: Tick | GapRecord) -> dict[bytes, bytes]:
    """Encode a tick or a gap record as Redis Stream fields."""
    if isinstance(entry, Tick):
        return {
            TRADE_FIELD: b"%s|%d|%s|%s|%d|%d|%d|%d|%s"
            % (
                entry.symbol.encode(),
                entry.trade_id,
                entry.price.encode(),
                entry.quantity.encode(),
                entry.trade_time,
                entry.event_time,
                entry.received_at,
                entry.is_buyer_maker,
                entry.source.value.encode(),
            )
        }
    filled = b"" if entry.filled_at is None else b"%d" % entry.filled_at
    return {
        GAP_FIELD: b"%s|%d|%d|%s|%d|%s|%s|%s"
        % (
            entry.symbol.encode(),
            entry.first_id,
            entry.last_id,
            entry.status.value.encode(),
            entry.detected_at,
            filled,
            entry.found_by.encode(),
            entry.reason.encode(),
        )
    }


def from_fields(fields: FieldMap) -> Tick | GapRecord:
    """Decode Redis Stream fields into a tick or a gap record; raise :class:`CodecError`."""
    if type(fields) is dict and len(fields) == 1:  # the hot path: a trade as redis-py gives it
        value = fields.get(TRADE_FIELD)
        if type(value) is bytes:
            return _decode_trade(value)
    if len(fields) != 1:
        raise CodecError(f"expected one field (t2 or g2), got {len(fields)}")
    ((key, value),) = fields.items()
    key, value = _as_bytes(key), _as_bytes(value)
    if key == TRADE_FIELD:
        return _decode_trade(value)
    if key == GAP_FIELD:
        return _decode_gap(value)
    raise CodecError(f"unknown entry kind or layout version {key[:16]!r}")


def _decode_trade(value: bytes) -> Tick:
    """Split a trade entry into its attributes; the :class:`Tick` constructor checks them."""
    parts = value.split(b"|")
    if len(parts) != 9:
        raise CodecError(f"malformed trade entry {value[:120]!r}: {len(parts)} attributes, not 9")
    symbol, trade_id, price, quantity, trade_time, event_time, received, maker, source = parts
    # int() would also take "+1", " 1" or "1_0": only plain ASCII digits are the layout's.
    if not (trade_id.isdigit() and trade_time.isdigit() and event_time.isdigit()):
        raise CodecError(f"malformed trade entry {value[:120]!r}: an id or time is not digits")
    if not received.isdigit():
        raise CodecError(f"malformed trade entry {value[:120]!r}: received_at is not digits")
    try:
        return Tick(
            symbol.decode(),
            int(trade_id),
            price.decode("ascii"),
            quantity.decode("ascii"),
            int(trade_time),
            int(event_time),
            _MAKER[maker],
            int(received),
            _SOURCES[source],
        )
    except _TRADE_ERRORS as exc:
        raise CodecError(f"malformed trade entry {value[:120]!r}: {exc}") from exc


def _decode_gap(value: bytes) -> GapRecord:
    match = _GAP.fullmatch(value)
    if match is None:
        raise CodecError(f"malformed gap entry {value[:120]!r}")
    symbol, first, last, status, detected, filled, found_by, reason = match.groups()
    first_id, last_id = int(first), int(last)
    try:
        name = symbol.decode()
    except UnicodeDecodeError as exc:
        raise CodecError(f"malformed gap entry {value[:120]!r}: symbol is not UTF-8") from exc
    if not is_name(name):
        raise CodecError(f"malformed gap entry {value[:120]!r}: not a symbol name")
    if first_id > last_id:
        raise CodecError(f"gap first id {first_id} is after last id {last_id}")
    finder = GapFinder(found_by.decode())
    try:
        why = DEFAULT_REASON[finder] if reason is None else GapReason(reason.decode())
    except ValueError as exc:
        raise CodecError(f"malformed gap entry {value[:120]!r}: unknown reason") from exc
    return GapRecord(
        name,
        first_id,
        last_id,
        GapStatus(status.decode()),
        int(detected),
        int(filled) if filled else None,
        finder,
        why,
    )


def _as_bytes(item: object) -> bytes:
    """Return a field name or value as bytes (redis-py gives bytes or str, by client option)."""
    if type(item) is bytes:
        return item
    if isinstance(item, str):
        try:
            return item.encode()
        except UnicodeEncodeError as exc:
            raise CodecError(f"field is not encodable text: {exc}") from exc
    if isinstance(item, bytes | bytearray | memoryview):
        return bytes(item)
    raise CodecError(f"field holds {type(item).__name__}, not bytes or str")


# ------------------------------------------------------------------ latest-price cache

LATEST_FIELDS = ("trade_id", "price", "quantity", "trade_time", "event_time", "is_buyer_maker")


def latest_to_hash(tick: Tick) -> dict[str, str]:
    """Encode a tick as the latest-price cache hash of its symbol."""
    return {
        "trade_id": str(tick.trade_id),
        "price": tick.price,
        "quantity": tick.quantity,
        "trade_time": str(tick.trade_time),
        "event_time": str(tick.event_time),
        "is_buyer_maker": "1" if tick.is_buyer_maker else "0",
    }


@dataclass(frozen=True, slots=True)
class LatestPrice:
    """The cached latest trade of a symbol."""

    symbol: str
    trade_id: int
    price: str
    quantity: str
    trade_time: int  # epoch µs
    event_time: int  # epoch µs
    is_buyer_maker: bool


def latest_from_hash(symbol: str, fields: FieldMap) -> LatestPrice | None:
    """Decode a latest-price hash; ``None`` when the hash is empty or unreadable."""
    try:
        f = {_as_bytes(k): _as_bytes(v) for k, v in fields.items()}
        if not f:
            return None
        latest = LatestPrice(
            symbol=symbol,
            trade_id=int(f[b"trade_id"]),
            price=f[b"price"].decode("ascii"),
            quantity=f[b"quantity"].decode("ascii"),
            trade_time=int(f[b"trade_time"]),
            event_time=int(f[b"event_time"]),
            is_buyer_maker=f[b"is_buyer_maker"] == b"1",
        )
    except (KeyError, ValueError, UnicodeDecodeError, CodecError):
        return None
    if not (is_decimal_string(latest.price) and is_decimal_string(latest.quantity)):
        return None
    return latest


_Symbol = Annotated[str, msgspec.Meta(pattern=rf"^{SYMBOL_PATTERN}\Z")]
_Decimal = Annotated[str, msgspec.Meta(pattern=rf"^{DECIMAL_PATTERN}\Z")]
# The pub/sub message carries a Tick's fields: the same bounds as the Tick constructor.
_Id = Annotated[int, msgspec.Meta(ge=0, le=MAX_TRADE_ID)]
_Time = Annotated[int, msgspec.Meta(ge=MIN_TIME_US, le=MAX_TIME_US)]


class _LatestMessage(msgspec.Struct, frozen=True):
    """The pub/sub message: every field of a :class:`LatestPrice`, exact, times in µs."""

    symbol: _Symbol
    trade_id: _Id
    price: _Decimal
    quantity: _Decimal
    trade_time_us: _Time
    event_time_us: _Time
    is_buyer_maker: bool


_MESSAGE_DECODER = msgspec.json.Decoder(_LatestMessage)


def latest_message(tick: Tick) -> bytes:
    """Encode the pub/sub message announcing a new latest price."""
    return msgspec.json.encode(
        _LatestMessage(
            tick.symbol,
            tick.trade_id,
            tick.price,
            tick.quantity,
            tick.trade_time,
            tick.event_time,
            tick.is_buyer_maker,
        )
    )


def latest_from_message(raw: bytes | str) -> LatestPrice | None:
    """Decode a pub/sub message of :func:`latest_message`; ``None`` when it is not one."""
    try:
        m = _MESSAGE_DECODER.decode(raw)
    except msgspec.DecodeError:
        return None
    return LatestPrice(
        m.symbol,
        m.trade_id,
        m.price,
        m.quantity,
        m.trade_time_us,
        m.event_time_us,
        m.is_buyer_maker,
    )


LATEST_JSON_FIELDS = (
    "symbol",
    "price",
    "quantity",
    "trade_id",
    "trade_time",
    "trade_time_ms",
    "age_ms",
)


def latest_json(price: LatestPrice, now_us: int) -> dict[str, str | int]:
    """Return the JSON body of a latest price (:data:`LATEST_JSON_FIELDS`), aged at *now_us*."""
    return {
        "symbol": price.symbol,
        "price": price.price,
        "quantity": price.quantity,
        "trade_id": price.trade_id,
        "trade_time": iso_ms(price.trade_time),
        "trade_time_ms": price.trade_time // 1000,
        "age_ms": max(0, (now_us - price.trade_time) // 1000),
    }
