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
class CandleRow:
    """One OHLCV bucket."""

    open_time: int  # epoch µs
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int
