"""The API's reads of the cold tier: off the gevent loop, and ``unavailable`` when it fails.

A Parquet read blocks its OS thread (file or network I/O, decompression), which under
Gunicorn's gevent workers would stall every greenlet of the process, the live streams and
``latest`` included. Each read therefore runs on gevent's native thread pool when the process
is monkey-patched, and inline otherwise (tests, the Flask dev server). A failing or silent
store becomes :class:`~tickvault_api.errors.Unavailable` with the reason, never a shorter
answer.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from tickvault.cold import manifest, parquet
from tickvault.cold.location import ColdLocation, open_location
from tickvault.cold.read import day_of, listed_files, price_levels, read_trades
from tickvault.cold.storage import ColdUnavailable
from tickvault.config import Settings
from tickvault_api.cold_stats import by_time
from tickvault_api.errors import Unavailable
from tickvault_api.rows import TradeRow

T = TypeVar("T")
# Lookups read widening spans of a day's file (1 min, 1 h, the rest), like the hot queries.
LOOKS_US = (60_000_000, 3_600_000_000, None)


def off_loop(work: Callable[[], T]) -> T:
    """Return *work()*, run on a native thread when gevent has patched this process."""
    try:
        from gevent import get_hub, monkey
    except ImportError:  # pragma: no cover - gevent is a dependency; inline without it
        return work()
    if not monkey.is_module_patched("socket"):
        return work()
    return get_hub().threadpool.apply(work)  # type: ignore[no-any-return]


def rows_of(table: pa.Table | None) -> list[TradeRow]:
    """Return the trades of a cold table as API rows."""
    if table is None or table.num_rows == 0:
        return []
    times = pc.cast(table["trade_time"], pa.int64()).to_pylist()
    return [
        TradeRow(i, p, q, t, m)
        for i, p, q, t, m in zip(
            table["trade_id"].to_pylist(),
            table["price"].to_pylist(),
            table["quantity"].to_pylist(),
            times,
            table["is_buyer_maker"].to_pylist(),
            strict=True,
        )
    ]


class ColdReads:
    """Reads of one cold tier for the API's views.

    The filesystem (an S3 client holds sockets and threads) is opened on first use in each
    process, never inherited across Gunicorn's fork.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._location: ColdLocation | None = None
        self._pid = -1

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

    def table(
        self, files: list[manifest.ColdFile], start: int | None, end: int | None
    ) -> pa.Table | None:
        """Return the trades of *files* in ``[start, end)`` as one table (None: none)."""

        def work() -> pa.Table | None:
            return read_trades(self._where(), files, start, end)

        try:
            return off_loop(work)
        except ColdUnavailable as exc:
            raise Unavailable(str(exc)) from exc

    def price_levels(
        self, files: list[manifest.ColdFile], low: Decimal, high: Decimal
    ) -> tuple[int, list[tuple[Decimal, int]]]:
        """Return how many trades of *files* are priced below *low*, and the (price, trades)
        priced in ``[low, high]`` (their price columns only). It blocks: call it inside work
        handed to :func:`off_loop`."""
        try:
            return price_levels(self._where(), files, low, high)
        except ColdUnavailable as exc:
            raise Unavailable(str(exc)) from exc

    def trades(
        self, files: list[manifest.ColdFile], start: int | None, end: int | None
    ) -> list[TradeRow]:
        """Return the trades of *files* in ``[start, end)``, by (time, id)."""
        table = self.table(files, start, end)
        return [] if table is None else off_loop(lambda: rows_of(by_time(table)))

    def last_before(self, conn: Connection, symbol: str, end: int) -> TradeRow | None:
        """Return the cold trade latest before *end* (ties by id)."""
        day = day_of(end - 1)
        files = manifest.files_between(conn, symbol, day, day)
        while True:
            # Widening windows: a file sorted by time is read only where the answer lies.
            for look in LOOKS_US:
                lower = None if look is None else end - look
                found = _extreme(self.table(files, lower, end) if files else None, "descending")
                if found is not None:
                    return found
            earlier = manifest.nearest_file(conn, symbol, day, before=True)
            if earlier is None:
                return None
            files, day = [earlier], earlier.day

    def first_after(self, conn: Connection, symbol: str, after: int) -> TradeRow | None:
        """Return the cold trade earliest after *after* (exclusive; ties by id)."""
        day = day_of(after)
        files = manifest.files_between(conn, symbol, day, day)
        while True:
            for look in LOOKS_US:
                upper = None if look is None else after + look + 1
                found = _extreme(
                    self.table(files, after + 1, upper) if files else None, "ascending"
                )
                if found is not None:
                    return found
            later = manifest.nearest_file(conn, symbol, day, before=False)
            if later is None:
                return None
            files, day = [later], later.day

    def page(
        self,
        files: list[manifest.ColdFile],
        start: int,
        end: int,
        position: tuple[int, int],
        limit: int,
    ) -> list[TradeRow]:
        """Return the first *limit* cold trades of ``[start, end)`` after the keyset
        *position*, by (time, id); fewer only when the window holds no more."""
        for look in LOOKS_US:
            upper = end if look is None else min(end, start + look)
            table = self.table(files, start, upper)
            if table is not None:
                times = pc.cast(table["trade_time"], pa.int64())
                later = pc.or_(
                    pc.greater(times, position[0]),
                    pc.and_(
                        pc.equal(times, position[0]),
                        pc.greater(table["trade_id"], position[1]),
                    ),
                )
                table = table.filter(later)
            if upper == end or (table is not None and table.num_rows >= limit):
                if table is None:
                    return []
                return off_loop(partial(_first_rows, table, limit))
        return []


def _first_rows(table: pa.Table, limit: int) -> list[TradeRow]:
    """Return the first *limit* trades of *table* by (time, id)."""
    return rows_of(by_time(table).slice(0, limit))


def _extreme(table: pa.Table | None, order: str) -> TradeRow | None:
    """Return the first trade of *table* by (time, id) in *order* (None: no trade)."""
    if table is None or table.num_rows == 0:
        return None
    keys = [("trade_time", order), ("trade_id", order)]
    first = pc.sort_indices(table, sort_keys=keys)[0].as_py()
    return rows_of(table.slice(first, 1))[0]


def table_of_rows(rows: list[TradeRow]) -> pa.Table | None:
    """Return API rows as a cold-format table (None when there are none)."""
    if not rows:
        return None
    return parquet.table_of(
        [(r.trade_id, r.price, r.quantity, r.trade_time, r.is_buyer_maker) for r in rows]
    )
