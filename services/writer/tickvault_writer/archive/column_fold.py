"""A block's candles and price levels folded on whole Arrow columns, as the store takes them.

The column counterpart of :func:`~tickvault_writer.prepare.aggregate_params`, to the byte: Arrow
groups the rows by (minute, price) for the levels and by minute for the candles; sums and
products run on base-10**6 limbs (int64 sums that cannot overflow), put together per minute in
Python integers, exact. It takes what :mod:`.columns` vouched for: rows in (time, id) order and
prices and quantities canonical decimals of one scale per column (int64 mantissas beside their
text), so a price string is one value and a group's first row is its earliest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc

from tickvault_writer.aggregate import US_PER_MINUTE, Candle
from tickvault_writer.archive.arrow_cache import indices, int64
from tickvault_writer.archive.column_copy import levels_stream
from tickvault_writer.prepare import candle_params

_LIMB = 10**6  # sums and products run on limbs of this base, so no int64 can overflow


@dataclass(frozen=True, slots=True)
class Aggregates:
    """A block's candles and levels as the store takes them."""

    params: tuple[str, ...]
    candles: int
    levels: int
    levels_copy: tuple[bytes, tuple[str, ...]] | None


def aggregate(
    symbol: str,
    ids: pa.Array,
    times: pa.Array,
    price_text: pa.Array,
    prices: pa.Array,
    quantities: pa.Array,
    scales: tuple[int, int],
) -> Aggregates:
    """Return what :func:`~tickvault_writer.prepare.aggregate_params` makes of rows in time order,
    and the levels that may go by ``COPY`` (see :attr:`Prepared.levels_copy`).

    *prices* and *quantities* are int64 mantissas of the (price, quantity) *scales*,
    *price_text* the prices as the file wrote them.
    """
    qty_scale = scales[1]
    minutes = pc.multiply(pc.divide(times, int64(US_PER_MINUTE)), int64(US_PER_MINUTE))
    price_limbs, qty_limbs = _limbs(prices), _limbs(quantities)
    columns: dict[str, pa.Array] = {"m": minutes, "p": prices, "i": indices(len(ids))}
    sums: dict[str, list[str]] = {"p": [], "q": [], "pp": [], "pq": []}
    for name, terms in (
        ("p", price_limbs),
        ("q", qty_limbs),
        ("pp", _products(price_limbs, price_limbs)),
        ("pq", _products(price_limbs, qty_limbs)),
    ):
        for k, term in enumerate(terms):
            columns[f"{name}{k}"] = term
            sums[name].append(f"{name}{k}")
    rows = pa.table(columns)
    level_sums = [(c, "sum") for c in sums["q"]]
    per_level = (
        rows.group_by(["m", "p"], use_threads=False)
        .aggregate([("i", "count"), ("i", "min"), *level_sums])
        .sort_by([("m", "ascending"), ("p", "ascending")])
        .combine_chunks()
    )
    low_levels, high_levels = _runs(per_level["m"].combine_chunks())
    starts, ends = _runs(minutes)  # rows in time order: a minute is one run of rows
    per_minute = {"m": minutes.take(starts), "open": starts, "close": ends}
    per_minute["n"] = pc.add(pc.subtract(ends, starts), int64(1))
    for name in ("p", "q", "pp", "pq"):
        for c in sums[name]:
            per_minute[c] = _run_sums(columns[c], starts, ends)
    extremes = (per_level["i_min"].take(low_levels), per_level["i_min"].take(high_levels))
    volume = _volumes(per_level, sums["q"])
    volume_text = _volume_text(per_level, volume, sums["q"], qty_scale)
    level_params = _level_params(symbol, per_level, price_text, volume_text)
    split = None
    if volume is not None:
        split = _split_levels(symbol, per_level, price_text, volume, volume_text, scales)
    candles = _candles(symbol, per_minute, extremes, sums, (ids, times, price_text), scales)
    candle_part = candle_params(candles)
    params = (*candle_part, *level_params)
    levels_copy = None if split is None else (split[0], (*candle_part, *split[1]))
    return Aggregates(params, len(candles), per_level.num_rows, levels_copy)


@cache
def _single(value: int) -> pa.Array:
    """Return an int64 array of one *value*."""
    return pa.array([value], pa.int64())


def _runs(keys: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Return the first and last index of each run of equal values of sorted *keys*."""
    last = len(keys) - 1
    changes = pc.indices_nonzero(pc.not_equal(keys[1:], keys[:-1])).cast(pa.int64())
    starts = pa.concat_arrays([_single(0), pc.add(changes, int64(1))])
    ends = pa.concat_arrays([changes, _single(last)])
    return starts, ends


def _run_sums(values: pa.Array, starts: pa.Array, ends: pa.Array) -> pa.Array:
    """Return the sum of *values* over each run (limbs: the running sum cannot overflow)."""
    running = pc.cumulative_sum(values)
    return pc.add(pc.subtract(running.take(ends), running.take(starts)), values.take(starts))


def _limbs(values: pa.Array) -> list[pa.Array]:
    """Return non-negative int64 *values* as base-10**6 limbs, least significant first."""
    top = pc.max(values).as_py()
    limbs = []
    rest = values
    for _ in range(max(1, -(-len(str(top)) // 6))):
        high = pc.divide(rest, int64(_LIMB))
        limbs.append(pc.subtract(rest, pc.multiply(high, int64(_LIMB))))
        rest = high
    return limbs


def _products(a: list[pa.Array], b: list[pa.Array]) -> list[pa.Array]:
    """Return the limbs (not carried: each below 3 * 10**12) of the row-wise products a * b."""
    terms: list[pa.Array | None] = [None] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            product = pc.multiply(x, y)
            term = terms[i + j]
            terms[i + j] = product if term is None else pc.add(term, product)
    return [t for t in terms if t is not None]


def _value(limb_sums: Sequence[int]) -> int:
    return sum(s * _LIMB**k for k, s in enumerate(limb_sums))


def _joined(values: pa.Array | pa.ChunkedArray) -> str:
    """Return *values* as a PostgreSQL array literal, as :mod:`~tickvault_writer.prepare` does."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    text = values.cast(pa.string())
    whole = pa.ListArray.from_arrays(pa.array([0, len(text)], pa.int32()), text)
    return "{" + str(pc.binary_join(whole, ",")[0].as_py()) + "}"


def _volumes(per_level: pa.Table, qty_sums: list[str]) -> pa.Array | None:
    """Return the levels' volumes as int64 mantissas; None when one is past int64."""
    sums = [per_level[f"{c}_sum"].combine_chunks() for c in qty_sums]
    if _value([pc.max(s).as_py() for s in sums]) >= 2**63:
        return None
    volume = sums[0]
    for k, s in enumerate(sums[1:], 1):
        volume = pc.add(volume, pc.multiply(s, int64(_LIMB**k)))
    return volume


def _volume_text(
    per_level: pa.Table, volume: pa.Array | None, qty_sums: list[str], qty_scale: int
) -> pa.Array:
    """Return the levels' volumes as :func:`_fixed` writes them."""
    if volume is not None:
        return _fixed_column(volume, qty_scale)
    columns = [per_level[f"{c}_sum"].to_pylist() for c in qty_sums]  # past int64: in Python
    return pa.array([_fixed(_value(v), qty_scale) for v in zip(*columns, strict=True)])


def _level_params(
    symbol: str, per_level: pa.Table, price_text: pa.Array, volume_text: pa.Array
) -> tuple[str, ...]:
    """Return the levels' share of the upsert's parameters, built on columns."""
    count = per_level.num_rows
    return (
        "{" + ",".join([f'"{symbol}"'] * count) + "}",
        _joined(per_level["m"]),
        _joined(price_text.take(per_level["i_min"])),
        _joined(per_level["i_count"]),
        _joined(volume_text),
    )


def _split_levels(
    symbol: str,
    per_level: pa.Table,
    price_text: pa.Array,
    volume: pa.Array,
    volume_text: pa.Array,
    scales: tuple[int, int],
) -> tuple[bytes, tuple[str, ...]] | None:
    """Return the levels of the minutes wholly inside the block as a ``COPY`` stream, and the
    upsert parameters of the others (its first and last minute, which the blocks around it
    may share); None when every minute is one of those."""
    minutes = per_level["m"].combine_chunks()
    first, last = pc.min(minutes), pc.max(minutes)
    inside = pc.and_(pc.not_equal(minutes, first), pc.not_equal(minutes, last))
    if not pc.any(inside).as_py():
        return None
    edges = pc.invert(inside)
    within = per_level.filter(inside).combine_chunks()
    stream = levels_stream(
        symbol,
        within["m"].combine_chunks(),
        within["p"].combine_chunks(),
        within["i_count"].combine_chunks(),
        volume.filter(inside),
        scales,
    )
    edge_params = _level_params(
        symbol, per_level.filter(edges), price_text, volume_text.filter(edges)
    )
    return stream, edge_params


def _fixed(mantissa: int, scale: int) -> str:
    """Return ``mantissa / 10**scale`` in plain notation with *scale* digits after the point."""
    if not scale:
        return str(mantissa)
    digits = str(mantissa).rjust(scale + 1, "0")
    return f"{digits[:-scale]}.{digits[-scale:]}"


def _fixed_column(mantissas: pa.Array, scale: int) -> pa.Array:
    """Return int64 *mantissas* as :func:`_fixed` writes each."""
    text = mantissas.cast(pa.string())
    if not scale:
        return text
    padded = pc.utf8_lpad(text, width=scale + 1, padding="0")
    whole = pc.utf8_slice_codeunits(padded, start=0, stop=-scale)
    return pc.binary_join_element_wise(whole, pc.utf8_slice_codeunits(padded, start=-scale), ".")


def _candles(
    symbol: str,
    per_minute: dict[str, pa.Array],
    extremes: tuple[pa.Array, pa.Array],
    sums: dict[str, list[str]],
    rows: tuple[pa.Array, pa.Array, pa.Array],
    scales: tuple[int, int],
) -> list[Candle]:
    """Return each minute's candle from its groups (a few a block: Python from here)."""
    ids, times, price_text = rows
    price_scale, qty_scale = scales
    opens, closes = per_minute["open"], per_minute["close"]
    lows, highs = extremes

    def values(name: str) -> list[int]:
        columns = [per_minute[c].to_pylist() for c in sums[name]]
        return [_value(limbs) for limbs in zip(*columns, strict=True)]

    return [
        Candle(
            symbol,
            m,
            o,
            h,
            lo,
            c,
            _fixed(v, qty_scale),
            n,
            _fixed(pq, price_scale + qty_scale),
            _fixed(p, price_scale),
            _fixed(pp, 2 * price_scale),
            ot,
            oi,
            ct,
            ci,
            ht,
            lt,
        )
        for m, o, h, lo, c, v, n, pq, p, pp, ot, oi, ct, ci, ht, lt in zip(
            per_minute["m"].to_pylist(),
            price_text.take(opens).to_pylist(),
            price_text.take(highs).to_pylist(),
            price_text.take(lows).to_pylist(),
            price_text.take(closes).to_pylist(),
            values("q"),
            per_minute["n"].to_pylist(),
            values("pq"),
            values("p"),
            values("pp"),
            times.take(opens).to_pylist(),
            ids.take(opens).to_pylist(),
            times.take(closes).to_pylist(),
            ids.take(closes).to_pylist(),
            times.take(highs).to_pylist(),
            times.take(lows).to_pylist(),
            strict=True,
        )
    ]
