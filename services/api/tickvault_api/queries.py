"""Every SQL statement the API runs, and the thin functions that run them.

Statements read ``trades`` (raw, hourly partitions), ``candles_1m`` and ``price_levels_1m``.
A window ``[start, end)`` is split into the whole minutes inside it, answered from the
one-minute tables, and the partial minutes at its edges, answered from ``trades``; both
parts are exact, so the combined answer equals a computation over raw trades.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from tickvault.aggregates import Aggregate
from tickvault.tick import MAX_TIME_US, MIN_TIME_US, datetime_to_us, us_to_datetime
from tickvault_api import median
from tickvault_api.params import MINUTE_US, Window, ceil_to, floor_to
from tickvault_api.rows import CandleRow, TradeRow

_TRADE_COLUMNS = "trade_id, price, quantity, trade_time, is_buyer_maker"

# "The trade just before/after T" looks in widening windows: a bounded one lets PostgreSQL
# prune to a partition or two at plan time (an unbounded one plans every hourly partition,
# ~1 s with thousands of them), and within a window that holds a trade the answer is the
# same as the unbounded one. The last step is unbounded, so nothing is ever missed.
_LOOKS = (3_600_000_000, 86_400_000_000, None)  # 1 hour, 1 day, everything (µs)
_BEFORE = (
    f"SELECT {_TRADE_COLUMNS} FROM trades WHERE symbol = :symbol AND trade_time < :t {{bound}}"
    "ORDER BY trade_time DESC, trade_id DESC LIMIT 1"
)
_AT_OR_BEFORE = (
    f"SELECT {_TRADE_COLUMNS} FROM trades WHERE symbol = :symbol AND trade_time <= :t {{bound}}"
    "ORDER BY trade_time DESC, trade_id DESC LIMIT 1"
)
_AFTER = (
    f"SELECT {_TRADE_COLUMNS} FROM trades WHERE symbol = :symbol AND trade_time > :t {{bound}}"
    "ORDER BY trade_time, trade_id LIMIT 1"
)
_LOWER = "AND trade_time >= :bound "
_UPPER = "AND trade_time <= :bound "
_SEARCHES = {
    sql: tuple(text(sql.format(bound=b)) for b in (bound, ""))
    for sql, bound in ((_BEFORE, _LOWER), (_AT_OR_BEFORE, _LOWER), (_AFTER, _UPPER))
}
_HISTORY_ALL = (
    f"SELECT {_TRADE_COLUMNS} FROM trades WHERE symbol = :symbol "
    "AND trade_time >= :start AND trade_time < :end "
    # Implied by the row comparison, but only a plain bound lets the planner prune partitions.
    "AND trade_time >= :after_time "
    "AND (trade_time, trade_id) > (:after_time, :after_id) "
    "ORDER BY trade_time, trade_id"
)
_HISTORY = text(_HISTORY_ALL + " LIMIT :limit")
_EXPORT = text(_HISTORY_ALL)

# Rows of one shape from both sources: a candle per whole minute, a trade per edge trade.
_PARTS = """
    SELECT trades AS n, price_sum AS s, price_sq_sum AS sq, volume AS v, quote_volume AS qv,
           open AS o, open_time AS ot, open_trade_id AS oi,
           close AS c, close_time AS ct, close_trade_id AS ci,
           high AS h, high_time AS ht, low AS lo, low_time AS lt
    FROM candles_1m WHERE symbol = :symbol AND minute >= :m1 AND minute < :m2
    UNION ALL
    SELECT 1, price, price * price, quantity, price * quantity,
           price, trade_time, trade_id, price, trade_time, trade_id,
           price, trade_time, price, trade_time
    FROM trades WHERE symbol = :symbol
      AND ((trade_time >= :start AND trade_time < :m1) OR (trade_time >= :m2 AND trade_time < :end))
"""
_AGGREGATE = text(
    f"WITH r AS MATERIALIZED ({_PARTS}) "
    "SELECT a.n, a.s, a.sq, a.v, a.qv, f.o, f.ot, l.c, l.ct, hi.h, hi.ht, lw.lo, lw.lt "
    "FROM (SELECT coalesce(sum(n), 0) AS n, sum(s) AS s, sum(sq) AS sq, sum(v) AS v, "
    "             sum(qv) AS qv FROM r) a "
    "LEFT JOIN LATERAL (SELECT o, ot FROM r ORDER BY ot, oi LIMIT 1) f ON true "
    "LEFT JOIN LATERAL (SELECT c, ct FROM r ORDER BY ct DESC, ci DESC LIMIT 1) l ON true "
    "LEFT JOIN LATERAL (SELECT h, ht FROM r ORDER BY h DESC, ht LIMIT 1) hi ON true "
    "LEFT JOIN LATERAL (SELECT lo, lt FROM r ORDER BY lo, lt LIMIT 1) lw ON true"
)
_SPANS = text(
    "SELECT minute, low, high, trades FROM candles_1m "
    "WHERE symbol = :symbol AND minute >= :m1 AND minute < :m2"
)
_EDGE_PRICES = text(
    "SELECT price FROM trades WHERE symbol = :symbol "
    "AND ((trade_time >= :start AND trade_time < :m1) OR (trade_time >= :m2 AND trade_time < :end))"
)
_LEVELS_BELOW = text(
    "SELECT coalesce(sum(trades), 0) FROM price_levels_1m "
    "WHERE symbol = :symbol AND minute = ANY(:minutes) AND price < :low"
)
_LEVELS_IN_BAND = text(
    "SELECT price, sum(trades) FROM price_levels_1m "
    "WHERE symbol = :symbol AND minute = ANY(:minutes) AND price >= :low AND price <= :high "
    "GROUP BY price"
)
_CANDLES_FROM_MINUTES = text(
    "SELECT date_bin(:step, minute, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS bucket, "
    "(array_agg(open ORDER BY minute))[1], max(high), min(low), "
    "(array_agg(close ORDER BY minute DESC))[1], sum(volume), sum(trades) "
    "FROM candles_1m WHERE symbol = :symbol AND minute >= :start AND minute < :end "
    "GROUP BY bucket ORDER BY bucket"
)
_CANDLES_FROM_TRADES = text(
    "SELECT date_bin(:step, trade_time, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS bucket, "
    "(array_agg(price ORDER BY trade_time, trade_id))[1], max(price), min(price), "
    "(array_agg(price ORDER BY trade_time DESC, trade_id DESC))[1], sum(quantity), count(*) "
    "FROM trades WHERE symbol = :symbol AND trade_time >= :start AND trade_time < :end "
    "GROUP BY bucket ORDER BY bucket"
)
_GAPS = text(
    "SELECT symbol, first_id, last_id, status, found_by, detected_at, filled_at "
    "FROM trade_gaps WHERE (CAST(:symbol AS text) IS NULL OR symbol = :symbol) "
    "ORDER BY detected_at DESC, id DESC LIMIT :limit"
)


def _us(value: datetime | None) -> int | None:
    return None if value is None else datetime_to_us(value)


def _trade(row: Any) -> TradeRow:
    return TradeRow(
        trade_id=row[0],
        price=row[1],
        quantity=row[2],
        trade_time=datetime_to_us(row[3]),
        is_buyer_maker=row[4],
    )


def _nearest_one(
    conn: Connection, sql: str, symbol: str, t_us: int, reach_us: int | None = None
) -> TradeRow | None:
    """Run one of the before/after searches in widening windows around *t_us*, or in the one
    window of *reach_us* (inclusive) when a trade that near is known elsewhere."""
    bounded, unbounded = _SEARCHES[sql]
    step = -1 if sql is not _AFTER else 1
    for look in _LOOKS if reach_us is None else (reach_us,):
        params: dict[str, Any] = {"symbol": symbol, "t": us_to_datetime(t_us)}
        query = unbounded
        if look is not None:
            try:
                params["bound"] = us_to_datetime(t_us + step * look)
                query = bounded
            except OverflowError:  # near datetime's limits: only the unbounded search is left
                if reach_us is None:
                    continue
        row = conn.execute(query, params).first()
        if row is not None:
            return _trade(row)
    return None


def trade_before(
    conn: Connection, symbol: str, end_us: int, reach_us: int | None = None
) -> TradeRow | None:
    """Return the last trade strictly before *end_us* (ties by trade id); only one at least
    ``end - reach`` when *reach_us* is given."""
    return _nearest_one(conn, _BEFORE, symbol, end_us, reach_us)


def trade_nearest(
    conn: Connection, symbol: str, at_us: int, reach_us: int | None = None
) -> TradeRow | None:
    """Return the trade closest to *at_us*; on equal distance the earlier one; only one at
    most *reach_us* away when it is given."""
    candidates = [
        r
        for r in (
            _nearest_one(conn, _AT_OR_BEFORE, symbol, at_us, reach_us),
            _nearest_one(conn, _AFTER, symbol, at_us, reach_us),
        )
        if r is not None
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda r: (abs(r.trade_time - at_us), r.trade_time))


def _history_params(symbol: str, window: Window, after: tuple[int, int] | None) -> dict[str, Any]:
    after_time, after_id = after if after is not None else (window.start, -1)
    return {
        "symbol": symbol,
        "start": us_to_datetime(window.start),
        "end": us_to_datetime(window.end),
        "after_time": us_to_datetime(after_time),
        "after_id": after_id,
    }


def history_page(
    conn: Connection, symbol: str, window: Window, after: tuple[int, int] | None, limit: int
) -> list[TradeRow]:
    """Return up to *limit* trades of *window* after the (time, id) keyset position."""
    rows = conn.execute(_HISTORY, {**_history_params(symbol, window, after), "limit": limit})
    return [_trade(r) for r in rows]


def history_batches(
    conn: Connection, symbol: str, window: Window, after: tuple[int, int] | None, size: int
) -> Iterator[list[TradeRow]]:
    """Yield every trade of *window* after the keyset position, *size* at a time.

    The rows come from a server-side cursor (``yield_per``): memory stays at one batch
    however many trades the window holds, and each fetch is its own statement, bounded by
    the statement timeout.
    """
    result = conn.execute(
        _EXPORT.execution_options(yield_per=size), _history_params(symbol, window, after)
    )
    try:
        for batch in result.partitions(size):
            yield [_trade(r) for r in batch]
    finally:
        result.close()


def split(window: Window | None) -> dict[str, datetime]:
    """Return the bounds of the edge and whole-minute parts of *window* (None: everything)."""
    if window is None:
        start = m1 = MIN_TIME_US
        m2 = end = MAX_TIME_US
    else:
        start, end = window.start, window.end
        m1, m2 = ceil_to(start, MINUTE_US), floor_to(end, MINUTE_US)
        if m1 > m2:  # no whole minute inside: all of it comes from trades
            m1 = m2 = end
    return {
        "start": us_to_datetime(start),
        "m1": us_to_datetime(m1),
        "m2": us_to_datetime(m2),
        "end": us_to_datetime(end),
    }


def aggregate(conn: Connection, symbol: str, window: Window | None) -> Aggregate:
    """Return the exact aggregates of *window* (None: everything retained)."""
    row = conn.execute(_AGGREGATE, {"symbol": symbol, **split(window)}).one()
    return Aggregate(
        count=int(row[0]),
        price_sum=row[1],
        price_sq_sum=row[2],
        volume=row[3],
        quote_volume=row[4],
        first_price=row[5],
        first_time=_us(row[6]),
        last_price=row[7],
        last_time=_us(row[8]),
        high=row[9],
        high_time=_us(row[10]),
        low=row[11],
        low_time=_us(row[12]),
    )


def stats(
    conn: Connection, symbol: str, window: Window | None
) -> tuple[Aggregate, tuple[Decimal, Decimal] | None]:
    """Return the aggregates of *window* and its two middle prices, on one connection."""
    agg = aggregate(conn, symbol, window)
    return agg, median_pair(conn, symbol, window, agg.count)


def median_pair(
    conn: Connection, symbol: str, window: Window | None, count: int
) -> tuple[Decimal, Decimal] | None:
    """Return the two middle prices of *window* (equal for an odd count), exactly."""
    if count <= 0:
        return None
    k1, k2 = median.median_ranks(count)
    bounds = {"symbol": symbol, **split(window)}
    spans = [median.Span(r[0], r[1], r[2], int(r[3])) for r in conn.execute(_SPANS, bounds)]
    edges = [r[0] for r in conn.execute(_EDGE_PRICES, bounds)]
    band = median.band(spans, [(p, 1) for p in edges], k1, k2)
    below = band.below_whole  # counts the edge trades under the band too
    if band.straddling:
        below += int(
            conn.execute(
                _LEVELS_BELOW,
                {"symbol": symbol, "minutes": list(band.straddling), "low": band.low},
            ).scalar_one()
        )
    levels: list[tuple[Decimal, int]] = [(p, 1) for p in edges if band.low <= p <= band.high]
    if band.overlapping:
        rows = conn.execute(
            _LEVELS_IN_BAND,
            {
                "symbol": symbol,
                "minutes": list(band.overlapping),
                "low": band.low,
                "high": band.high,
            },
        )
        levels += [(r[0], int(r[1])) for r in rows]
    return median.kth(below, levels, k1), median.kth(below, levels, k2)


def candles(
    conn: Connection, symbol: str, step_us: int, start_us: int, end_us: int
) -> list[CandleRow]:
    """Return the OHLCV buckets of width *step_us* starting in ``[start_us, end_us)``."""
    statement = _CANDLES_FROM_TRADES if step_us < MINUTE_US else _CANDLES_FROM_MINUTES
    rows = conn.execute(
        statement,
        {
            "symbol": symbol,
            "step": timedelta(microseconds=step_us),
            "start": us_to_datetime(start_us),
            "end": us_to_datetime(end_us),
        },
    )
    return [CandleRow(datetime_to_us(r[0]), r[1], r[2], r[3], r[4], r[5], int(r[6])) for r in rows]


def gaps(conn: Connection, symbol: str | None, limit: int) -> list[dict[str, Any]]:
    """Return the most recently detected gaps (of one symbol, or all)."""
    rows = conn.execute(_GAPS, {"symbol": symbol, "limit": limit})
    return [
        {
            "symbol": r[0],
            "first_id": r[1],
            "last_id": r[2],
            "status": r[3],
            "found_by": r[4],
            "detected_at": _us(r[5]),
            "filled_at": _us(r[6]),
        }
        for r in rows
    ]
