"""Answers over both tiers: PostgreSQL (hot) and the Parquet files of the cold tier.

When no cold file meets a query's window, the query runs exactly as before
(:mod:`tickvault_api.queries`). When one does, the answer is computed from the raw trades of
both tiers, merged by (time, id) with one row per trade id (a late trade the cold tier holds
already is counted once), by the pure functions below: the same definitions the SQL uses, so
an answer is identical whichever tier its trades live in. ``range`` and ``stats`` answer the
cold files that lie wholly inside the window from their recorded aggregates instead
(:mod:`tickvault_api.cold_totals`), so a year of cold days costs a year of manifest rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal, localcontext
from functools import partial

import pyarrow as pa
from sqlalchemy import Connection

from tickvault.aggregates import EMPTY, EXACT, Aggregate, combine, of_table
from tickvault.cold import manifest, parquet, read
from tickvault.cold.location import ColdLocation
from tickvault.cold.read import Direction
from tickvault.tick import MAX_TIME_US, MIN_TIME_US
from tickvault_api import cold_stats, cold_totals, queries
from tickvault_api.cold_reads import ColdReads, page_rows, rows_of, sorted_rows, table_of_rows
from tickvault_api.median import median_ranks
from tickvault_api.params import Window
from tickvault_api.rows import CandleRow, TradeRow

EXPORT_BATCH = 5000
BEFORE, AFTER = Direction.BEFORE, Direction.AFTER


def merge_rows(*parts: Iterable[TradeRow]) -> list[TradeRow]:
    """Return the trades of all parts by (time, id), one per trade id."""
    seen: set[int] = set()
    out = []
    for row in sorted((r for p in parts for r in p), key=lambda r: (r.trade_time, r.trade_id)):
        if row.trade_id not in seen:
            seen.add(row.trade_id)
            out.append(row)
    return out


def aggregate_rows(rows: list[TradeRow]) -> Aggregate:
    """Return the exact aggregates of *rows* (sorted by time, id), as the SQL computes them."""
    if not rows:
        return EMPTY
    with localcontext(EXACT):
        price_sum = sum((r.price for r in rows), Decimal(0))
        sq_sum = sum((r.price * r.price for r in rows), Decimal(0))
        volume = sum((r.quantity for r in rows), Decimal(0))
        quote = sum((r.price * r.quantity for r in rows), Decimal(0))
    high = min(rows, key=lambda r: (-r.price, r.trade_time))
    low = min(rows, key=lambda r: (r.price, r.trade_time))
    return Aggregate(
        count=len(rows),
        price_sum=price_sum,
        price_sq_sum=sq_sum,
        volume=volume,
        quote_volume=quote,
        first_price=rows[0].price,
        first_time=rows[0].trade_time,
        last_price=rows[-1].price,
        last_time=rows[-1].trade_time,
        high=high.price,
        high_time=high.trade_time,
        low=low.price,
        low_time=low.trade_time,
    )


def median_of(rows: list[TradeRow]) -> tuple[Decimal, Decimal] | None:
    """Return the two middle prices of *rows* (equal for an odd count)."""
    if not rows:
        return None
    prices = sorted(r.price for r in rows)
    k1, k2 = median_ranks(len(prices))
    return prices[k1 - 1], prices[k2 - 1]


def candles_of(rows: list[TradeRow], step_us: int) -> list[CandleRow]:
    """Return the OHLCV buckets of width *step_us* of *rows* (sorted by time, id)."""
    buckets: dict[int, list[TradeRow]] = {}
    for r in rows:
        buckets.setdefault(r.trade_time - r.trade_time % step_us, []).append(r)
    out = []
    with localcontext(EXACT):
        for start, rs in sorted(buckets.items()):
            out.append(
                CandleRow(
                    start,
                    rs[0].price,
                    max(r.price for r in rs),
                    min(r.price for r in rs),
                    rs[-1].price,
                    sum((r.quantity for r in rs), Decimal(0)),
                    len(rs),
                )
            )
    return out


def _merged(cold: pa.Table | None, hot: list[TradeRow]) -> pa.Table | list[TradeRow]:
    """Return both tiers' trades by (time, id), one per id: a table, or rows when their
    decimals cannot share one (mixed scales, or too wide for the vectorised sums)."""
    try:
        hot_table = table_of_rows(hot)
        if cold is None or hot_table is None:
            merged = cold if hot_table is None else hot_table
        else:
            merged = parquet.merge(cold, hot_table)
    except parquet.ColdFormatError:
        return merge_rows(rows_of(cold), hot)
    if merged is None or merged.num_rows == 0:
        return []
    if not cold_stats.fits(merged):
        return merge_rows(rows_of(merged))
    return parquet.sort_by_time(parquet.sort_by_id(merged))


def _aggregate_of(trades: pa.Table | list[TradeRow]) -> Aggregate:
    return aggregate_rows(trades) if isinstance(trades, list) else of_table(trades)


def _median_of(trades: pa.Table | list[TradeRow]) -> tuple[Decimal, Decimal] | None:
    return median_of(trades) if isinstance(trades, list) else cold_stats.median_table(trades)


class Tiered:
    """The API's queries over both tiers (the cold one optional)."""

    def __init__(self, cold: ColdReads | None) -> None:
        self.cold = cold

    def trade_before(self, conn: Connection, symbol: str, end_us: int) -> TradeRow | None:
        """Return the last trade strictly before *end_us* in either tier (the hot tier is
        searched only as far back as the cold answer)."""
        cold = None if self.cold is None else self.cold.nearest(conn, symbol, end_us, BEFORE)
        reach = None if cold is None else end_us - cold.trade_time
        hot = queries.trade_before(conn, symbol, end_us, reach)
        found = [r for r in (hot, cold) if r is not None]
        return max(found, key=lambda r: (r.trade_time, r.trade_id)) if found else None

    def trade_nearest(self, conn: Connection, symbol: str, at_us: int) -> TradeRow | None:
        """Return the trade closest to *at_us* in either tier; on a tie the earlier one (the
        hot tier is searched only as far as the nearer cold answer)."""
        if self.cold is None:
            return queries.trade_nearest(conn, symbol, at_us)
        cold = [
            r
            for r in (
                self.cold.nearest(conn, symbol, at_us + 1, BEFORE),
                self.cold.nearest(conn, symbol, at_us, AFTER),
            )
            if r is not None
        ]
        reach = min((abs(r.trade_time - at_us) for r in cold), default=None)
        hot = queries.trade_nearest(conn, symbol, at_us, reach)
        found = [r for r in (hot, *cold) if r is not None]
        if not found:
            return None
        return min(found, key=lambda r: (abs(r.trade_time - at_us), r.trade_time, r.trade_id))

    def history_page(
        self,
        conn: Connection,
        symbol: str,
        window: Window,
        after: tuple[int, int] | None,
        limit: int,
    ) -> list[TradeRow]:
        """Return up to *limit* trades of *window* after the keyset position, from both tiers."""
        hot = queries.history_page(conn, symbol, window, after, limit)
        if self.cold is None:
            return hot
        start = window.start if after is None else max(window.start, after[0])
        files = self.cold.files(conn, symbol, start, window.end)
        if not files:
            return hot
        position = after if after is not None else (window.start, -1)
        cold = self.cold.run(page_rows, files, start, window.end, position, limit)
        if len(cold) >= limit:  # the cold rows end before the window does: so must the page
            last = (cold[limit - 1].trade_time, cold[limit - 1].trade_id)
            hot = [r for r in hot if (r.trade_time, r.trade_id) <= last]
        return merge_rows(cold, hot)[:limit]

    def _files(
        self, conn: Connection, symbol: str, window: Window | None
    ) -> list[manifest.ColdFile]:
        """Return the cold files that meet *window* (none: the hot queries answer alone)."""
        if self.cold is None:
            return []
        start, end = (None, None) if window is None else (window.start, window.end)
        return self.cold.files(conn, symbol, start, end)

    def _hot(self, conn: Connection, symbol: str, window: Window | None) -> list[TradeRow]:
        """Return every hot trade of *window*, by (time, id)."""
        return [
            r
            for batch in queries.history_batches(
                conn, symbol, window or Window(MIN_TIME_US, MAX_TIME_US), None, EXPORT_BATCH
            )
            for r in batch
        ]

    def _totals(
        self, conn: Connection, symbol: str, window: Window | None, median: bool
    ) -> tuple[Aggregate, tuple[Decimal, Decimal] | None]:
        """Return the aggregates of *window* over both tiers (and its two middle prices when
        *median*): cold files answered whole from their aggregates, the others read."""
        assert self.cold is not None
        files = self._files(conn, symbol, window)
        start, end = (None, None) if window is None else (window.start, window.end)
        hot = self._hot(conn, symbol, window)
        whole, read_files = cold_totals.split(files, window, cold_totals.hot_days(hot))
        return self.cold.run(_totals_of, whole, read_files, start, end, hot, median)

    def aggregate(self, conn: Connection, symbol: str, window: Window | None) -> Aggregate:
        """Return the exact aggregates of *window* over both tiers."""
        if not self._files(conn, symbol, window):
            return queries.aggregate(conn, symbol, window)
        return self._totals(conn, symbol, window, False)[0]

    def stats(
        self, conn: Connection, symbol: str, window: Window | None
    ) -> tuple[Aggregate, tuple[Decimal, Decimal] | None]:
        """Return the aggregates and the two middle prices of *window* over both tiers."""
        if not self._files(conn, symbol, window):
            return queries.stats(conn, symbol, window)
        return self._totals(conn, symbol, window, True)

    def candles(
        self, conn: Connection, symbol: str, step_us: int, start_us: int, end_us: int
    ) -> list[CandleRow]:
        """Return the OHLCV buckets over both tiers."""
        window = Window(start_us, end_us)
        files = self._files(conn, symbol, window)
        if not files:
            return queries.candles(conn, symbol, step_us, start_us, end_us)
        assert self.cold is not None
        hot = self._hot(conn, symbol, window)
        return self.cold.run(_candles_of, files, start_us, end_us, hot, step_us)

    def history_batches(
        self,
        conn: Connection,
        symbol: str,
        window: Window,
        after: tuple[int, int] | None,
        size: int,
    ) -> Iterator[list[TradeRow]]:
        """Yield every trade of *window* after the keyset position, *size* at a time, from
        both tiers (the hot tier alone from a server-side cursor, as before)."""
        if self.cold is not None:
            start = window.start if after is None else max(window.start, after[0])
            if self.cold.files(conn, symbol, start, window.end):
                rows = self.history_page(conn, symbol, window, after, 2**62)
                return iter([rows[i : i + size] for i in range(0, len(rows), size)])
        return queries.history_batches(conn, symbol, window, after, size)


def _totals_of(
    location: ColdLocation,
    whole: list[manifest.ColdFile],
    files: list[manifest.ColdFile],
    start: int | None,
    end: int | None,
    hot: list[TradeRow],
    median: bool,
) -> tuple[Aggregate, tuple[Decimal, Decimal] | None]:
    """Return the aggregates (and the two middle prices when *median*) of the *whole* files,
    the trades of *files* in ``[start, end)`` and the *hot* ones (a cold task)."""
    cold = read.read_trades(location, files, start, end) if files else None
    rest = _merged(cold, hot)
    if median and not whole:
        return _aggregate_of(rest), _median_of(rest)
    agg = combine([_aggregate_of(rest), *cold_totals.aggregates(whole)])
    if not median:
        return agg, None
    levels = cold_totals.points(rest)
    pair = cold_totals.median_pair(agg.count, whole, levels, partial(read.price_levels, location))
    return agg, pair


def _candles_of(
    location: ColdLocation,
    files: list[manifest.ColdFile],
    start: int,
    end: int,
    hot: list[TradeRow],
    step_us: int,
) -> list[CandleRow]:
    """Return the OHLCV buckets of the trades of *files* in ``[start, end)`` and the *hot*
    ones (a cold task)."""
    return candles_of(merge_rows(sorted_rows(location, files, start, end), hot), step_us)
