"""The verdict of ``make chaos``: what PostgreSQL holds against what the replay released.

Expected trades come from the real recordings through an independent reader
(``tests/support/recordings.py``), shifted as the replay's ``--loop`` shifts each pass:
pass ``k`` adds ``k`` times the recording's id span (per symbol) to ids and ``k`` times its
time span (both recordings together, first to last event time plus 1 ms) to times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, text
from tests.support.recordings import RecordedTrade, all_recorded_trades

_STORED = text(
    "SELECT trade_id, price::text, quantity::text,"
    " (extract(epoch FROM trade_time) * 1000000)::bigint, is_buyer_maker"
    " FROM trades WHERE symbol = :s"
)
_DOUBLED = text(
    "SELECT count(*) FROM (SELECT symbol, trade_id FROM trades GROUP BY 1, 2"
    " HAVING count(*) > 1) AS d"
)
_GAP_ROWS = text(
    "SELECT found_by, symbol, first_id, last_id, detected_at, filled_at FROM trade_gaps"
    " ORDER BY symbol, first_id"
)
_HIGHEST = text("SELECT symbol, max(trade_id) FROM trades GROUP BY 1")
_CANDLES_FROM_TRADES = """
SELECT symbol, date_trunc('minute', trade_time) AS minute,
       (array_agg(price ORDER BY trade_time, trade_id))[1] AS open, max(price) AS high,
       min(price) AS low, (array_agg(price ORDER BY trade_time DESC, trade_id DESC))[1] AS close,
       sum(quantity) AS volume, count(*)::int AS trades, sum(price * quantity) AS quote_volume,
       sum(price) AS price_sum, sum(price * price) AS price_sq_sum
FROM trades GROUP BY 1, 2
"""
_CANDLES_STORED = """
SELECT symbol, minute, open, high, low, close, volume, trades, quote_volume, price_sum,
       price_sq_sum FROM candles_1m
"""
_LEVELS_FROM_TRADES = """
SELECT symbol, date_trunc('minute', trade_time), price, count(*)::int, sum(quantity)
FROM trades GROUP BY 1, 2, 3
"""
_LEVELS_STORED = "SELECT symbol, minute, price, trades, volume FROM price_levels_1m"


def _both_ways(a: str, b: str) -> str:
    return (
        f"SELECT (SELECT count(*) FROM ({a} EXCEPT {b}) x)"
        f" + (SELECT count(*) FROM ({b} EXCEPT {a}) y)"
    )


@dataclass
class Verdict:
    """Every outcome the chaos run checks, and the numbers behind it."""

    expected: int = 0
    stored: int = 0
    missing: dict[str, int] = field(default_factory=dict)
    unexpected: int = 0
    doubled: int = 0
    wrong_values: int = 0
    wrong_times: int = 0
    candle_mismatches: int = 0
    level_mismatches: int = 0
    gaps: dict[str, int] = field(default_factory=dict)  # status -> rows
    gaps_by_finder: dict[str, int] = field(default_factory=dict)
    audited: list[tuple[str, int, int, str]] = field(default_factory=list)  # holes none recorded
    audited_in_open: int = 0  # auditor holes inside collector gaps still open when found
    audited_tail: list[tuple[str, int, int, str]] = field(default_factory=list)  # see check

    @property
    def ok(self) -> bool:
        """Return whether nothing was lost, doubled or wrong, and every gap is filled."""
        return (
            self.expected > 0
            and not any(self.missing.values())
            and not self.unexpected
            and not self.doubled
            and not self.wrong_values
            and not self.wrong_times
            and not self.candle_mismatches
            and not self.level_mismatches
            and set(self.gaps) <= {"filled"}
        )


@dataclass(frozen=True)
class Loop:
    """How the replay's ``--loop`` shifts the recordings."""

    trades: dict[str, list[RecordedTrade]]
    time_span_us: int

    @classmethod
    def of_recordings(cls) -> Loop:
        trades = {
            s: sorted(ts, key=lambda t: t.trade_id) for s, ts in all_recorded_trades().items()
        }
        for ts in trades.values():  # ids are dense: index = id - first id
            assert ts[-1].trade_id - ts[0].trade_id + 1 == len(ts)
        events = [t.event_time_ms for ts in trades.values() for t in ts]
        return cls(trades, (max(events) - min(events)) * 1000 + 1000)

    def expected(self, symbol: str, trade_id: int) -> tuple[str, str, int, bool]:
        """Return price, quantity, trade time (µs) and maker flag of *trade_id* in any pass."""
        recorded = self.trades[symbol]
        first = recorded[0].trade_id
        k, index = divmod(trade_id - first, len(recorded))
        t = recorded[index]
        return t.price, t.quantity, t.trade_time_ms * 1000 + k * self.time_span_us, t.is_buyer_maker


def check(
    engine: Engine, released: dict[str, tuple[int, int]], captured: dict[str, int] | None = None
) -> Verdict:
    """Compare PostgreSQL with every trade id the replay released, per symbol.

    *captured* (:func:`highest_stored` before the final audit) tells the auditor's holes
    above every id the collectors captured, released as they stopped, from the others.
    """
    loop = Loop.of_recordings()
    verdict = Verdict()
    with engine.connect() as conn:
        for symbol, (first, last) in released.items():
            verdict.expected += last - first + 1
            seen: set[int] = set()
            for trade_id, price, qty, when, maker in conn.execute(_STORED, {"s": symbol}):
                verdict.stored += 1
                if not first <= trade_id <= last:
                    verdict.unexpected += 1
                    continue
                seen.add(trade_id)
                want = loop.expected(symbol, trade_id)
                if (price, qty, bool(maker)) != (want[0], want[1], want[3]):
                    verdict.wrong_values += 1
                if int(when) != want[2]:
                    verdict.wrong_times += 1
            verdict.missing[symbol] = (last - first + 1) - len(seen)
        verdict.doubled = int(conn.execute(_DOUBLED).scalar_one())
        verdict.candle_mismatches = int(
            conn.execute(text(_both_ways(_CANDLES_FROM_TRADES, _CANDLES_STORED))).scalar_one()
        )
        verdict.level_mismatches = int(
            conn.execute(text(_both_ways(_LEVELS_FROM_TRADES, _LEVELS_STORED))).scalar_one()
        )
        verdict.gaps = {
            str(s): int(n)
            for s, n in conn.execute(text("SELECT status, count(*) FROM trade_gaps GROUP BY 1"))
        }
        verdict.gaps_by_finder = {
            str(s): int(n)
            for s, n in conn.execute(text("SELECT found_by, count(*) FROM trade_gaps GROUP BY 1"))
        }
        rows_ = [GapRow(*row) for row in conn.execute(_GAP_ROWS)]
    holes = [r for r in rows_ if r.found_by == "auditor"]
    silent = unrecorded(rows_)
    verdict.audited_in_open = len(holes) - len(silent)
    tops = captured or {}
    for r in silent:
        tail = r.symbol in tops and r.first_id > tops[r.symbol]
        (verdict.audited_tail if tail else verdict.audited).append(
            (r.symbol, r.first_id, r.last_id, f"{r.detected_at:%H:%M:%S.%f}"[:-3])
        )
    return verdict


def highest_stored(engine: Engine) -> dict[str, int]:
    """Return the highest trade id PostgreSQL holds per symbol."""
    with engine.connect() as conn:
        return {str(s): int(top) for s, top in conn.execute(_HIGHEST)}


@dataclass(frozen=True)
class GapRow:
    """One ``trade_gaps`` row."""

    found_by: str
    symbol: str
    first_id: int
    last_id: int
    detected_at: datetime
    filled_at: datetime | None


def unrecorded(gaps: list[GapRow]) -> list[GapRow]:
    """Return the auditor's holes no collector recorded: not inside the collector gaps
    still open when the auditor found the hole.

    A collector stopped (or killed) in the middle of a multi-page backfill leaves its gap
    open in PostgreSQL with only its tail missing; the auditor records that tail as a range
    of its own (another ``trade_gaps`` key) and closes the collector's gap. Such a hole was
    recorded. One inside a collector gap the collector itself had already closed
    (``filled_at`` before the hole was found) was not.
    """
    silent = []
    for hole in (g for g in gaps if g.found_by == "auditor"):
        open_then = sorted(
            (g.first_id, g.last_id)
            for g in gaps
            if g.found_by == "collector"
            and g.symbol == hole.symbol
            and (g.filled_at is None or g.filled_at >= hole.detected_at)
        )
        reached = hole.first_id - 1  # every id up to here lies in such a gap
        for first, last in open_then:
            if first <= reached + 1:
                reached = max(reached, last)
        if reached < hole.last_id:
            silent.append(hole)
    return silent


class NotExact(Exception):
    """PostgreSQL does not hold exactly the trades it should."""


def require_exact(engine: Engine, released: dict[str, tuple[int, int]]) -> Verdict:
    """Check as :func:`check` does; raise :class:`NotExact` naming every failed check."""
    verdict = check(engine, released)
    if not verdict.ok:
        failed = [f"{label}: {value}" for label, value, passed in rows(verdict) if not passed]
        raise NotExact("the stored trades are not exact: " + "; ".join(failed))
    return verdict


def rows(v: Verdict) -> list[tuple[str, Any, bool]]:
    """Return the outcome table: check, value, passed."""
    return [
        ("trade ids expected (released by the replay)", v.expected, v.expected > 0),
        ("trades stored", v.stored, True),
        ("trade ids missing", sum(v.missing.values()), not any(v.missing.values())),
        ("trade ids stored twice", v.doubled, v.doubled == 0),
        ("trades outside the released ids", v.unexpected, v.unexpected == 0),
        ("price/quantity/maker not byte-equal", v.wrong_values, v.wrong_values == 0),
        ("trade times not exact", v.wrong_times, v.wrong_times == 0),
        ("candles_1m rows != recomputed", v.candle_mismatches, v.candle_mismatches == 0),
        ("price_levels_1m rows != recomputed", v.level_mismatches, v.level_mismatches == 0),
        ("gap records by status", v.gaps, set(v.gaps) <= {"filled"}),
        ("gap records by finder", v.gaps_by_finder, True),
    ]
