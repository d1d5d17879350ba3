"""Expected API answers computed straight from the recordings, in plain Python.

Written independently of the API: sorted lists, Fractions and exact integer rounding, no SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from fractions import Fraction
from math import isqrt
from typing import Any

from tests.support.recordings import RecordedTrade


@dataclass(frozen=True)
class T:
    """A recorded trade as the API sees it (times in ms)."""

    trade_id: int
    price: str
    quantity: str
    ms: int
    maker: bool


def trades_of(recorded: list[RecordedTrade]) -> list[T]:
    """Return the trades sorted by (time, id)."""
    out = [T(r.trade_id, r.price, r.quantity, r.trade_time_ms, r.is_buyer_maker) for r in recorded]
    return sorted(out, key=lambda t: (t.ms, t.trade_id))


def iso(ms: int) -> str:
    """Format epoch ms like the API."""
    dt = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def window(trades: list[T], start_ms: int, end_ms: int) -> list[T]:
    """Return the trades with start <= time < end."""
    return [t for t in trades if start_ms <= t.ms < end_ms]


def _round(value: Fraction, places: int = 10) -> str:
    scaled = abs(value) * 10**places
    units = round(scaled)  # Fraction.__round__ rounds half to even
    sign = "-" if value < 0 else ""
    return f"{sign}{units // 10**places}.{units % 10**places:0{places}d}"


def _sqrt_round(value: Fraction, places: int = 10) -> str:
    # floor of the root at a few extra digits, then decide on the remainder exactly
    scaled = value * 10 ** (2 * places)
    root = isqrt(scaled.numerator // scaled.denominator)
    half = Fraction(2 * root + 1, 2)
    if scaled > half * half or (scaled == half * half and root % 2):
        root += 1
    return f"{root // 10**places}.{root % 10**places:0{places}d}"


def high_low(ts: list[T]) -> tuple[T, T]:
    """Return the first trade at the highest price and the first at the lowest."""
    hi = max(Decimal(t.price) for t in ts)
    lo = min(Decimal(t.price) for t in ts)
    return (
        next(t for t in ts if Decimal(t.price) == hi),
        next(t for t in ts if Decimal(t.price) == lo),
    )


def range_of(ts: list[T]) -> dict[str, object]:
    """Return the expected range fields."""
    if not ts:
        keys = ("high", "high_time", "high_time_ms", "low", "low_time", "low_time_ms")
        return {**dict.fromkeys(keys), "open": None, "close": None, "trades": 0, "volume": None}
    h, lo = high_low(ts)
    with localcontext() as ctx:
        ctx.prec = 60
        volume = sum((Decimal(t.quantity) for t in ts), Decimal(0))
    return {
        "high": h.price,
        "high_time": iso(h.ms),
        "high_time_ms": h.ms,
        "low": lo.price,
        "low_time": iso(lo.ms),
        "low_time_ms": lo.ms,
        "open": ts[0].price,
        "close": ts[-1].price,
        "trades": len(ts),
        "volume": format(volume, "f"),
    }


def stats_of(ts: list[T]) -> dict[str, object]:
    """Return the expected stats fields (numbers as exact values to compare)."""
    n = len(ts)
    prices = sorted(Fraction(t.price) for t in ts)
    mean = sum(prices) / n
    median = prices[n // 2] if n % 2 else (prices[n // 2 - 1] + prices[n // 2]) / 2
    var = sum((p - mean) ** 2 for p in prices) / (n - 1) if n > 1 else None
    first, last = Fraction(ts[0].price), Fraction(ts[-1].price)
    vol = sum(Fraction(t.quantity) for t in ts)
    quote = sum(Fraction(t.price) * Fraction(t.quantity) for t in ts)
    return {
        "count": n,
        "mean": _round(mean),
        "median": median,
        "stddev": None if var is None else _sqrt_round(var),
        "min": min(ts, key=lambda t: Decimal(t.price)).price,
        "max": max(ts, key=lambda t: Decimal(t.price)).price,
        "first": ts[0].price,
        "last": ts[-1].price,
        "change": last - first,
        "change_pct": _round((last - first) / first * 100),
        "vwap": _round(quote / vol),
    }


def assert_stats(body: dict[str, Any], want: dict[str, object]) -> None:
    """Assert that a /stats body holds the values :func:`stats_of` expects."""
    assert body["count"] == want["count"]
    for key in ("mean", "stddev", "min", "max", "first", "last", "change_pct", "vwap"):
        assert body[key] == want[key], key
    assert Fraction(Decimal(body["median"])) == want["median"]
    assert Fraction(Decimal(body["change"])) == want["change"]


def candles_of(ts: list[T], step_ms: int) -> list[dict[str, object]]:
    """Return the expected OHLCV buckets."""
    buckets: dict[int, list[T]] = {}
    for t in ts:
        buckets.setdefault(t.ms - t.ms % step_ms, []).append(t)
    out = []
    for start, group in sorted(buckets.items()):
        r = range_of(group)
        out.append(
            {
                "open_time": iso(start),
                "open_time_ms": start,
                "open": r["open"],
                "high": r["high"],
                "low": r["low"],
                "close": r["close"],
                "volume": r["volume"],
                "trades": r["trades"],
            }
        )
    return out
