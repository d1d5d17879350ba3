"""Reading a symbol's cold trades for a time range, or its files' prices in a price band,
from the files the manifest lists."""

from __future__ import annotations

import enum
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from tickvault.cold import manifest, parquet, storage
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
    return parquet.concat(tables) if tables else None


class Direction(enum.Enum):
    """Which side of an instant a lookup searches."""

    BEFORE = -1  # the latest trade strictly before it (ties: the highest id)
    AFTER = 1  # the earliest trade strictly after it (ties: the lowest id)


@dataclass(frozen=True)
class _Group:
    """One row group of one file, with the span of its trade times."""

    path: str
    index: int
    first_us: int
    last_us: int


def _groups(location: ColdLocation, files: list[manifest.ColdFile]) -> list[_Group]:
    return [
        _Group(f.path, g, first, last)
        for f in files
        for g, (first, last) in enumerate(storage.time_spans(location, f.path))
    ]


def nearest(
    location: ColdLocation, files: list[manifest.ColdFile], at_us: int, direction: Direction
) -> pa.Table | None:
    """Return the trade of *files* nearest *at_us* on *direction*'s side, as a one-row table
    (None: none there).

    Row groups are read one at a time from the nearest, and no further once the next one's
    time statistics show it cannot hold a nearer trade: usually one group is read.
    """
    side = direction.value
    # the nearest time each group may hold on the searched side; groups with none are left out
    bounds = [
        (min(g.last_us, at_us - 1) if side < 0 else max(g.first_us, at_us + 1), g)
        for g in _groups(location, files)
    ]
    best: tuple[int, int] | None = None  # (time, id) times *side*: smaller is nearer
    found: pa.Table | None = None
    for bound, group in sorted(
        ((b, g) for b, g in bounds if g.first_us <= b <= g.last_us),
        key=lambda pair: side * pair[0],
    ):
        if best is not None and side * bound > best[0]:
            break  # this group and every later one lie farther than the best found
        table = storage.read_groups(location, group.path, [group.index])
        row = _edge_row(table, at_us, side)
        if row is None:
            continue
        rank = (side * _us(row["trade_time"][0]), side * row["trade_id"][0].as_py())
        if best is None or rank < best:
            best, found = rank, row
    return found


def _edge_row(table: pa.Table, at_us: int, side: int) -> pa.Table | None:
    """Return the trade of *table* nearest *at_us* on *side*'s side (ties: the farther id)."""
    pick = pc.max if side < 0 else pc.min  # the latest before, the earliest after
    times = pc.cast(table["trade_time"], pa.int64()).combine_chunks()
    at = parquet.int64(at_us)
    inside = pc.less(times, at) if side < 0 else pc.greater(times, at)
    edge = pick(pc.filter(times, inside))
    if not edge.is_valid:
        return None
    tied = table.take(pc.indices_nonzero(pc.equal(times, edge)))
    return tied.filter(pc.equal(tied["trade_id"], pick(tied["trade_id"])))


def first_rows(
    location: ColdLocation,
    files: list[manifest.ColdFile],
    start_us: int,
    end_us: int,
    position: tuple[int, int],
    limit: int,
) -> pa.Table | None:
    """Return the first *limit* trades of *files* with start <= trade_time < end after the
    keyset *position* (time, id), by (time, id); None when there are none.

    Row groups are read by their first trade time, and no further once the next one starts
    after the *limit*-th trade found: a page of a busy day reads one or two groups.
    """
    lower = max(start_us, position[0])
    groups = sorted(
        (g for g in _groups(location, files) if g.first_us < end_us and g.last_us >= lower),
        key=lambda g: g.first_us,
    )
    parts: list[pa.Table] = []
    count = 0
    last_us: int | None = None  # the time of the *limit*-th trade, once that many are found
    for group in groups:
        if last_us is not None and group.first_us > last_us:
            break  # it and every later group start after the page's last trade
        table = _after(storage.read_groups(location, group.path, [group.index]), position)
        times = pc.cast(table["trade_time"], pa.int64())
        within = pc.and_(
            pc.greater_equal(times, parquet.int64(lower)), pc.less(times, parquet.int64(end_us))
        )
        table = table.filter(within)
        parts.append(table)
        count += table.num_rows
        if count >= limit:  # sorted only once a page is full, so an export sorts once
            kept = parquet.sort_by_time(parquet.concat(parts)).slice(0, limit)
            parts, count, last_us = [kept], limit, _us(kept["trade_time"][limit - 1])
    found = [t for t in parts if t.num_rows]
    return parquet.sort_by_time(parquet.concat(found)).slice(0, limit) if found else None


def _after(table: pa.Table, position: tuple[int, int]) -> pa.Table:
    """Return the trades of *table* after the keyset *position* (time, id)."""
    times = pc.cast(table["trade_time"], pa.int64())
    after_time, after_id = (parquet.int64(v) for v in position)
    return table.filter(
        pc.or_(
            pc.greater(times, after_time),
            pc.and_(pc.equal(times, after_time), pc.greater(table["trade_id"], after_id)),
        )
    )


def _us(value: pa.Scalar) -> int:
    return int(pc.cast(value, pa.int64()).as_py())


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
