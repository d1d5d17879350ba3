"""The API's JSON responses: the bodies docs/API.md describes, shaped from query rows (pure),
and :func:`json_response`, which sends one.

Every time goes out twice (ISO 8601 with ms and ``Z``, and epoch ms); every price as an
exact decimal string.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
from flask import Response

from tickvault.aggregates import Aggregate
from tickvault.tick import iso_ms
from tickvault_api import decimal_stats
from tickvault_api.params import Window
from tickvault_api.rows import TradeRow

_ENCODER = msgspec.json.Encoder()


def times(name: str, us: int | None) -> dict[str, Any]:
    """Return ``{name: iso, name_ms: epoch ms}`` (both None for no time)."""
    if us is None:
        return {name: None, f"{name}_ms": None}
    return {name: iso_ms(us), f"{name}_ms": us // 1000}


def dec(value: Decimal | None) -> str | None:
    """Format an optional decimal."""
    return None if value is None else decimal_stats.fmt(value)


def at_body(symbol: str, requested_us: int, second_start: int, row: TradeRow) -> dict[str, Any]:
    """Return the body of ``/prices/{symbol}/at``."""
    return {
        "symbol": symbol,
        **times("requested", requested_us),
        "price": decimal_stats.fmt(row.price),
        "trade_id": row.trade_id,
        **times("trade_time", row.trade_time),
        "in_second": second_start <= row.trade_time < second_start + 1_000_000,
    }


def trade_body(row: TradeRow) -> dict[str, Any]:
    """Return one trade of a history page."""
    return {
        "trade_id": row.trade_id,
        "price": decimal_stats.fmt(row.price),
        "quantity": decimal_stats.fmt(row.quantity),
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
        "mean": decimal_stats.mean(agg.price_sum, agg.count),
        "median": dec(median),
        "stddev": decimal_stats.sample_stddev(agg.price_sum, sq, agg.count),
        "min": dec(agg.low),
        "max": dec(agg.high),
        "first": decimal_stats.fmt(agg.first_price),
        "last": decimal_stats.fmt(agg.last_price),
        "change": decimal_stats.fmt(decimal_stats.exact_sub(agg.last_price, agg.first_price)),
        "change_pct": decimal_stats.change_pct(agg.first_price, agg.last_price),
        "vwap": (
            decimal_stats.ratio(agg.quote_volume, agg.volume)
            if agg.quote_volume is not None and agg.volume is not None
            else None
        ),
        **times("first_time", agg.first_time),
        **times("last_time", agg.last_time),
    }


def encode_json(body: Any) -> bytes:
    """Return *body* as compact UTF-8 JSON, keys in the dict's order (msgspec)."""
    return _ENCODER.encode(body)


def json_response(body: Any, status: int = 200) -> Response:
    """Return *body* (or bytes already encoded) as a JSON response."""
    data = body if isinstance(body, bytes) else encode_json(body)
    return Response(data, status=status, mimetype="application/json")
