"""Exact order statistics (the median) from per-minute summaries, without sorting raw trades.

Every whole minute is an interval ``[low, high]`` holding ``n`` trades (from ``candles_1m``;
or a whole cold file, from ``cold_files``), every edge price an interval ``[p, p]`` holding
the trades at that price. The k-th smallest price ``v`` then lies
in a *band*: at least the smallest ``low`` with ``k`` trades in minutes starting at or below it,
at most the smallest ``high`` with ``k`` trades in minutes ending at or below it. Only the
``price_levels_1m`` rows inside that band (and the count of levels below it in minutes that
straddle its lower edge) are read, so a day's median touches a few thousand rows instead of
every price level of the day. The answer is exact: it is the same order statistic a sort of
every trade would give.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Span:
    """A whole minute's price span and trade count."""

    minute: object  # the candle's minute (or the cold file), passed back as is
    low: Decimal
    high: Decimal
    trades: int


@dataclass(frozen=True, slots=True)
class Band:
    """Where the wanted order statistics lie, and what must be read to pin them down."""

    low: Decimal
    high: Decimal
    below_whole: int  # trades certainly below ``low`` (minutes and edge trades wholly under it)
    straddling: tuple[object, ...]  # minutes with low < band.low <= high: count their levels
    overlapping: tuple[object, ...]  # minutes whose span meets the band: read their levels


def band(
    spans: Sequence[Span], points: Sequence[tuple[Decimal, int]], k_first: int, k_last: int
) -> Band:
    """Return the band holding the k_first-th to k_last-th smallest prices (1-based), of the
    *spans* and of the trades at single prices (*points*: price, trades)."""
    intervals = [(s.low, s.high, s.trades) for s in spans] + [(p, p, n) for p, n in points]
    low = _first_reaching(sorted((lo, n) for lo, _, n in intervals), k_first)
    high = _first_reaching(sorted((hi, n) for _, hi, n in intervals), k_last)
    below = sum(n for _, hi, n in intervals if hi < low)
    straddling = tuple(s.minute for s in spans if s.low < low <= s.high)
    overlapping = tuple(s.minute for s in spans if s.low <= high and s.high >= low)
    return Band(low, high, below, straddling, overlapping)


def _first_reaching(points: list[tuple[Decimal, int]], k: int) -> Decimal:
    total = 0
    for price, n in points:
        total += n
        if total >= k:
            return price
    raise ValueError(f"fewer than {k} trades")


def kth(below: int, levels: Iterable[tuple[Decimal, int]], k: int) -> Decimal:
    """Return the k-th smallest price, given the count *below* the band and the band's levels."""
    merged: dict[Decimal, int] = {}
    for price, n in levels:
        merged[price] = merged.get(price, 0) + n
    total = below
    for price in sorted(merged):
        total += merged[price]
        if total >= k:
            return price
    raise ValueError(f"the band does not hold the {k}-th price")


def median_ranks(count: int) -> tuple[int, int]:
    """Return the 1-based ranks of the two middle values (equal for an odd count)."""
    return (count + 1) // 2, count // 2 + 1
