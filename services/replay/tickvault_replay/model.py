"""The immutable values the replay market is made of: trades, aggregate trades, events."""

from __future__ import annotations

from dataclasses import dataclass, field

# Frame variants a connection can ask for: bit 0 = combined wrapper, bit 1 = microseconds.
RAW_MS, COMBINED_MS, RAW_US, COMBINED_US = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class Trade:
    """One trade as Binance publishes it; times in microseconds, decimals as exact strings."""

    symbol: str
    id: int
    price: str
    qty: str
    time_us: int
    event_us: int
    buyer_maker: bool
    best_match: bool = True


@dataclass(frozen=True, slots=True)
class AggTrade:
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


@dataclass(slots=True)
class Event:
    """One market event on one stream, with its payload pre-encoded once for every client.

    ``payload`` is the raw JSON object in milliseconds; ``frames`` caches the four complete
    WebSocket frames (raw/combined x ms/us), built on first use and shared by every connection.
    """

    time_us: int
    stream: str
    symbol: str
    payload: bytes
    trade: Trade | None = None
    agg: AggTrade | None = None
    frames: list[bytes | None] = field(default_factory=lambda: [None, None, None, None])
