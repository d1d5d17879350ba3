"""Exact aggregates of a set of trades: the value, folding Arrow tables into it, combining.

One definition everywhere (the API's SQL over ``candles_1m``, its row-by-row and vectorised
paths over cold trades, and the per-file aggregates ``cold_files`` records): sums of exchange
decimals at full precision, first and last by (time, id), high and low with the earliest time
they were reached. :class:`Folder` takes tables in any order (a file's row groups, sorted by
id); :func:`combine` joins the aggregates of sets that share no instant (whole UTC days), so
a year of cold files is answered from their recorded aggregates without reading them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Context, Decimal, localcontext

import pyarrow as pa
import pyarrow.compute as pc

EXACT = Context(prec=200)  # sums of exchange decimals stay exact far beyond any real total
VECTOR_DIGITS = 18  # decimals this narrow have products that fit decimal256 sums
_SUM_PRECISION = 76


@dataclass(frozen=True, slots=True)
class Aggregate:
    """Exact aggregates of a set of trades (times in epoch µs)."""

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


EMPTY = Aggregate(0, *([None] * 12))


def _add(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    if a is None or b is None:
        return b if a is None else a
    with localcontext(EXACT):
        return a + b


def combine(parts: Iterable[Aggregate]) -> Aggregate:
    """Return the aggregate of the union of *parts*: sets of trades that share no instant
    (so no trade is in two of them and first, last, high and low need no trade id)."""
    out = EMPTY
    for p in parts:
        out = p if not out.count else out if not p.count else _joined(out, p)
    return out


def _joined(a: Aggregate, b: Aggregate) -> Aggregate:
    """Return the aggregate of two non-empty sets of trades that share no instant."""
    first = min(a, b, key=lambda x: x.first_time or 0)
    last = max(a, b, key=lambda x: x.last_time or 0)
    high = max(a, b, key=lambda x: (x.high, -(x.high_time or 0)))
    low = min(a, b, key=lambda x: (x.low, x.low_time or 0))
    return Aggregate(
        count=a.count + b.count,
        price_sum=_add(a.price_sum, b.price_sum),
        price_sq_sum=_add(a.price_sq_sum, b.price_sq_sum),
        volume=_add(a.volume, b.volume),
        quote_volume=_add(a.quote_volume, b.quote_volume),
        first_price=first.first_price,
        first_time=first.first_time,
        last_price=last.last_price,
        last_time=last.last_time,
        high=high.high,
        high_time=high.high_time,
        low=low.low,
        low_time=low.low_time,
    )


def _times(table: pa.Table) -> pa.ChunkedArray:
    return pc.cast(table["trade_time"], pa.int64())


def _sum(values: pa.ChunkedArray) -> Decimal:
    wide = pc.cast(values, pa.decimal256(_SUM_PRECISION, values.type.scale))
    total = pc.sum(wide).as_py()
    return total if total is not None else Decimal(0)


def _sums(table: pa.Table) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """Return the sums of price, price², quantity and price × quantity of *table*."""
    price, quantity = table["price"], table["quantity"]
    if max(price.type.precision, quantity.type.precision) <= VECTOR_DIGITS:
        return (
            _sum(price),
            _sum(pc.multiply(price, price)),
            _sum(quantity),
            _sum(pc.multiply(price, quantity)),
        )
    prices, quantities = price.to_pylist(), quantity.to_pylist()  # too wide for decimal256
    with localcontext(EXACT):
        return (
            sum(prices, Decimal(0)),
            sum((p * p for p in prices), Decimal(0)),
            sum(quantities, Decimal(0)),
            sum((p * q for p, q in zip(prices, quantities, strict=True)), Decimal(0)),
        )


def _at_time(table: pa.Table, times: pa.ChunkedArray, t: int, *, last: bool) -> tuple[int, Decimal]:
    """Return the (id, price) of the trade at time *t* with the lowest (or highest) id."""
    rows = table.filter(pc.equal(times, t))
    ids = rows["trade_id"]
    trade_id = int((pc.max(ids) if last else pc.min(ids)).as_py())
    return trade_id, rows.filter(pc.equal(ids, trade_id))["price"][0].as_py()


def _reached(table: pa.Table, times: pa.ChunkedArray, price: Decimal) -> int:
    """Return the earliest time *price* was traded in *table*."""
    hits = pc.equal(table["price"], pa.scalar(price, table.schema.field("price").type))
    return int(pc.min(times.filter(hits)).as_py())


class Folder:
    """The :class:`Aggregate` of tables of trades (one row per trade id) fed in any order."""

    def __init__(self) -> None:
        self._count = 0
        self._sums: tuple[Decimal, ...] = ()
        self._first: tuple[int, int, Decimal] | None = None  # time, id, price
        self._last: tuple[int, int, Decimal] | None = None
        self._high: tuple[Decimal, int] | None = None  # price, earliest time
        self._low: tuple[Decimal, int] | None = None

    def add(self, table: pa.Table | pa.RecordBatch) -> None:
        """Fold *table*'s trades in."""
        if table.num_rows == 0:
            return
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        times = _times(table)
        t0, t1 = int(pc.min(times).as_py()), int(pc.max(times).as_py())
        first = (t0, *_at_time(table, times, t0, last=False))
        last = (t1, *_at_time(table, times, t1, last=True))
        high, low = pc.max(table["price"]).as_py(), pc.min(table["price"]).as_py()
        high_at = (high, _reached(table, times, high))
        low_at = (low, _reached(table, times, low))
        sums: tuple[Decimal, ...] = _sums(table)
        if self._sums:
            with localcontext(EXACT):
                sums = tuple(a + b for a, b in zip(self._sums, sums, strict=True))
        self._sums = sums
        self._count += table.num_rows
        self._first = first if self._first is None else min(self._first, first, key=_by_time)
        self._last = last if self._last is None else max(self._last, last, key=_by_time)
        self._high = high_at if self._high is None else max(self._high, high_at, key=_highest)
        self._low = low_at if self._low is None else min(self._low, low_at)

    def aggregate(self) -> Aggregate:
        """Return the aggregate of every trade added."""
        if self._first is None or self._last is None or self._high is None or self._low is None:
            return EMPTY
        price_sum, sq_sum, volume, quote = self._sums
        return Aggregate(
            count=self._count,
            price_sum=price_sum,
            price_sq_sum=sq_sum,
            volume=volume,
            quote_volume=quote,
            first_price=self._first[2],
            first_time=self._first[0],
            last_price=self._last[2],
            last_time=self._last[0],
            high=self._high[0],
            high_time=self._high[1],
            low=self._low[0],
            low_time=self._low[1],
        )


def _by_time(point: tuple[int, int, Decimal]) -> tuple[int, int]:
    return point[0], point[1]


def _highest(point: tuple[Decimal, int]) -> tuple[Decimal, int]:
    return point[0], -point[1]


def of_table(table: pa.Table) -> Aggregate:
    """Return the aggregate of *table*'s trades (one row per trade id, any order)."""
    folder = Folder()
    folder.add(table)
    return folder.aggregate()
