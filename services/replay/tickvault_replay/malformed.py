"""Build the malformed frames a fault script can inject before a trade frame (pure)."""

from __future__ import annotations

from tickvault_replay.encode import combined, event_frame, ws_frame
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
