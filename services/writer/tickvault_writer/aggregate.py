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
from decimal import Decimal
from operator import itemgetter
from typing import Any, NamedTuple

from tickvault.tick import Tick

US_PER_MINUTE = 60_000_000
ZERO = Decimal(0)
_EXACT = decimal.Context(
    prec=400,
    Emax=999_999,
    Emin=-999_999,
    traps=[decimal.Inexact, decimal.Rounded, decimal.InvalidOperation],
)


class Level(NamedTuple):
    """The trades of one (symbol, minute, price)."""

    symbol: str
    minute: int  # epoch µs, floored to the minute
    price: str
    trades: int
    volume: str


class Candle(NamedTuple):
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
# Per price string of a minute: [value, price text, trades, volume, first time,
#                                (first time, id, price text), (last time, id, price text)]
_Row = list[Any]
_VALUE = itemgetter(0)


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


class _Parsed(dict[str, Decimal]):
    """Decimal values of decimal strings, each string parsed once (quantities repeat)."""

    def __missing__(self, text: str) -> Decimal:
        value = self[text] = Decimal(text)
        return value


def _text(value: Decimal) -> str:
    """Return the value in plain notation (``str`` turns to exponent form below 1e-6)."""
    text = str(value)
    return format(value, "f") if "E" in text else text


def aggregate(ticks: Iterable[Tick]) -> tuple[list[Level], list[Candle]]:
    """Return the ticks' price levels and candles, each sorted by key."""
    minutes: dict[tuple[str, int], list[_Row]] = {}
    number = _Parsed().__getitem__
    with decimal.localcontext(_EXACT):
        for (symbol, minute, price), (n, quantities, ft, fid, lt, lid) in _fold(ticks).items():
            volume = ZERO + number(quantities[0]) if n == 1 else sum(map(number, quantities), ZERO)
            row = [Decimal(price), price, n, volume, ft, (ft, fid, price), (lt, lid, price)]
            rows = minutes.get((symbol, minute))
            if rows is None:
                minutes[(symbol, minute)] = [row]
            else:
                rows.append(row)
        levels: list[Level] = []
        candles: list[Candle] = []
        for (symbol, minute), rows in sorted(minutes.items()):
            merged = _merge(rows)
            levels += [Level(symbol, minute, r[1], r[2], _text(r[3])) for r in merged]
            candles.append(_candle(symbol, minute, rows, merged))
    return levels, candles


def _merge(rows: list[_Row]) -> list[_Row]:
    """Sort a minute's rows by price value; fold equal values ("1.5", "1.50") into the first."""
    rows.sort(key=_VALUE)  # stable: of equal values, the first seen stays first
    merged = [rows[0]]
    for row in rows[1:]:
        last = merged[-1]
        if row[0] != last[0]:
            merged.append(row)
            continue
        last[2] += row[2]
        last[3] += row[3]
        last[4] = min(last[4], row[4])
    return merged


def _candle(symbol: str, minute: int, rows: list[_Row], merged: list[_Row]) -> Candle:
    """Return the candle of one (symbol, minute) from its rows and merged levels."""
    low, high = merged[0], merged[-1]
    open_time, open_id, open_price = min([r[5] for r in rows])
    close_time, close_id, close_price = max([r[6] for r in rows])
    return Candle(
        symbol,
        minute,
        open_price,
        high[1],
        low[1],
        close_price,
        _text(sum([r[3] for r in merged], ZERO)),
        sum([r[2] for r in merged]),
        _text(sum([r[0] * r[3] for r in merged], ZERO)),
        _text(sum([r[0] * r[2] for r in merged], ZERO)),
        _text(sum([r[0] * r[0] * r[2] for r in merged], ZERO)),
        open_time,
        open_id,
        close_time,
        close_id,
        high[4],
        low[4],
    )
