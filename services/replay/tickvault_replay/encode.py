"""Encode market events as Binance payloads and complete WebSocket frames (pure functions)."""

from __future__ import annotations

import struct

import msgspec

from tickvault_replay.model import AggTrade, Event, Trade

_TIME_KEYS = ("E", "T", "O", "C")  # event, trade, and a ticker's window open and close


def _bool(flag: bool) -> str:
    return "true" if flag else "false"


def _fill_payload(kind: str, item: Trade | AggTrade, middle: str, micros: bool) -> bytes:
    """Return a trade-like event: ``e``, ``E``, ``s``, the kind's own keys, ``T``, ``m``, ``M``."""
    div = 1 if micros else 1000
    return (
        f'{{"e":"{kind}","E":{item.event_us // div},"s":"{item.symbol}",{middle},'
        f'"T":{item.time_us // div},"m":{_bool(item.buyer_maker)},"M":{_bool(item.best_match)}}}'
    ).encode()


def trade_payload(trade: Trade, micros: bool = False) -> bytes:
    """Return the ``<symbol>@trade`` payload, keys in Binance's order."""
    middle = f'"t":{trade.id},"p":"{trade.price}","q":"{trade.qty}"'
    return _fill_payload("trade", trade, middle, micros)


def agg_payload(agg: AggTrade, micros: bool = False) -> bytes:
    """Return the ``<symbol>@aggTrade`` payload, keys in Binance's order."""
    middle = f'"a":{agg.id},"p":"{agg.price}","q":"{agg.qty}","f":{agg.first_id},"l":{agg.last_id}'
    return _fill_payload("aggTrade", agg, middle, micros)


def combined(stream: str, payload: bytes) -> bytes:
    """Wrap *payload* as a combined-stream message."""
    return b'{"stream":"' + stream.encode() + b'","data":' + payload + b"}"


def ws_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """Return a complete unmasked, unfragmented server-to-client WebSocket frame."""
    size = len(payload)
    first = 0x80 | opcode
    if size < 126:
        return bytes((first, size)) + payload
    if size < 65536:
        return struct.pack("!BBH", first, 126, size) + payload
    return struct.pack("!BBQ", first, 127, size) + payload


def to_micros(payload: bytes) -> bytes:
    """Return a generic payload (an object or an ``@arr`` array) with times in microseconds."""
    data = msgspec.json.decode(payload)
    for item in data if isinstance(data, list) else [data]:
        if isinstance(item, dict):
            _scale_times(item, _TIME_KEYS)
            kline = item.get("k")
            if isinstance(kline, dict):
                _scale_times(kline, ("t", "T"))
    return msgspec.json.encode(data)


def _scale_times(data: dict[str, object], keys: tuple[str, ...]) -> None:
    for key in keys:
        value = data.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            data[key] = value * 1000


def event_frame(event: Event, variant: int) -> bytes:
    """Return (and cache) the WebSocket frame of *event* in *variant* (see ``model``)."""
    frame = event.frames[variant]
    if frame is not None:
        return frame
    if variant & 2 == 0 and event.payload:
        payload = event.payload
    elif event.trade is not None:
        payload = trade_payload(event.trade, micros=variant & 2 == 2)
    elif event.agg is not None:
        payload = agg_payload(event.agg, micros=variant & 2 == 2)
    else:
        payload = to_micros(event.payload)
    if variant & 1:
        payload = combined(event.stream, payload)
    frame = ws_frame(payload)
    event.frames[variant] = frame
    return frame


def shutdown_payload(now_ms: int, combined_shape: bool) -> bytes:
    """Return the ``serverShutdown`` event in the raw or combined shape."""
    raw = b'{"e":"serverShutdown","E":%d}' % now_ms
    return combined("!serverShutdown", raw) if combined_shape else raw
