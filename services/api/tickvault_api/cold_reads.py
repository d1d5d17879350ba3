"""The API's reads of the cold tier: off the gevent loop, and ``unavailable`` when it fails.

A Parquet read blocks its OS thread (file or network I/O, decompression), which under
Gunicorn's gevent workers would stall every greenlet of the process, the live streams and
``latest`` included. Each read therefore runs on a pool of native threads of its own when the
process is monkey-patched, and inline otherwise (tests, the Flask dev server). Those threads
run at a lower CPU priority (:data:`COLD_NICENESS`): on a busy machine the loop's greenlets,
``latest`` and the live streams, get the CPU first, and cold answers take the rest. A failing
or silent store becomes :class:`~tickvault_api.errors.Unavailable` with the reason, never a
shorter answer.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from tickvault.cold import manifest, parquet, read
from tickvault.cold.location import ColdLocation, open_location
from tickvault.cold.read import Direction, day_of, listed_files
from tickvault.cold.storage import ColdUnavailable
from tickvault.config import Settings
from tickvault_api.errors import Unavailable
from tickvault_api.rows import TradeRow

T = TypeVar("T")
COLD_THREADS = 4  # cold computations at once per worker process; more wait their turn
# Niceness of those threads (Linux sets it per thread). Measured with bench/cold.py: latest's
# p99 under cold load was 2.7-4.8x its p99 alone at 0, 1.6-2.5x at 10 (PERFORMANCE.md).
COLD_NICENESS = 10
_pools: dict[int, Any] = {}  # the cold thread pool of each process (none is inherited)


def off_loop(work: Callable[[], T]) -> T:
    """Return *work()*, run on a cold thread when gevent has patched this process."""
    try:
        from gevent import monkey
        from gevent.threadpool import ThreadPool
    except ImportError:  # pragma: no cover - gevent is a dependency; inline without it
        return work()
    if not monkey.is_module_patched("socket"):
        return work()
    pool = _pools.get(os.getpid())
    if pool is None:
        _pools.clear()
        pool = _pools[os.getpid()] = ThreadPool(COLD_THREADS)
    return pool.apply(partial(_at_low_priority, work))  # type: ignore[no-any-return]


def _at_low_priority(work: Callable[[], T]) -> T:
    """Return *work()*, this native thread lowered to :data:`COLD_NICENESS` first."""
    try:
        if os.getpriority(os.PRIO_PROCESS, 0) < COLD_NICENESS:  # 0: this thread, on Linux
            os.setpriority(os.PRIO_PROCESS, 0, COLD_NICENESS)
    except OSError:  # pragma: no cover - a platform that refuses: same answers, at par
        pass
    return work()


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
        return self._read(partial(read.read_trades, files=files, start_us=start, end_us=end))

    def trades(
        self, files: list[manifest.ColdFile], start: int | None, end: int | None
    ) -> list[TradeRow]:
        """Return the trades of *files* in ``[start, end)``, by (time, id)."""
        table = self.table(files, start, end)
        return [] if table is None else off_loop(lambda: rows_of(parquet.sort_by_time(table)))

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
                found = self._read(
                    partial(read.nearest, files=files, at_us=at, direction=direction)
                )
                if found is not None:
                    return rows_of(found)[0]
            further = manifest.nearest_file(conn, symbol, day, before=direction is Direction.BEFORE)
            if further is None:
                return None
            files, day = [further], further.day

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
        first = partial(
            read.first_rows, files=files, start_us=start, end_us=end, position=position, limit=limit
        )
        return self._read(lambda location: rows_of(first(location)))

    def _read(self, work: Callable[[ColdLocation], T]) -> T:
        """Return *work(location)* run off the loop; a failing tier is ``unavailable``."""
        try:
            return off_loop(lambda: work(self._where()))
        except ColdUnavailable as exc:
            raise Unavailable(str(exc)) from exc


def table_of_rows(rows: list[TradeRow]) -> pa.Table | None:
    """Return API rows as a cold-format table (None when there are none)."""
    if not rows:
        return None
    return parquet.table_of(
        [(r.trade_id, r.price, r.quantity, r.trade_time, r.is_buyer_maker) for r in rows]
    )
