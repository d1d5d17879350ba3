"""The immutable values the replay market is made of: trades, aggregate trades, events.

msgspec structs rather than dataclasses: a ``--loop`` pass or a synthetic market builds
hundreds of thousands of them per second, and their constructors are C code.
"""

from __future__ import annotations

import msgspec

# Frame variants a connection can ask for: bit 0 = combined wrapper, bit 1 = microseconds.
RAW_MS, COMBINED_MS, RAW_US, COMBINED_US = 0, 1, 2, 3


class Trade(msgspec.Struct, frozen=True, gc=False):
    """One trade as Binance publishes it; times in microseconds, decimals as exact strings."""

    symbol: str
    id: int
    price: str
    qty: str
    time_us: int
    event_us: int
    buyer_maker: bool
    best_match: bool = True


class AggTrade(msgspec.Struct, frozen=True, gc=False):
    """One aggregate trade: fills of one taker at one price, trade ids ``first..last``."""

    symbol: str
    id: int
    price: str
    qty: str
    first_id: int
    last_id: int
    time_us: int
    event_us: int
    buyer_maker: bool
    best_match: bool = True


class Event(msgspec.Struct, gc=False):
    """One market event on one stream, with its payload pre-encoded once for every client.

    ``payload`` is the raw JSON object in milliseconds (empty: encode it from ``trade`` or
    ``agg`` when first needed); ``frames`` caches the four complete WebSocket frames
    (raw/combined x ms/us), built on first use and shared by every connection.
    """

    time_us: int
    stream: str
    symbol: str
    payload: bytes
    trade: Trade | None = None
    agg: AggTrade | None = None
    frames: list[bytes | None] = msgspec.field(default_factory=lambda: [None, None, None, None])
