"""Fold a batch of ticks into its 1-minute price levels and candles, exactly (the fast path's).

Pure. Used when every tick of the batch was inserted, so all of them count. One pass over
the ticks groups them by (symbol, minute, price string); decimal arithmetic then runs per
level only, never per tick, with a context that raises rather than rounds. The numbers equal
PostgreSQL's own aggregates over the same rows, scale included: a sum keeps the largest
scale, a product adds scales, as ``numeric`` does (Σ p·q over a level is p·Σq, the same value).

Candle rules are those of :mod:`tickvault_writer.sql`: open/close are the earliest/latest
trade by (trade_time, trade_id); high/low the greatest/least price with the earliest time
each was reached.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from tickvault.tick import Tick

US_PER_MINUTE = 60_000_000
_EXACT = decimal.Context(prec=400, Emax=999_999, Emin=-999_999,
                         traps=[decimal.Inexact, decimal.Rounded, decimal.InvalidOperation])


@dataclass(frozen=True, slots=True)
class Level:
    """The trades of one (symbol, minute, price)."""

    symbol: str
    minute: int  # epoch µs, floored to the minute
    price: str
    trades: int
    volume: str


@dataclass(frozen=True, slots=True)
class Candle:
    """One (symbol, minute)'s candle over the batch's trades, numbers as exact strings."""

    symbol: str
    minute: int  # epoch µs
    open: str
    high: str
    low: str
    close: str
    volume: str
    trades: int
    quote_volume: str
    price_sum: str
    price_sq_sum: str
    open_time: int  # epoch µs
    open_trade_id: int
    close_time: int
    close_trade_id: int
    high_time: int
    low_time: int


# Per (symbol, minute, price string): [trades, quantities, first time, first id, last t, last id]
_Fold = dict[tuple[str, int, str], list]  # type: ignore[type-arg]


def _fold(ticks: Iterable[Tick]) -> _Fold:
    """Group the ticks by (symbol, minute, price string) in one pass, without arithmetic."""
    acc: _Fold = {}
    get = acc.get
    for t in ticks:
        tt, tid = t.trade_time, t.trade_id
        key = (t.symbol, tt - tt % US_PER_MINUTE, t.price)
        a = get(key)
        if a is None:
            acc[key] = [1, [t.quantity], tt, tid, tt, tid]
            continue
        a[0] += 1
        a[1].append(t.quantity)
        if tt < a[2] or (tt == a[2] and tid < a[3]):
            a[2], a[3] = tt, tid
        if tt > a[4] or (tt == a[4] and tid > a[5]):
            a[4], a[5] = tt, tid
    return acc


@dataclass(slots=True)
class _Minute:
    """What one (symbol, minute) gathers: its levels by price value, its first and last trade."""

    levels: dict[Decimal, list]  # type: ignore[type-arg]  # [price text, trades, volume, time]
    first: tuple[int, int, str]  # (time, id, price text)
    last: tuple[int, int, str]


def _text(value: Decimal) -> str:
    return format(value, "f")


def aggregate(ticks: Iterable[Tick]) -> tuple[list[Level], list[Candle]]:
    """Return the ticks' price levels and candles, each sorted by key."""
    minutes: dict[tuple[str, int], _Minute] = {}
    numbers: dict[str, Decimal] = {}  # quantities repeat: parse each distinct string once
    with decimal.localcontext(_EXACT):
        for (symbol, minute, price), (n, quantities, ft, fid, lt, lid) in _fold(ticks).items():
            value = Decimal(price)
            volume = Decimal(0)
            for q in quantities:
                d = numbers.get(q)
                if d is None:
                    d = numbers[q] = Decimal(q)
                volume += d
            m = minutes.get((symbol, minute))
            if m is None:
                m = minutes[(symbol, minute)] = _Minute({}, (ft, fid, price), (lt, lid, price))
            else:
                m.first = min(m.first, (ft, fid, price))
                m.last = max(m.last, (lt, lid, price))
            level = m.levels.get(value)  # "1.5" and "1.50" are one row of price_levels_1m
            if level is None:
                m.levels[value] = [price, n, volume, ft]
            else:
                level[1] += n
                level[2] += volume
                level[3] = min(level[3], ft)
        levels: list[Level] = []
        candles: list[Candle] = []
        for (symbol, minute), m in sorted(minutes.items()):
            levels += [Level(symbol, minute, row[0], row[1], _text(row[2]))
                       for _, row in sorted(m.levels.items())]
            candles.append(_candle(symbol, minute, m))
    return levels, candles


def _candle(symbol: str, minute: int, m: _Minute) -> Candle:
    """Return the candle of one (symbol, minute) from its levels."""
    high = m.levels[max(m.levels)]
    low = m.levels[min(m.levels)]
    rows = m.levels.items()
    zero = Decimal(0)
    (open_time, open_id, open_price), (close_time, close_id, close_price) = m.first, m.last
    return Candle(
        symbol, minute, open_price, high[0], low[0], close_price,
        _text(sum((row[2] for row in m.levels.values()), zero)),
        sum(row[1] for row in m.levels.values()),
        _text(sum((value * row[2] for value, row in rows), zero)),
        _text(sum((value * row[1] for value, row in rows), zero)),
        _text(sum((value * value * row[1] for value, row in rows), zero)),
        open_time, open_id, close_time, close_id, high[3], low[3],
    )
