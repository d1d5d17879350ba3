"""Arrow values the column path makes once and keeps: int64 scalars and index arrays.

A Python int costs ``pyarrow.compute`` a conversion at every call, and the index arrays are
the same for every block, so :mod:`.columns`, :mod:`.column_copy` and :mod:`.column_fold` take
them from here.
"""

from __future__ import annotations

from functools import cache

import pyarrow as pa
import pyarrow.compute as pc


@cache
def int64(value: int) -> pa.Scalar:
    """Return *value* as an int64 scalar."""
    return pa.scalar(value, pa.int64())


_INDICES: dict[str, pa.Array] = {}


def indices(size: int) -> pa.Array:
    """Return 0, 1, ... *size* - 1 (int64; grown as needed and kept)."""
    known = _INDICES.get("range")
    if known is None or len(known) < size:
        grown = max(size, 2 * len(known) if known is not None else 0)
        ones = pa.repeat(pa.scalar(1, pa.int64()), grown)
        _INDICES.clear()
        known = _INDICES["range"] = pc.subtract(pc.cumulative_sum(ones), int64(1))
    return known.slice(0, size)


def swap_indices(size: int, width: int) -> pa.Array:
    """Return the indices that reverse every *width* bytes of *size* bytes."""
    key = f"swap{width}"
    swap = _INDICES.get(key)
    if swap is None or len(swap) < size:
        at = indices(size)
        swap = _INDICES[key] = pc.subtract(
            pc.add(at, int64(width - 1)),
            pc.multiply(pc.bit_wise_and(at, int64(width - 1)), int64(2)),
        )
    return swap.slice(0, size)
