"""The typed rows the API's queries return (from ``trades``, ``candles_1m`` and both)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class TradeRow:
    """One trade as read from PostgreSQL."""

    trade_id: int
    price: Decimal
    quantity: Decimal
    trade_time: int  # epoch µs
    is_buyer_maker: bool


@dataclass(frozen=True, slots=True)
class Aggregate:
    """Exact aggregates of a window, from candles for whole minutes and trades at the edges."""

    count: int
    price_sum: Decimal | None
    price_sq_sum: Decimal | None
    volume: Decimal | None
    quote_volume: Decimal | None
    first_price: Decimal | None
    first_time: int | None
    last_price: Decimal | None
    last_time: int | None
    high: Decimal | None
    high_time: int | None
    low: Decimal | None
    low_time: int | None


@dataclass(frozen=True, slots=True)
class CandleRow:
    """One OHLCV bucket."""

    open_time: int  # epoch µs
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int
