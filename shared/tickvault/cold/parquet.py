"""The cold tier's file format: one Parquet table of trades, and the only code that knows it.

Columns ``trade_id`` (int64), ``price`` and ``quantity`` (Parquet DECIMAL at the scale the
exchange's strings carry, so a value reads back as exactly the string Binance sent),
``trade_time`` (timestamp µs UTC) and ``is_buyer_maker``; sorted by ``trade_id``; zstd, delta
encodings for the ids and times, dictionaries for the prices and quantities (they repeat).
:func:`summarize` gives the content checksum a move is verified with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tickvault.errors import TickvaultError

COLUMNS = ("trade_id", "price", "quantity", "trade_time", "is_buyer_maker")
# DECIMAL with at most 18 digits is stored as a 64-bit integer (small, delta/dictionary
# friendly); a symbol whose values need more digits gets 38.
NARROW, WIDE = 18, 38
# Rows per row group: a lookup by time reads one group (about 1 ms), not the whole day; the
# footer of a 2-million-trade day stays about 70 kB. Files of other sizes read the same.
ROW_GROUP = 16_384
TIME_TYPE = pa.timestamp("us", tz="UTC")


class ColdFormatError(TickvaultError):
    """Trades that cannot be written exactly (mixed decimal scales), or a file that is not ours."""


@dataclass(frozen=True)
class Summary:
    """What a set of trades holds: what a move is verified with and the manifest records."""

    rows: int
    first_id: int | None
    last_id: int | None
    first_time_us: int | None
    last_time_us: int | None
    checksum: str


def _scale(values: Iterable[Decimal], what: str) -> int:
    scales = {-int(v.as_tuple().exponent) for v in values}
    if len(scales) > 1:
        raise ColdFormatError(
            f"{what} values carry different numbers of decimals {sorted(scales)}: "
            "a Parquet DECIMAL column has one scale, so they cannot be kept exactly"
        )
    return max(scales.pop() if scales else 8, 0)


def _decimal_type(values: Sequence[Decimal], scale: int) -> pa.Decimal128Type:
    digits = max((len(v.as_tuple().digits) for v in values), default=1)
    return pa.decimal128(NARROW if max(digits, scale + 1) <= NARROW else WIDE, scale)


def schema(price: pa.Decimal128Type, quantity: pa.Decimal128Type) -> pa.Schema:
    """Return the schema of a cold file with these decimal types."""
    return pa.schema(
        [
            pa.field("trade_id", pa.int64(), nullable=False),
            pa.field("price", price, nullable=False),
            pa.field("quantity", quantity, nullable=False),
            pa.field("trade_time", TIME_TYPE, nullable=False),
            pa.field("is_buyer_maker", pa.bool_(), nullable=False),
        ]
    )


def table_of(rows: Sequence[Sequence[Any]]) -> pa.Table:
    """Return a table of ``(trade_id, price, quantity, trade_time, is_buyer_maker)`` rows.

    ``trade_time`` is a timezone-aware datetime or epoch µs. Raises :class:`ColdFormatError`
    when the prices (or quantities) do not all carry the same number of decimals.
    """
    prices = [r[1] for r in rows]
    quantities = [r[2] for r in rows]
    price_type = _decimal_type(prices, _scale(prices, "price"))
    quantity_type = _decimal_type(quantities, _scale(quantities, "quantity"))
    times = [r[3] for r in rows]
    columns = [
        pa.array([r[0] for r in rows], pa.int64()),
        pa.array(prices, price_type),
        pa.array(quantities, quantity_type),
        pa.array(times, TIME_TYPE)
        if not times or isinstance(times[0], datetime)
        else pa.array(times, pa.int64()).cast(TIME_TYPE),
        pa.array([bool(r[4]) for r in rows], pa.bool_()),
    ]
    return sort_by_id(pa.Table.from_arrays(columns, schema=schema(price_type, quantity_type)))


def sort_by_id(table: pa.Table) -> pa.Table:
    """Return *table* sorted by trade id, one row per id (the first of duplicates is kept)."""
    if table.num_rows == 0:
        return table
    order = pc.sort_indices(table["trade_id"], sort_keys=[("ascending", "ascending")])
    table = table.take(order)
    ids = table["trade_id"].combine_chunks()
    if table.num_rows > 1:
        keep = pc.not_equal(ids.slice(1), ids.slice(0, len(ids) - 1))
        mask = pa.concat_arrays([pa.array([True]), keep])
        table = table.filter(mask)
    return table


def int64(value: int) -> pa.Scalar:
    """Return *value* as an Arrow scalar for a compute kernel.

    A bare Python int costs a kernel call about 0.1 ms more: pyarrow's conversion tries to
    import pandas and dateutil each time when they are not installed.
    """
    return pa.scalar(value, pa.int64())


def sort_by_time(table: pa.Table) -> pa.Table:
    """Return *table* sorted by (time, id), the order the API answers in."""
    keys = [("trade_time", "ascending"), ("trade_id", "ascending")]
    return table.take(pc.sort_indices(table, sort_keys=keys))


def concat(tables: Sequence[pa.Table]) -> pa.Table:
    """Return *tables* as one, their decimals widened to the widest (files may differ)."""
    wide = pa.unify_schemas([t.schema for t in tables], promote_options="permissive")
    return pa.concat_tables([t.cast(wide) for t in tables])


def merge(old: pa.Table, new: pa.Table) -> pa.Table:
    """Return the trades of both tables, one row per id, the one already stored winning."""
    if old.num_rows == 0:
        return sort_by_id(new)
    if new.num_rows == 0:
        return old
    if old.schema.field("price").type.scale != new.schema.field("price").type.scale or (
        old.schema.field("quantity").type.scale != new.schema.field("quantity").type.scale
    ):
        raise ColdFormatError(
            f"new trades carry another number of decimals than the stored ones "
            f"({old.schema} vs {new.schema})"
        )
    wide = schema(
        pa.decimal128(WIDE, old.schema.field("price").type.scale),
        pa.decimal128(WIDE, old.schema.field("quantity").type.scale),
    )
    both = pa.concat_tables([old.cast(wide), new.cast(wide)])
    narrow = schema(_fit(both["price"]), _fit(both["quantity"]))
    return sort_by_id(both).cast(narrow)


def _fit(column: pa.ChunkedArray) -> pa.Decimal128Type:
    scale = column.type.scale
    values = [v for v in (pc.min(column).as_py(), pc.max(column).as_py()) if v is not None]
    return _decimal_type(values, scale)


def _unscaled(column: pa.ChunkedArray) -> list[int]:
    scale = column.type.scale
    return [int(v.scaleb(scale)) for v in column.to_pylist()]


class Summarizer:
    """The :class:`Summary` of trades fed in trade-id order, batch by batch, holding none."""

    def __init__(self, price_scale: int, quantity_scale: int) -> None:
        self._digest = hashlib.sha256(f"{price_scale},{quantity_scale}\n".encode())
        self._rows = 0
        self._first_id: int | None = None
        self._last_id: int | None = None
        self._first_time: int | None = None
        self._last_time: int | None = None

    def add(self, batch: pa.Table | pa.RecordBatch) -> None:
        """Count *batch* (the trades after every one added before) in."""
        if batch.num_rows == 0:
            return
        ids = batch["trade_id"].to_pylist()
        times = pc.cast(batch["trade_time"], pa.int64()).to_pylist()
        lines = zip(
            ids,
            _unscaled(batch["price"]),
            _unscaled(batch["quantity"]),
            times,
            batch["is_buyer_maker"].to_pylist(),
            strict=True,
        )
        text = "".join(f"{i},{p},{q},{t},{int(m)}\n" for i, p, q, t, m in lines)
        self._digest.update(text.encode())
        self._rows += len(ids)
        self._first_id = ids[0] if self._first_id is None else self._first_id
        self._last_id = ids[-1]
        low, high = min(times), max(times)
        self._first_time = low if self._first_time is None else min(self._first_time, low)
        self._last_time = high if self._last_time is None else max(self._last_time, high)

    def summary(self) -> Summary:
        """Return the summary of every trade added."""
        return Summary(
            rows=self._rows,
            first_id=self._first_id,
            last_id=self._last_id,
            first_time_us=self._first_time,
            last_time_us=self._last_time,
            checksum=self._digest.hexdigest(),
        )


def summarize(table: pa.Table) -> Summary:
    """Return the row count, first and last id and time, and the content checksum."""
    summarizer = Summarizer(
        table.schema.field("price").type.scale, table.schema.field("quantity").type.scale
    )
    summarizer.add(table)
    return summarizer.summary()


def decimal_type_for(largest: Decimal | None, scale: int) -> pa.Decimal128Type:
    """Return the DECIMAL type of a column whose largest absolute value is *largest*."""
    return _decimal_type([] if largest is None else [largest], scale)


def _empty(table: pa.Table | None) -> bool:
    return table is None or table.num_rows == 0


def merge_sorted(old: Iterable[pa.Table], new: Iterable[pa.Table]) -> Iterator[pa.Table]:
    """Yield the trades of two streams of tables each sorted by trade id, in id order, one row
    per id (the one of *old* winning), holding no more than a batch of each at a time."""
    sources = [iter(old), iter(new)]
    held: list[pa.Table | None] = [None, None]
    done = [False, False]
    last_id: int | None = None
    while True:
        for side in (0, 1):
            while not done[side] and _empty(held[side]):
                held[side] = next(sources[side], None)
                done[side] = held[side] is None
        live = [t for t in held if t is not None and t.num_rows]
        if not live:
            return
        bound = min(t["trade_id"][-1].as_py() for t in live)
        parts = []
        for side in (0, 1):
            table = held[side]
            if table is None or table.num_rows == 0:
                continue
            upto = pc.less_equal(table["trade_id"], int64(bound))
            parts.append(table.filter(upto))
            held[side] = table.filter(pc.invert(upto))
        piece = sort_by_id(pa.concat_tables(parts, promote_options="permissive"))
        if last_id is not None:
            piece = piece.filter(pc.greater(piece["trade_id"], int64(last_id)))
        if piece.num_rows:
            last_id = piece["trade_id"][-1].as_py()
            yield piece


_WRITE_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 9,
    "use_dictionary": ["price", "quantity"],
    "column_encoding": {"trade_id": "DELTA_BINARY_PACKED", "trade_time": "DELTA_BINARY_PACKED"},
    "store_decimal_as_integer": True,
    "write_statistics": True,
    "write_page_index": True,
    "sorting_columns": [pq.SortingColumn(0)],
}


def write(table: pa.Table, sink: Any) -> None:
    """Write *table* as one Parquet file to *sink* (a path on a filesystem or a stream)."""
    write_batches(table.schema, [table], sink)


def write_batches(file_schema: pa.Schema, batches: Iterable[pa.Table], sink: Any) -> int:
    """Write *batches* (in trade-id order) as one Parquet file of *file_schema* to *sink*, in
    row groups of :data:`ROW_GROUP` rows, holding at most one row group; return the rows."""
    held: list[pa.Table] = []
    count = written = 0
    with pq.ParquetWriter(sink, file_schema, **_WRITE_OPTIONS) as writer:
        for batch in batches:
            held.append(batch.cast(file_schema))
            count += batch.num_rows
            if count >= ROW_GROUP:
                whole = pa.concat_tables(held)
                cut = count - count % ROW_GROUP
                writer.write_table(whole.slice(0, cut), row_group_size=ROW_GROUP)
                held, count, written = [whole.slice(cut)], count - cut, written + cut
        if count:
            writer.write_table(pa.concat_tables(held), row_group_size=ROW_GROUP)
    return written + count
