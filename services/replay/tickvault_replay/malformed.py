"""Build the malformed frames a fault script injects before a trade frame, and the malformed
REST bodies it answers with (pure)."""

from __future__ import annotations

import copy
from typing import Any

import msgspec

from tickvault_replay.encode import combined, event_frame, ws_frame
from tickvault_replay.faults import RestMalformed
from tickvault_replay.model import Event

_OPCODE_BINARY = 0x2


def _payload(event: Event, variant: int) -> bytes:
    frame = event_frame(event, variant)
    size = frame[1] & 0x7F
    return frame[2 + (0 if size < 126 else 2 if size == 126 else 8) :]


def malformed_frame(kind: str, event: Event, variant: int) -> bytes:
    """Return a malformed frame of *kind* shaped like *event*'s frame for this variant.

    ``truncated`` cuts the JSON text in half; ``wrong_types`` sends the trade with its id as
    a string and its price and quantity as JSON numbers; ``unknown_event`` sends an event
    type Binance never sends; ``binary`` sends the real payload in a binary frame.
    """
    payload = _payload(event, variant)
    if kind == "truncated":
        return ws_frame(payload[: max(1, len(payload) // 2)])
    if kind == "binary":
        return ws_frame(payload, _OPCODE_BINARY)
    trade = event.trade
    div = 1 if variant & 2 else 1000
    if kind == "wrong_types" and trade is not None:
        raw = (
            f'{{"e":"trade","E":"{trade.event_us // div}","s":"{trade.symbol}",'
            f'"t":"{trade.id}","p":{trade.price},"q":{trade.qty},"T":"{trade.time_us // div}",'
            f'"m":"{str(trade.buyer_maker).lower()}","M":null}}'
        ).encode()
    else:
        raw = b'{"e":"mysteryEvent","E":%d,"s":"%s","x":"unknown"}' % (
            event.time_us // (1 if variant & 2 else 1000),
            event.symbol.encode(),
        )
    return ws_frame(combined(event.stream, raw) if variant & 1 else raw)


_NOT_JSON = b"<html><head><title>502 Bad Gateway</title></head><body>502</body></html>"


def malformed_body(fault: RestMalformed, body: Any) -> bytes:
    """Return *body* spoilt as *fault* says.

    ``truncated`` cuts the JSON in half; ``not_json`` is an HTML error page; ``empty`` lists no
    symbol (``"symbols": []`` in exchangeInfo, ``[]`` for an array); ``wrong_types`` gives
    the chosen entries every value in the wrong JSON type (strings become numbers or null,
    numbers and booleans strings); ``missing_fields`` keeps only their ``symbol``. Entries
    are the symbols of exchangeInfo or the rows of an array; the chosen ones are those named
    in ``symbols``, else every third one from the first.
    """
    if fault.kind == "truncated":
        text = msgspec.json.encode(body)
        return text[: max(1, len(text) // 2)]
    if fault.kind == "not_json":
        return _NOT_JSON
    body = copy.deepcopy(body)
    if fault.kind == "empty":
        if isinstance(body, dict) and "symbols" in body:
            body["symbols"] = []
            return msgspec.json.encode(body)
        return b"[]" if isinstance(body, list) else b"{}"
    for index, entry in enumerate(_entries(body)):
        chosen = entry.get("symbol") in fault.symbols if fault.symbols else index % 3 == 0
        if not chosen:
            continue
        if fault.kind == "missing_fields":
            for key in [k for k in entry if k != "symbol"]:
                del entry[key]
        else:
            for key, value in entry.items():
                entry[key] = _wrong_type(value)
    return msgspec.json.encode(body)


def _entries(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, dict) and isinstance(body.get("symbols"), list):
        entries: list[dict[str, Any]] = body["symbols"]
        return entries
    if isinstance(body, list):
        return [row for row in body if isinstance(row, dict)]
    return [body] if isinstance(body, dict) else []


def _wrong_type(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None if value is not None else 0
