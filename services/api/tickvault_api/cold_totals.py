"""``range`` and ``stats`` over many cold days: whole files answered from ``cold_files``.

A cold file lies wholly inside a window when its first and last trade do. If the hot tier
holds no trade of that file's day (a late trade waiting for the next move may repeat one of
the file's), the window's trades of that day are exactly the file's, so the file is not read:
its recorded aggregate (:mod:`tickvault.aggregates`) is combined with the aggregate of the
rest (the files at the window's edges, read as before, and the hot rows). The parts share no
instant, being different UTC days, so the combination is exact.

The median does not add up. It is found with :func:`tickvault_api.median.band`, as the hot
tier finds it from minutes: each whole file is a span ``[low, high]`` holding its trades, each
price of the rest a point; then only the files whose span meets the band have their price
column read (the count below the band and the levels inside it). The answer is the order
statistic a sort of every trade gives; a file is read only when the middle of the window's
prices lies within that day's range.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from tickvault.aggregates import Aggregate
from tickvault.cold.manifest import ColdFile
from tickvault.cold.read import day_of
from tickvault_api import median
from tickvault_api.params import Window
from tickvault_api.rows import TradeRow

# (files, low, high) -> trades of the files priced below low, (price, trades) in [low, high]
LevelReader = Callable[[list[ColdFile], Decimal, Decimal], tuple[int, list[tuple[Decimal, int]]]]


def _inside(f: ColdFile, window: Window | None) -> bool:
    if window is None:
        return True
    assert f.aggregate is not None
    first, last = f.aggregate.first_time, f.aggregate.last_time
    assert first is not None and last is not None
    return window.start <= first and last < window.end


def split(
    files: list[ColdFile], window: Window | None, hot_days: set[date]
) -> tuple[list[ColdFile], list[ColdFile]]:
    """Return the files answered from their aggregates, and those to read."""
    whole: list[ColdFile] = []
    read: list[ColdFile] = []
    for f in files:
        summed = f.aggregate is not None and f.day not in hot_days and _inside(f, window)
        (whole if summed else read).append(f)
    return whole, read


def hot_days(rows: list[TradeRow]) -> set[date]:
    """Return the UTC days the hot rows fall on."""
    return {day_of(r.trade_time) for r in rows}


def aggregates(files: list[ColdFile]) -> list[Aggregate]:
    """Return the recorded aggregates of *files*."""
    return [f.aggregate for f in files if f.aggregate is not None]


def points(rest: pa.Table | list[TradeRow]) -> list[tuple[Decimal, int]]:
    """Return the (price, trades) levels of the trades read (the files at the edges, hot)."""
    if isinstance(rest, list):
        return list(Counter(r.price for r in rest).items())
    counts = pc.value_counts(rest["price"])
    return list(
        zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
    )


def median_pair(
    count: int, whole: list[ColdFile], levels: list[tuple[Decimal, int]], read: LevelReader
) -> tuple[Decimal, Decimal] | None:
    """Return the two middle prices of the *whole* files' trades and the trades at *levels*
    (*count* in all), reading only the files whose price range meets the middle's band."""
    if count <= 0:
        return None
    k1, k2 = median.median_ranks(count)
    spans = []
    for f in whole:
        assert f.aggregate is not None and f.aggregate.low is not None
        assert f.aggregate.high is not None
        spans.append(median.Span(f, f.aggregate.low, f.aggregate.high, f.rows))
    band = median.band(spans, levels, k1, k2)
    below = band.below_whole
    in_band = [(p, n) for p, n in levels if band.low <= p <= band.high]
    if band.overlapping:
        meeting = [f for f in band.overlapping if isinstance(f, ColdFile)]
        under, found = read(meeting, band.low, band.high)
        below += under  # a file straddling the band's low edge: its trades under it
        in_band += found
    return median.kth(below, in_band, k1), median.kth(below, in_band, k2)
