"""The Redis Stream layout: the only code that turns entries into fields and back.

Every stream entry carries ``v`` (layout version) and ``k`` (kind):

- ``k=t``, a trade (:class:`~tickvault.tick.Tick`): ``s`` symbol, ``i`` trade id, ``p`` price,
  ``q`` quantity (exact decimal strings), ``T`` trade time, ``E`` event time, ``r`` received-at
  (all epoch µs), ``m`` buyer-is-maker (``1``/``0``), ``o`` source.
- ``k=g``, a gap record (:class:`GapRecord`): ``s``, ``a`` first missing id, ``b`` last missing
  id, ``st`` status, ``d`` detected-at µs, ``f`` filled-at µs (empty when not filled), ``o``
  who found it.

The same module owns the latest-price cache hash (:func:`latest_to_hash`,
:func:`latest_from_hash`) and the live-price pub/sub message (:func:`latest_message`), so the
writer that fills them and the API that reads them cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import orjson

from tickvault.errors import CodecError
from tickvault.tick import Source, Tick, is_decimal_string, is_symbol, iso_ms

VERSION = b"1"
KIND_TRADE = b"t"
KIND_GAP = b"g"

# The largest values PostgreSQL can store: a bigint id, and a µs time Python's datetime holds.
MAX_ID = 2**63 - 1
MAX_TIME = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z

FieldMap = Mapping[bytes, bytes] | Mapping[str, str] | Mapping[bytes | str, bytes | str]


class GapStatus(StrEnum):
    """Lifecycle of a gap in trade ids."""

    DETECTED = "detected"
    FILLED = "filled"
    UNFILLABLE = "unfillable"


@dataclass(frozen=True, slots=True)
class GapRecord:
    """A range of trade ids that went missing, and what became of it."""

    symbol: str
    first_id: int
    last_id: int
    status: GapStatus
    detected_at: int  # epoch µs
    filled_at: int | None = None  # epoch µs
    found_by: str = "collector"


def to_fields(entry: Tick | GapRecord) -> dict[bytes, bytes]:
    """Encode a tick or a gap record as Redis Stream fields."""
    if isinstance(entry, Tick):
        return {
            b"v": VERSION,
            b"k": KIND_TRADE,
            b"s": entry.symbol.encode(),
            b"i": b"%d" % entry.trade_id,
            b"p": entry.price.encode(),
            b"q": entry.quantity.encode(),
            b"T": b"%d" % entry.trade_time,
            b"E": b"%d" % entry.event_time,
            b"r": b"%d" % entry.received_at,
            b"m": b"1" if entry.is_buyer_maker else b"0",
            b"o": entry.source.value.encode(),
        }
    return {
        b"v": VERSION,
        b"k": KIND_GAP,
        b"s": entry.symbol.encode(),
        b"a": b"%d" % entry.first_id,
        b"b": b"%d" % entry.last_id,
        b"st": entry.status.value.encode(),
        b"d": b"%d" % entry.detected_at,
        b"f": b"" if entry.filled_at is None else b"%d" % entry.filled_at,
        b"o": entry.found_by.encode(),
    }


def from_fields(fields: FieldMap) -> Tick | GapRecord:
    """Decode Redis Stream fields into a tick or a gap record; raise :class:`CodecError`."""
    f = _as_bytes(fields)
    version = f.get(b"v")
    if version != VERSION:
        raise CodecError(f"unsupported stream layout version {version!r}")
    try:
        kind = f[b"k"]
        if kind == KIND_TRADE:
            return _decode_trade(f)
        if kind == KIND_GAP:
            return _decode_gap(f)
    except KeyError as exc:
        raise CodecError(f"missing field {exc.args[0]!r}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise CodecError(f"malformed field: {exc}") from exc
    raise CodecError(f"unknown entry kind {kind!r}")


def _decode_trade(f: Mapping[bytes, bytes]) -> Tick:
    price = f[b"p"].decode("ascii")
    quantity = f[b"q"].decode("ascii")
    if not (is_decimal_string(price) and is_decimal_string(quantity)):
        raise CodecError(f"price {price!r} or quantity {quantity!r} is not a decimal string")
    maker = f[b"m"]
    if maker not in (b"0", b"1"):
        raise CodecError(f"buyer-is-maker flag {maker!r} is not 0 or 1")
    return Tick(
        symbol=_symbol(f[b"s"]),
        trade_id=_uint(f[b"i"], "trade id", MAX_ID),
        price=price,
        quantity=quantity,
        trade_time=_uint(f[b"T"], "trade time", MAX_TIME),
        event_time=_uint(f[b"E"], "event time", MAX_TIME),
        is_buyer_maker=maker == b"1",
        received_at=_uint(f[b"r"], "received-at time", MAX_TIME),
        source=Source(f[b"o"].decode("ascii")),
    )


def _decode_gap(f: Mapping[bytes, bytes]) -> GapRecord:
    first_id = _uint(f[b"a"], "gap first id", MAX_ID)
    last_id = _uint(f[b"b"], "gap last id", MAX_ID)
    if first_id > last_id:
        raise CodecError(f"gap first id {first_id} is after last id {last_id}")
    filled = f[b"f"]
    found_by = f[b"o"].decode("utf-8")
    if not (0 < len(found_by) <= 64 and found_by.isprintable()):
        raise CodecError(f"gap finder {found_by!r} is not a short printable name")
    return GapRecord(
        symbol=_symbol(f[b"s"]),
        first_id=first_id,
        last_id=last_id,
        status=GapStatus(f[b"st"].decode("ascii")),
        detected_at=_uint(f[b"d"], "gap detected-at time", MAX_TIME),
        filled_at=_uint(filled, "gap filled-at time", MAX_TIME) if filled else None,
        found_by=found_by,
    )


def _uint(raw: bytes, what: str, limit: int) -> int:
    """Parse a plain run of ASCII digits no greater than *limit* (what PostgreSQL can store)."""
    if not (raw.isdigit() and len(raw) <= 19) or int(raw) > limit:
        raise CodecError(f"{what} {raw[:40]!r} is not an integer between 0 and {limit}")
    return int(raw)


def _symbol(raw: bytes) -> str:
    """Decode a symbol, refusing anything that is not an upper-case Binance symbol."""
    symbol = raw.decode("ascii")
    if not is_symbol(symbol):
        raise CodecError(f"symbol {raw[:40]!r} is not an upper-case Binance symbol")
    return symbol


def _as_bytes(fields: FieldMap) -> Mapping[bytes, bytes]:
    """Return *fields* with bytes keys and values (redis-py gives either, by client option)."""
    if all(type(k) is bytes and type(v) is bytes for k, v in fields.items()):
        return fields  # type: ignore[return-value]
    out: dict[bytes, bytes] = {}
    try:
        for key, value in fields.items():
            k = key.encode() if isinstance(key, str) else key
            out[k] = value.encode() if isinstance(value, str) else value
    except UnicodeEncodeError as exc:
        raise CodecError(f"field is not encodable text: {exc}") from exc
    for key, value in out.items():
        if not (isinstance(key, bytes) and isinstance(value, bytes)):
            raise CodecError(f"field {key!r} holds {type(value).__name__}, not bytes or str")
    return out


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
        f = _as_bytes(fields)
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


def latest_message(tick: Tick) -> bytes:
    """Encode the pub/sub message announcing a new latest price (JSON, API field names)."""
    return orjson.dumps(
        {
            "symbol": tick.symbol,
            "price": tick.price,
            "quantity": tick.quantity,
            "trade_id": tick.trade_id,
            "trade_time": iso_ms(tick.trade_time),
            "trade_time_ms": tick.trade_time // 1000,
        }
    )
