"""Pure shaping of query results into the JSON bodies docs/API.md describes.

Every time goes out twice (ISO 8601 with ms and ``Z``, and epoch ms); every price as an
exact decimal string.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tickvault.tick import iso_ms
from tickvault_api import exact
from tickvault_api.params import Window


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


def times(name: str, us: int | None) -> dict[str, Any]:
    """Return ``{name: iso, name_ms: epoch ms}`` (both None for no time)."""
    if us is None:
        return {name: None, f"{name}_ms": None}
    return {name: iso_ms(us), f"{name}_ms": us // 1000}


def dec(value: Decimal | None) -> str | None:
    """Format an optional decimal."""
    return None if value is None else exact.fmt(value)


def at_body(symbol: str, requested_us: int, second_start: int, row: TradeRow) -> dict[str, Any]:
    """Return the body of ``/prices/{symbol}/at``."""
    return {
        "symbol": symbol,
        **times("requested", requested_us),
        "price": exact.fmt(row.price),
        "trade_id": row.trade_id,
        **times("trade_time", row.trade_time),
        "in_second": second_start <= row.trade_time < second_start + 1_000_000,
    }


def trade_body(row: TradeRow) -> dict[str, Any]:
    """Return one trade of a history page."""
    return {
        "trade_id": row.trade_id,
        "price": exact.fmt(row.price),
        "quantity": exact.fmt(row.quantity),
        **times("trade_time", row.trade_time),
        "is_buyer_maker": row.is_buyer_maker,
    }


def window_fields(window: Window | None) -> dict[str, Any]:
    """Return the window's bounds as fields (None for "everything")."""
    if window is None:
        return {**times("start", None), **times("end", None)}
    return {**times("start", window.start), **times("end", window.end)}


def range_body(symbol: str, window: Window | None, agg: Aggregate) -> dict[str, Any]:
    """Return the body of ``/prices/{symbol}/range``."""
    return {
        "symbol": symbol,
        **window_fields(window),
        "high": dec(agg.high),
        **times("high_time", agg.high_time),
        "low": dec(agg.low),
        **times("low_time", agg.low_time),
        "open": dec(agg.first_price),
        "close": dec(agg.last_price),
        "trades": agg.count,
        "volume": dec(agg.volume) if agg.count else None,
    }


def stats_body(
    symbol: str, window: Window | None, agg: Aggregate, median: Decimal | None
) -> dict[str, Any]:
    """Return the body of ``/prices/{symbol}/stats``."""
    body: dict[str, Any] = {"symbol": symbol, **window_fields(window), "count": agg.count}
    keys = ("mean", "median", "stddev", "min", "max", "first", "last", "change", "change_pct")
    if not agg.count or agg.price_sum is None or agg.first_price is None or agg.last_price is None:
        return {
            **body,
            **dict.fromkeys((*keys, "vwap")),
            **times("first_time", None),
            **times("last_time", None),
        }
    sq = agg.price_sq_sum if agg.price_sq_sum is not None else Decimal(0)
    return {
        **body,
        "mean": exact.mean(agg.price_sum, agg.count),
        "median": dec(median),
        "stddev": exact.sample_stddev(agg.price_sum, sq, agg.count),
        "min": dec(agg.low),
        "max": dec(agg.high),
        "first": exact.fmt(agg.first_price),
        "last": exact.fmt(agg.last_price),
        "change": exact.fmt(exact.exact_sub(agg.last_price, agg.first_price)),
        "change_pct": exact.change_pct(agg.first_price, agg.last_price),
        "vwap": (
            exact.ratio(agg.quote_volume, agg.volume)
            if agg.quote_volume is not None and agg.volume is not None
            else None
        ),
        **times("first_time", agg.first_time),
        **times("last_time", agg.last_time),
    }


def median_ranks(count: int) -> tuple[int, int]:
    """Return the 1-based ranks of the two middle values (equal for an odd count)."""
    return (count + 1) // 2, count // 2 + 1
