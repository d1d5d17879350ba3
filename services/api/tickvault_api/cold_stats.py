"""Exact aggregates and the median of a table of trades, vectorised (pyarrow compute).

The same definitions as :func:`tickvault_api.tiered.aggregate_rows` and the SQL: sums of
exchange decimals at full precision (decimal256), first and last by (time, id), high and low
with the earliest time they were reached. Prices or quantities wider than 18 digits are left
to the row-by-row path (their products would not fit).
"""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from tickvault.cold import parquet
from tickvault_api.median import median_ranks
from tickvault_api.rows import Aggregate

_SUM_PRECISION = 76


def fits(table: pa.Table) -> bool:
    """Return whether *table*'s decimals are narrow enough for the vectorised path."""
    return all(
        table.schema.field(c).type.precision <= parquet.NARROW for c in ("price", "quantity")
    )


def _sum(values: pa.ChunkedArray | pa.Array) -> Decimal:
    scale = values.type.scale
    wide = pc.cast(values, pa.decimal256(_SUM_PRECISION, scale))
    total = pc.sum(wide).as_py()
    return total if total is not None else Decimal(0)


def _times(table: pa.Table) -> pa.ChunkedArray:
    return pc.cast(table["trade_time"], pa.int64())


def _extreme(table: pa.Table, value: Decimal) -> int:
    hits = table.filter(
        pc.equal(table["price"], pa.scalar(value, table.schema.field("price").type))
    )
    return int(pc.min(_times(hits)).as_py())


def aggregate_table(table: pa.Table) -> Aggregate:
    """Return the exact aggregates of *table* (sorted by time, id; at least one row)."""
    price, quantity = table["price"], table["quantity"]
    times = _times(table)
    high, low = pc.max(price).as_py(), pc.min(price).as_py()
    return Aggregate(
        count=table.num_rows,
        price_sum=_sum(price),
        price_sq_sum=_sum(pc.multiply(price, price)),
        volume=_sum(quantity),
        quote_volume=_sum(pc.multiply(price, quantity)),
        first_price=price[0].as_py(),
        first_time=int(times[0].as_py()),
        last_price=price[-1].as_py(),
        last_time=int(times[-1].as_py()),
        high=high,
        high_time=_extreme(table, high),
        low=low,
        low_time=_extreme(table, low),
    )


def median_table(table: pa.Table) -> tuple[Decimal, Decimal]:
    """Return the two middle prices of *table* (at least one row)."""
    k1, k2 = median_ranks(table.num_rows)
    order = pc.sort_indices(table["price"])
    prices = table["price"].take(pa.array([order[k1 - 1].as_py(), order[k2 - 1].as_py()]))
    return prices[0].as_py(), prices[1].as_py()
