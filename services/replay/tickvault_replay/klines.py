"""Candles from trades, in ``/api/v3/klines`` row shape (pure, exact decimals)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Context, Decimal
from typing import Any

from tickvault_replay.model import Trade

_EXACT = Context(prec=60)
_PLACES = Decimal("0.00000001")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
INTERVALS = (
    "1s",
    "1m",
    "3m",
    "5m",
    "15m",
    "30m",
    "1h",
    "2h",
    "4h",
    "6h",
    "8h",
    "12h",
    "1d",
    "3d",
    "1w",
    "1M",
)
_WEEK_OFFSET_MS = 4 * 86_400_000  # the epoch is a Thursday; Binance weeks start on Monday


def bucket_start(time_ms: int, interval: str) -> int:
    """Return the open time (ms) of the candle holding *time_ms*."""
    if interval == "1M":
        moment = datetime.fromtimestamp(time_ms / 1000, UTC)
        return int(datetime(moment.year, moment.month, 1, tzinfo=UTC).timestamp() * 1000)
    size = int(interval[:-1]) * _UNIT_MS[interval[-1]]
    offset = _WEEK_OFFSET_MS if interval[-1] == "w" else 0
    return (time_ms - offset) // size * size + offset


def span_ms(interval: str) -> int:
    """Return the length of one candle in ms (a month counts as 31 days)."""
    if interval == "1M":
        return 31 * 86_400_000
    return int(interval[:-1]) * _UNIT_MS[interval[-1]]


def bucket_end(open_ms: int, interval: str) -> int:
    """Return the close time (ms, inclusive) of the candle opening at *open_ms*."""
    if interval == "1M":
        moment = datetime.fromtimestamp(open_ms / 1000, UTC)
        year, month0 = divmod(moment.year * 12 + moment.month, 12)
        return int(datetime(year, month0 + 1, 1, tzinfo=UTC).timestamp() * 1000) - 1
    return open_ms + int(interval[:-1]) * _UNIT_MS[interval[-1]] - 1


def _fmt(value: Decimal) -> str:
    return format(value.quantize(_PLACES, context=_EXACT), "f")


def klines(trades: Sequence[Trade], interval: str, scale: int = 1) -> list[list[Any]]:
    """Return one row per interval that has trades; times multiplied by *scale* (1000 = µs)."""
    rows: list[list[Any]] = []
    current: list[Any] | None = None
    for trade in trades:
        open_ms = bucket_start(trade.time_us // 1000, interval)
        price, qty = Decimal(trade.price), Decimal(trade.qty)
        quote = _EXACT.multiply(price, qty)
        if current is None or current[0] != open_ms:
            if current is not None:
                rows.append(_row(current, interval, scale))
            current = [
                open_ms,
                price,
                price,
                price,
                price,
                Decimal(0),
                Decimal(0),
                0,
                Decimal(0),
                Decimal(0),
            ]
        current[2] = max(current[2], price)
        current[3] = min(current[3], price)
        current[4] = price
        current[5] = _EXACT.add(current[5], qty)
        current[6] = _EXACT.add(current[6], quote)
        current[7] += 1
        if not trade.buyer_maker:
            current[8] = _EXACT.add(current[8], qty)
            current[9] = _EXACT.add(current[9], quote)
    if current is not None:
        rows.append(_row(current, interval, scale))
    return rows


def _row(c: list[Any], interval: str, scale: int) -> list[Any]:
    return [
        c[0] * scale,
        _fmt(c[1]),
        _fmt(c[2]),
        _fmt(c[3]),
        _fmt(c[4]),
        _fmt(c[5]),
        bucket_end(c[0], interval) * scale + (scale - 1),
        _fmt(c[6]),
        c[7],
        _fmt(c[8]),
        _fmt(c[9]),
        "0",
    ]
