"""Parse one WebSocket frame from Binance's market streams into a typed value (pure).

:func:`parse_frame` never raises: every frame becomes a :class:`~tickvault.tick.Tick`, a
:class:`ControlReply`, a :class:`ServerShutdown`, an :class:`Unknown` or a :class:`Malformed`.
The hot path is one msgspec typed decode of the combined-stream trade wrapper; anything that
does not fit takes a slower generic route that classifies it.

Times come as microseconds (``timeUnit=MICROSECOND``) or milliseconds (the default); the
magnitude tells them apart and everything leaves here in epoch microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from tickvault.errors import InvalidTick
from tickvault.tick import Tick, to_us

# An epoch time below this is in milliseconds (1e14 ms is the year 5138; 1e14 µs is 1973).


class _TradeData(msgspec.Struct):
    """The ``@trade`` payload; unknown keys (``M``, legacy ``b``/``a``) are ignored."""

    e: str
    E: int
    s: str
    t: int
    p: str
    q: str
    T: int
    m: bool


class _CombinedTrade(msgspec.Struct):
    stream: str
    data: _TradeData


_COMBINED_TRADE = msgspec.json.Decoder(_CombinedTrade)
_ANY = msgspec.json.Decoder()
_DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, ValueError, UnicodeError)


@dataclass(frozen=True, slots=True)
class ControlReply:
    """The answer to a SUBSCRIBE-style request: ``result`` or an ``error`` message."""

    request_id: int | str | None
    result: Any
    error: str | None


@dataclass(frozen=True, slots=True)
class ServerShutdown:
    """The server announced it is about to shut down: reconnect at once."""

    event_time: int


@dataclass(frozen=True, slots=True)
class Unknown:
    """A well-formed frame of a kind the collector does not use (counted, ignored)."""

    kind: str


@dataclass(frozen=True, slots=True)
class Malformed:
    """A frame that is not valid Binance JSON (counted, logged at a bounded rate)."""

    reason: str
    sample: str


Parsed = Tick | ControlReply | ServerShutdown | Unknown | Malformed


def parse_frame(frame: str | bytes, received_at: int) -> Parsed:
    """Turn one text frame into a typed value; binary frames are malformed; never raise."""
    if not isinstance(frame, str):
        return Malformed("binary frame", _sample(frame))
    try:
        wrapped = _COMBINED_TRADE.decode(frame)
    except _DECODE_ERRORS:
        return _parse_slow(frame, received_at)
    data = wrapped.data
    if data.e != "trade":
        return _parse_slow(frame, received_at)
    return _trade(data, received_at, frame)


def _trade(data: _TradeData, received_at: int, frame: str) -> Tick | Malformed:
    try:
        return Tick(
            data.s, data.t, data.p, data.q, to_us(data.T), to_us(data.E), data.m, received_at
        )
    except InvalidTick as exc:
        return Malformed(str(exc), _sample(frame))


def _parse_slow(frame: str, received_at: int) -> Parsed:
    """Classify a frame that is not a well-formed combined trade."""
    try:
        obj = _ANY.decode(frame)
    except _DECODE_ERRORS as exc:
        return Malformed(f"bad JSON: {exc}", _sample(frame))
    if isinstance(obj, list):
        return Unknown("array")
    if not isinstance(obj, dict):
        return Malformed("frame is not a JSON object", _sample(frame))
    if "error" in obj or ("id" in obj and "result" in obj):
        return _control(obj)
    if "stream" in obj and "data" in obj:
        stream, data = obj["stream"], obj["data"]
        if stream == "!serverShutdown" or _event_type(data) == "serverShutdown":
            return _shutdown(data if isinstance(data, dict) else {})
        if isinstance(stream, str) and stream.endswith("@trade"):
            return _raw_trade(data, received_at, frame)
        return Unknown(stream if isinstance(stream, str) else "stream")
    kind = _event_type(obj)
    if kind == "serverShutdown":
        return _shutdown(obj)
    if kind == "trade":
        return _raw_trade(obj, received_at, frame)
    return Unknown(kind or "object")


def _raw_trade(data: Any, received_at: int, frame: str) -> Tick | Malformed:
    try:
        trade = msgspec.convert(data, _TradeData)
    except _DECODE_ERRORS as exc:
        return Malformed(f"bad trade: {exc}", _sample(frame))
    if trade.e != "trade":
        return Malformed(f"trade stream carries a {trade.e!r} event", _sample(frame))
    return _trade(trade, received_at, frame)


def _event_type(obj: Any) -> str | None:
    if isinstance(obj, dict):
        kind = obj.get("e")
        if isinstance(kind, str):
            return kind
    return None


def _shutdown(data: dict[str, Any]) -> ServerShutdown:
    when = data.get("E")
    return ServerShutdown(to_us(when) if isinstance(when, int) and when >= 0 else 0)


def _control(obj: dict[str, Any]) -> ControlReply:
    request_id = obj.get("id")
    if not isinstance(request_id, int | str):
        request_id = None
    error = obj.get("error")
    message: str | None = None
    if error is not None:
        message = str(error.get("msg", error)) if isinstance(error, dict) else str(error)
    return ControlReply(request_id, obj.get("result"), message)


def _sample(frame: str | bytes, limit: int = 120) -> str:
    """Return a short printable excerpt of a bad frame, for a log line."""
    text = frame if isinstance(frame, str) else frame[:limit].hex()
    return text[:limit].encode("ascii", "backslashreplace").decode("ascii")
