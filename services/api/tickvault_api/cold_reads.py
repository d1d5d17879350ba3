"""The API's reads of the cold tier: off the gevent loop, and ``unavailable`` when it fails.

Every computation over cold trades, the Parquet read and what is computed from it, is a task
of :mod:`tickvault_api.cold_process`: it runs in a reader process of the worker at the lowest
CPU priority, so the loop's greenlets, ``latest`` and the live streams, never wait on it. A
failing or silent store, or a reader gone, is :class:`~tickvault_api.errors.Unavailable` with
the reason, never a shorter answer.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from tickvault.cold import manifest, parquet, read
from tickvault.cold.location import ColdLocation, open_location
from tickvault.cold.read import Direction, day_of, listed_files
from tickvault.config import Settings
from tickvault_api.cold_process import ColdProcesses, Task
from tickvault_api.rows import TradeRow

T = TypeVar("T")


def rows_of(table: pa.Table | None) -> list[TradeRow]:
    """Return the trades of a cold table as API rows."""
    if table is None or table.num_rows == 0:
        return []
    times = pc.cast(table["trade_time"], pa.int64()).to_pylist()
    return [
        TradeRow(i, p, q, t, m)
        for i, p, q, t, m in zip(
            table["trade_id"].to_pylist(),
            _decimals(table["price"]),
            _decimals(table["quantity"]),
            times,
            table["is_buyer_maker"].to_pylist(),
            strict=True,
        )
    ]


def _decimals(column: pa.ChunkedArray) -> list[Decimal]:
    """Return a DECIMAL column's values, each with the column's scale (as Binance sent it);
    through Arrow's strings, twice as fast as pyarrow's own conversion."""
    return list(map(Decimal, pc.cast(column, pa.string()).to_pylist()))


class ColdReads:
    """Reads of one cold tier for the API's views.

    The filesystem (an S3 client holds sockets and threads) is opened on first use in each
    process, never inherited across Gunicorn's fork.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._location: ColdLocation | None = None
        self._pid = -1
        self._processes = ColdProcesses(settings)

    def _where(self) -> ColdLocation:
        if self._location is None or self._pid != os.getpid():
            self._location = open_location(self._settings)
            self._pid = os.getpid()
        assert self._location is not None
        return self._location

    def files(
        self, conn: Connection, symbol: str, start: int | None, end: int | None
    ) -> list[manifest.ColdFile]:
        """Return the listed files of *symbol* whose day meets ``[start, end)``."""
        return listed_files(conn, symbol, start, end)

    def nearest(
        self, conn: Connection, symbol: str, at: int, direction: Direction
    ) -> TradeRow | None:
        """Return the cold trade nearest *at* (exclusive) on *direction*'s side: the latest
        before it or the earliest after it, ties by id; the day of *at* first, then the
        nearest listed day that way."""
        day = day_of(at - 1 if direction is Direction.BEFORE else at)
        files = manifest.files_between(conn, symbol, day, day)
        while True:
            if files:
                found = self.run(_nearest_row, files, at, direction)
                if found is not None:
                    return found
            further = manifest.nearest_file(conn, symbol, day, before=direction is Direction.BEFORE)
            if further is None:
                return None
            files, day = [further], further.day

    def run(self, task: Task[T], *args: Any) -> T:
        """Return ``task(location, *args)``, run off the loop; a failing tier is
        ``unavailable``."""
        return self._processes.run(task, self._where, *args)


def _nearest_row(
    location: ColdLocation, files: list[manifest.ColdFile], at: int, direction: Direction
) -> TradeRow | None:
    found = read.nearest(location, files, at, direction)
    return None if found is None else rows_of(found)[0]


def page_rows(
    location: ColdLocation,
    files: list[manifest.ColdFile],
    start: int,
    end: int,
    position: tuple[int, int],
    limit: int,
) -> list[TradeRow]:
    """Return the first *limit* cold trades of ``[start, end)`` after the keyset
    *position*, by (time, id); fewer only when the window holds no more (a cold task)."""
    return rows_of(read.first_rows(location, files, start, end, position, limit))


def sorted_rows(
    location: ColdLocation, files: list[manifest.ColdFile], start: int | None, end: int | None
) -> list[TradeRow]:
    """Return the trades of *files* in ``[start, end)``, by (time, id)."""
    table = read.read_trades(location, files, start, end)
    return [] if table is None else rows_of(parquet.sort_by_time(table))


def table_of_rows(rows: list[TradeRow]) -> pa.Table | None:
    """Return API rows as a cold-format table (None when there are none)."""
    if not rows:
        return None
    return parquet.table_of(
        [(r.trade_id, r.price, r.quantity, r.trade_time, r.is_buyer_maker) for r in rows]
    )
