"""The median of a table of trades, vectorised (pyarrow compute), and the table's ordering.

Its aggregates are :func:`tickvault.aggregates.of_table`'s, the same definitions as
:func:`tickvault_api.tiered.aggregate_rows` and the SQL. Prices or quantities wider than 18
digits are left to the row-by-row path.
"""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from tickvault.aggregates import VECTOR_DIGITS
from tickvault_api.median import median_ranks


def fits(table: pa.Table) -> bool:
    """Return whether *table*'s decimals are narrow enough for the vectorised path."""
    return all(table.schema.field(c).type.precision <= VECTOR_DIGITS for c in ("price", "quantity"))


def median_table(table: pa.Table) -> tuple[Decimal, Decimal]:
    """Return the two middle prices of *table* (at least one row)."""
    k1, k2 = median_ranks(table.num_rows)
    order = pc.sort_indices(table["price"])
    prices = table["price"].take(pa.array([order[k1 - 1].as_py(), order[k2 - 1].as_py()]))
    return prices[0].as_py(), prices[1].as_py()
