"""Sending an import's trades of days past the hot window straight to the cold tier.

With a cold tier configured (``TICKVAULT_COLD_URL``) and ``TICKVAULT_RETENTION_HOURS`` above
zero, a day whose every hour is past the retention cut would only be moved there by the
writer's next maintenance; :class:`ColdDays` stores it there at once through
:func:`tickvault.cold.store.store_trades`'s transaction (:func:`~tickvault.cold.store.store_day`,
exactly once per symbol and day, merged with the day's listed file, under the day's lock).

:func:`~tickvault.cold.store.store_day` takes a day's trades in trade-id order, and a repair
can bring a day's trades after later ones, so the day in progress is held here and sorted once,
as Arrow columns built chunk by chunk (about 33 bytes a trade, not a list of Python objects;
the store itself merges and verifies a row group at a time): memory is bounded by the busiest
single day, never by the range.
A day is flushed when a trade of a later day arrives and when the caller flushes (end of a file,
end of a repaired hole); the caller records a file as done only after that flush.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pyarrow as pa
from sqlalchemy import Engine

from tickvault.cold import parquet
from tickvault.cold.location import ColdLocation
from tickvault.cold.store import store_day, tidy
from tickvault.tick import Tick


def cold_before(now: datetime, retention_hours: int) -> date:
    """Return the first day still (partly) inside the hot window: every earlier day goes cold.

    The mover's rule: a day moves once every hour of it is before ``now - retention``.
    """
    return (now.astimezone(UTC) - timedelta(hours=retention_hours)).date()


def day_start_us(day: date) -> int:
    """Return the first µs of UTC *day*."""
    return int(datetime.combine(day, time(), UTC).timestamp()) * 1_000_000


@dataclass
class Flushed:
    """What flushing one day stored."""

    rows: int = 0  # trades handed to the cold tier
    added: int = 0  # of which were not there before


@dataclass
class ColdDays:
    """One symbol's trades before :attr:`before`, gathered a day at a time and stored cold."""

    engine: Engine
    location: ColdLocation
    symbol: str
    before: date
    _day: date | None = None
    _tables: list[pa.Table] = field(default_factory=list)
    _rows: int = 0

    @property
    def cut_us(self) -> int:
        """Return the first µs that stays hot."""
        return day_start_us(self.before)

    def split(self, ticks: Iterable[Tick]) -> tuple[list[Tick], list[Tick]]:
        """Return (cold, hot) of *ticks*, each in the given order."""
        cut = self.cut_us
        cold: list[Tick] = []
        hot: list[Tick] = []
        for tick in ticks:
            (cold if tick.trade_time < cut else hot).append(tick)
        return cold, hot

    def add(self, ticks: list[Tick]) -> Flushed:
        """Take cold *ticks* (ascending time); store each day a later trade closes."""
        done = Flushed()
        start = 0
        for i, tick in enumerate(ticks):
            day = datetime.fromtimestamp(tick.trade_time / 1_000_000, UTC).date()
            if day != self._day:
                self._hold(ticks[start:i])
                start = i
                self._add_flushed(done, self.flush())
                self._day = day
        self._hold(ticks[start:])
        return done

    @staticmethod
    def _add_flushed(total: Flushed, one: Flushed) -> None:
        total.rows += one.rows
        total.added += one.added

    def _hold(self, ticks: list[Tick]) -> None:
        if not ticks:
            return
        rows = [
            (t.trade_id, Decimal(t.price), Decimal(t.quantity), t.trade_time, t.is_buyer_maker)
            for t in ticks
        ]
        self._tables.append(parquet.table_of(rows))
        self._rows += len(rows)

    def flush(self) -> Flushed:
        """Store the day being gathered (if any) in the cold tier; return what it did."""
        if self._day is None or not self._tables:
            self._tables, self._rows = [], 0
            return Flushed()
        table = parquet.concat(self._tables)
        day, rows = self._day, self._rows
        self._tables, self._rows = [], 0
        table = parquet.sort_by_id(table)
        with self.engine.begin() as conn:
            stored = store_day(
                conn, self.engine, self.location, self.symbol, day, table.schema, [table]
            )
        tidy(self.engine, self.location)
        return Flushed(rows, 0 if stored is None else stored.added)
