"""Reading a symbol's cold trades for a time range, or its files' prices in a price band,
from the files the manifest lists."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from tickvault.cold import manifest, storage
from tickvault.cold.location import ColdLocation
from tickvault.tick import MAX_TIME_US, MIN_TIME_US

PARALLEL_READS = 8  # files read at once for the median's price levels


def day_of(us: int) -> date:
    """Return the UTC day of an epoch-µs instant."""
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC).date()


def listed_files(
    conn: Connection, symbol: str, start_us: int | None, end_us: int | None
) -> list[manifest.ColdFile]:
    """Return the listed files of *symbol* whose day meets ``[start, end)`` (None: open)."""
    first = day_of(MIN_TIME_US if start_us is None else start_us)
    last = day_of((MAX_TIME_US if end_us is None else end_us) - 1)
    return manifest.files_between(conn, symbol, first, last)


def read_trades(
    location: ColdLocation,
    files: list[manifest.ColdFile],
    start_us: int | None,
    end_us: int | None,
) -> pa.Table | None:
    """Return the trades of *files* with start <= trade_time < end (None: no file)."""
    tables = [storage.read_file(location, f.path, start_us, end_us) for f in files]
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return None
    wide = pa.unify_schemas([t.schema for t in tables], promote_options="permissive")
    return pa.concat_tables([t.cast(wide) for t in tables])


def price_levels(
    location: ColdLocation, files: list[manifest.ColdFile], low: Decimal, high: Decimal
) -> tuple[int, list[tuple[Decimal, int]]]:
    """Return how many trades of *files* are priced below *low*, and the (price, trades) of
    those priced in ``[low, high]``; only the price column is read, several files at a time
    (an object store's latency overlaps; Arrow reads and counts without the GIL)."""
    lo, hi = pa.scalar(low), pa.scalar(high)

    def one(f: manifest.ColdFile) -> tuple[int, pa.StructArray]:
        prices = storage.read_column(location, f.path, "price")
        inside = prices.filter(pc.and_(pc.greater_equal(prices, lo), pc.less_equal(prices, hi)))
        return int(pc.sum(pc.less(prices, lo)).as_py() or 0), pc.value_counts(inside)

    below = 0
    levels: list[tuple[Decimal, int]] = []
    with ThreadPoolExecutor(max_workers=PARALLEL_READS) as pool:
        for under, counts in pool.map(one, files):
            below += under
            levels += zip(
                counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
            )
    return below, levels
