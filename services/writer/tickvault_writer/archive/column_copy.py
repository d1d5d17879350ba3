"""PostgreSQL's binary ``COPY`` streams of whole Arrow columns: trades and price levels.

The column counterpart of :mod:`~tickvault_writer.binary`, byte for byte: every field is an
Arrow binary column (big-endian integers, lengths and headers as scalars) and a row is their
element-wise join, so no Python runs per row. A ``numeric`` field is built once per distinct
value, from base-10000 digit groups computed on the column.
"""

from __future__ import annotations

import struct
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc

from tickvault_writer.archive.arrow_cache import int64, swap_indices
from tickvault_writer.binary import HEADER, PG_EPOCH_US, TRAILER

_L8 = pa.scalar(struct.pack(">i", 8), pa.binary())
_L4 = pa.scalar(struct.pack(">i", 4), pa.binary())


def trades_stream(
    symbol: str,
    received_at: int,
    ids: pa.Array,
    times: pa.Array,
    makers: pa.Array,
    prices: pa.Array,
    quantities: pa.Array,
    scales: tuple[int, int],
) -> bytes:
    """Return what :func:`~tickvault_writer.binary.copy_binary` makes of these rows.

    *ids* and *times* (epoch µs) are int64, *makers* bool, *prices* and *quantities* int64
    mantissas of the (price, quantity) *scales*.
    """
    raw = symbol.encode()
    start = pa.scalar(struct.pack(">hi", 8, len(raw)) + raw, pa.binary())
    tails = pa.array(
        [struct.pack(">i?iq", 1, m, 8, received_at - PG_EPOCH_US) for m in (False, True)],
        pa.binary(),
    )
    pg_times = _big_endian(pc.subtract(times, int64(PG_EPOCH_US)))
    rows = pc.binary_join_element_wise(
        start,
        _numerics(prices, scales[0]),
        _numerics(quantities, scales[1]),
        _L8,
        pg_times,
        _L8,
        _big_endian(ids),
        _L8,
        pg_times,
        tails.take(makers.cast(pa.int8())),
        b"",
        null_handling="skip",
    )
    return _stream(rows)


def levels_stream(
    symbol: str,
    minutes: pa.Array,
    prices: pa.Array,
    counts: pa.Array,
    volumes: pa.Array,
    scales: tuple[int, int],
) -> bytes:
    """Return price levels as the stream of :data:`~tickvault_writer.sql.COPY_LEVELS`.

    *minutes* are epoch µs, *prices* and *volumes* int64 mantissas of the (price, quantity)
    *scales*, *counts* the trades of each level.
    """
    raw = symbol.encode()
    rows = pc.binary_join_element_wise(
        pa.scalar(struct.pack(">hi", 5, len(raw)) + raw, pa.binary()),
        _L8,
        _big_endian(pc.subtract(minutes, int64(PG_EPOCH_US))),
        _numerics(prices, scales[0]),
        _L4,
        _big_endian(counts.cast(pa.int32())),
        _numerics(volumes, scales[1]),
        b"",
    )
    return _stream(rows)


def _numerics(mantissas: pa.Array, scale: int) -> pa.Array:
    """Return the binary ``numeric`` fields of these decimals (each distinct value once)."""
    encoded = pc.dictionary_encode(mantissas)
    fields = pc.binary_join_element_wise(
        *_numeric_pieces(encoded.dictionary, scale), b"", null_handling="skip"
    )
    return fields.take(encoded.indices)


def _stream(rows: pa.Array) -> bytes:
    """Return binary COPY rows (a binary array) as one ``COPY`` stream."""
    _, offsets, body = rows.buffers()
    ends = pa.Array.from_buffers(pa.int32(), len(rows) + 1, [None, offsets], offset=rows.offset)
    return b"".join((HEADER, memoryview(body)[ends[0].as_py() : ends[-1].as_py()], TRAILER))


def _big_endian(values: pa.Array) -> pa.Array:
    """Return int64 or int32 *values* (no nulls) as big-endian binary values."""
    n, width = len(values), values.type.byte_width
    data = values.buffers()[1]
    raw = pa.Array.from_buffers(pa.uint8(), width * n, [None, data], offset=width * values.offset)
    swapped = raw.take(swap_indices(width * n, width))
    swapped_data = swapped.buffers()[1]
    return pa.Array.from_buffers(pa.binary(width), n, [None, swapped_data]).cast(pa.binary())


def _numeric_pieces(mantissas: pa.Array, scale: int) -> list[pa.Array]:
    """Return the pieces of the binary ``numeric`` fields of these decimals, to be joined.

    A field is its length, its digit count, weight, sign and scale (one of a few headers,
    taken from a table), then base-10000 digit groups without the leading and trailing zero
    groups (a null piece is left out of the join), as
    :func:`~tickvault_writer.binary.numeric_field` writes them.
    """
    frac_groups = -(-scale // 4)
    top = pc.max(mantissas).as_py() // 10**scale
    int_groups = max(1, -(-len(str(top)) // 4))
    whole = pc.divide(mantissas, int64(10**scale))
    rest = pc.multiply(
        pc.subtract(mantissas, pc.multiply(whole, int64(10**scale))),
        int64(10 ** (4 * frac_groups - scale)),
    )
    groups: list[pa.Array] = []
    for value, count in ((whole, int_groups), (rest, frac_groups)):
        for k in range(count - 1, -1, -1):
            unit = int64(10 ** (4 * k))
            group = pc.divide(value, unit)
            value = pc.subtract(value, pc.multiply(group, unit))
            groups.append(group)
    nonzero = [pc.not_equal(g, int64(0)) for g in groups]
    before = _running_or(nonzero)
    after = _running_or(nonzero[::-1])[::-1]
    kept = [pc.and_(b, a) for b, a in zip(before, after, strict=True)]
    digits = _count(kept)
    leading = _count([pc.invert(b) for b in before])
    weight = pc.if_else(
        pc.equal(digits, int64(0)), int64(0), pc.subtract(int64(int_groups - 1), leading)
    )
    heads = _numeric_heads(scale, len(groups), int_groups, frac_groups)
    head = heads.take(pc.add(pc.multiply(digits, int64(64)), pc.add(weight, int64(32))))
    return [head, *(_group_bytes(g, k) for g, k in zip(groups, kept, strict=True))]


def _running_or(flags: list[pa.Array]) -> list[pa.Array]:
    out = [flags[0]]
    for flag in flags[1:]:
        out.append(pc.or_(out[-1], flag))
    return out


def _count(flags: list[pa.Array]) -> pa.Array:
    total = flags[0].cast(pa.int64())
    for flag in flags[1:]:
        total = pc.add(total, flag.cast(pa.int64()))
    return total


@cache
def _numeric_heads(scale: int, groups: int, int_groups: int, frac_groups: int) -> pa.Array:
    """Return the field headers, at index ``digits * 64 + weight + 32``."""
    heads = [b""] * ((groups + 1) * 64)
    for digits in range(groups + 1):
        for weight in range(-frac_groups, int_groups):
            if digits == 0 and weight != 0:
                continue
            heads[digits * 64 + weight + 32] = struct.pack(
                ">ihhhh", 8 + 2 * digits, digits, weight, 0, scale
            )
    return pa.array(heads, pa.binary())


def _group_bytes(group: pa.Array, kept: pa.Array) -> pa.Array:
    """Return digit groups as 2-byte big-endian values, null where *kept* is false."""
    swapped = pc.bit_wise_or(
        pc.shift_left(pc.bit_wise_and(group, int64(255)), int64(8)), pc.shift_right(group, int64(8))
    )
    data = swapped.cast(pa.uint16()).buffers()[1]
    valid = kept.buffers()[1]
    return pa.Array.from_buffers(pa.binary(2), len(group), [valid, data], offset=0).cast(
        pa.binary()
    )
