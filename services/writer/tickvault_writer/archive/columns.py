"""A block of an archive file's rows, read, checked and prepared as whole Arrow columns.

The exact path (:class:`~tickvault_writer.archive.rows.FileReader`, then
:func:`~tickvault_writer.prepare.prepare`) costs several microseconds a row in Python, more than
PostgreSQL's COPY of the row. :func:`read_block` does the same work on whole columns with
``pyarrow`` (C++, the GIL let go) and its result is the same to the byte: the binary COPY stream
and the candle and price-level parameters that ``prepare`` makes of the block's ticks
(the unit tests compare them on real and generated rows).

It takes a block only when every row is in the form where the column rules provably agree with
the row rules: seven columns, an id and a time of ASCII digits, ``True``/``False``, times in the
file's unit and in tickvault's span, ids ascending and times not descending, prices and
quantities canonical decimals of one scale per column (``60000.00000000``, so that equal values
are equal strings) of at most 18 digits. Anything else (a refused row, a quote, a stray
carriage return, a header, a scale change) returns None and the caller reads the block row by
row, so a refused row is still named and counted exactly.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from tickvault.symbols import is_name
from tickvault.tick import MAX_TIME_US, MIN_TIME_US, MS_BELOW, Source, Tick
from tickvault_writer.aggregate import US_PER_MINUTE, Candle
from tickvault_writer.binary import HEADER, PG_EPOCH_US, TRAILER
from tickvault_writer.prepare import Prepared, candle_params

MAX_DIGITS = 18  # of a price or quantity: its digits as an int64
MAX_SCALE = 16  # digits after the point: four-digit groups of them stay within an int64
US_PER_HOUR = 3_600_000_000
_LIMB = 10**6  # sums and products run on limbs of this base, so no int64 can overflow
_COLUMNS = ("id", "price", "qty", "quote_qty", "time", "maker", "best_match")
_USED = ["id", "price", "qty", "time", "maker"]
_READ = pcsv.ReadOptions(column_names=list(_COLUMNS), use_threads=False)
_PARSE = pcsv.ParseOptions(quote_char=False, double_quote=False, escape_char=False)
_CONVERT = pcsv.ConvertOptions(
    column_types=dict.fromkeys(_USED, pa.string()),
    include_columns=_USED,
    strings_can_be_null=False,
    quoted_strings_can_be_null=False,
)
_BOOL_TEXT = pa.array(["True", "False", "true", "false"])
_TRUE_TEXT = pa.array(["True", "true"])
_BOM = b"\xef\xbb\xbf"
_L8 = pa.scalar(struct.pack(">i", 8), pa.binary())


@dataclass(frozen=True, slots=True)
class ArchiveRows:
    """One block's trades as columns, with their COPY stream and aggregates made."""

    symbol: str
    received_at: int
    ids: pa.Array  # int64, ascending
    prices: pa.Array  # string
    quantities: pa.Array  # string
    times: pa.Array  # int64 epoch µs, not descending
    makers: pa.Array  # bool
    ready: Prepared

    def __len__(self) -> int:
        return len(self.ids)

    def hours(self) -> set[int]:
        """Return the hours (epoch µs) the trades fall in."""
        hours = pc.unique(pc.divide(self.times, _n(US_PER_HOUR)))
        return {h * US_PER_HOUR for h in hours.to_pylist()}

    def prepared(self) -> Prepared:
        """Return the COPY stream and aggregate parameters (those of ``prepare``)."""
        return self.ready

    def ticks(self) -> list[Tick]:
        """Return the trades as ticks (for the store's fallback path and the cold tier)."""
        columns = (self.ids, self.prices, self.quantities, self.times, self.makers)
        symbol, received_at, archive = self.symbol, self.received_at, Source.ARCHIVE
        return [
            Tick(symbol, i, p, q, t, t, m, received_at, archive)
            for i, p, q, t, m in zip(*(c.to_pylist() for c in columns), strict=True)
        ]

    def trade_ids(self) -> list[int]:
        """Return the trade ids, in file order."""
        return self.ids.to_pylist()  # type: ignore[no-any-return]


def read_block(block: bytes, symbol: str, received_at: int, micros: bool) -> ArchiveRows | None:
    """Return the rows of *block* (whole CSV lines, no header) prepared; None: read it by row."""
    if not is_name(symbol) or not 0 <= received_at <= MAX_TIME_US:
        return None  # the row path refuses every row
    if block.startswith(_BOM):
        return None  # Arrow would skip it; the row path does not
    if b"\r" in block and block.count(b"\r") != block.count(b"\r\n"):
        return None  # a lone CR ends a line for the row reader: let it count them
    try:
        table = pcsv.read_csv(pa.py_buffer(block), _READ, _PARSE, _CONVERT)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # a row of another width, bad UTF-8
        return None
    if table.num_rows == 0:
        return None
    id_text, price_text, qty_text, time_text, maker_text = (
        table.column(name).combine_chunks() for name in _USED
    )
    price_scale = _scale(price_text[0].as_py())
    qty_scale = _scale(qty_text[0].as_py())
    if price_scale is None or qty_scale is None:
        return None
    checks = (
        _digits(id_text),
        _digits(time_text),
        pc.match_substring_regex(price_text, _canonical(price_scale)),
        pc.match_substring_regex(qty_text, _canonical(qty_scale)),
        pc.is_in(maker_text, value_set=_BOOL_TEXT),
    )
    if not all(pc.all(c).as_py() for c in checks):
        return None
    ids = id_text.cast(pa.int64())
    raw_times = time_text.cast(pa.int64())
    if micros != (pc.min(raw_times).as_py() >= MS_BELOW) or micros != (
        pc.max(raw_times).as_py() >= MS_BELOW
    ):
        return None
    times = raw_times if micros else pc.multiply(raw_times, _n(1000))
    if pc.min(times).as_py() < MIN_TIME_US or pc.max(times).as_py() > MAX_TIME_US:
        return None
    if len(ids) > 1 and not (
        pc.all(pc.greater(ids[1:], ids[:-1])).as_py()
        and pc.all(pc.greater_equal(times[1:], times[:-1])).as_py()
    ):
        return None  # the candle rules are simplest on rows in time order: take it by row
    makers = pc.is_in(maker_text, value_set=_TRUE_TEXT)
    prices = _mantissas(price_text, price_scale)
    quantities = _mantissas(qty_text, qty_scale)
    numerics = (_numerics(prices, price_scale), _numerics(quantities, qty_scale))
    copy_data = _copy_stream(symbol, received_at, ids, times, makers, numerics)
    made = _aggregate(symbol, ids, times, price_text, prices, quantities, price_scale, qty_scale)
    prepared = Prepared(copy_data, made.params, made.candles, made.levels, made.levels_copy)
    return ArchiveRows(symbol, received_at, ids, price_text, qty_text, times, makers, prepared)


def _digits(text: pa.Array) -> pa.Array:
    """Return whether each string is 1 to 18 ASCII digits (an int64, as ``int()`` reads it)."""
    return pc.and_(pc.ascii_is_decimal(text), pc.less_equal(pc.binary_length(text), _n(18)))


@cache
def _n(value: int) -> pa.Scalar:
    """Return an int64 scalar (a Python int costs pyarrow a conversion at every call)."""
    return pa.scalar(value, pa.int64())


@cache
def _single(value: int) -> pa.Array:
    """Return an int64 array of one *value*."""
    return pa.array([value], pa.int64())


def _scale(text: str) -> int | None:
    """Return the digits after the point of a decimal string (None when it is not one)."""
    whole, point, frac = text.partition(".")
    if not whole or (point and not frac) or len(frac) > MAX_SCALE:
        return None
    if len(whole) + len(frac) > MAX_DIGITS:
        return None
    return len(frac)


@cache
def _canonical(scale: int) -> str:
    """Return the pattern of a canonical decimal of *scale* digits after the point."""
    whole = f"(?:0|[1-9][0-9]{{0,{MAX_DIGITS - scale - 1}}})"
    return f"^{whole}\\.[0-9]{{{scale}}}$" if scale else f"^{whole}$"


def _mantissas(text: pa.Array, scale: int) -> pa.Array:
    """Return canonical decimals of *scale* as int64 (the value times 10**scale)."""
    digits = pc.replace_substring(text, ".", "", max_replacements=1) if scale else text
    return digits.cast(pa.int64())


# ---------------------------------------------------------------------- the COPY stream


def _copy_stream(
    symbol: str,
    received_at: int,
    ids: pa.Array,
    times: pa.Array,
    makers: pa.Array,
    numerics: tuple[pa.Array, pa.Array],
) -> bytes:
    """Return what :func:`~tickvault_writer.binary.copy_binary` makes of these rows."""
    raw = symbol.encode()
    start = pa.scalar(struct.pack(">hi", 8, len(raw)) + raw, pa.binary())
    tails = pa.array(
        [struct.pack(">i?iq", 1, m, 8, received_at - PG_EPOCH_US) for m in (False, True)],
        pa.binary(),
    )
    pg_times = _big_endian(pc.subtract(times, _n(PG_EPOCH_US)))
    rows = pc.binary_join_element_wise(
        start,
        *numerics,
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


def _big_endian(values: pa.Array) -> pa.Array:
    """Return int64 or int32 *values* (no nulls) as big-endian binary values."""
    n, width = len(values), values.type.byte_width
    data = values.buffers()[1]
    raw = pa.Array.from_buffers(pa.uint8(), width * n, [None, data], offset=width * values.offset)
    swapped = raw.take(_swap_index(width * n, width))
    swapped_data = swapped.buffers()[1]
    return pa.Array.from_buffers(pa.binary(width), n, [None, swapped_data]).cast(pa.binary())


_INDICES: dict[str, pa.Array] = {}


def _indices(size: int) -> pa.Array:
    """Return 0, 1, ... *size* - 1 (int64; grown as needed and kept)."""
    known = _INDICES.get("range")
    if known is None or len(known) < size:
        grown = max(size, 2 * len(known) if known is not None else 0)
        ones = pa.repeat(pa.scalar(1, pa.int64()), grown)
        _INDICES.clear()
        known = _INDICES["range"] = pc.subtract(pc.cumulative_sum(ones), _n(1))
    return known.slice(0, size)


def _swap_index(size: int, width: int) -> pa.Array:
    """Return the indices that reverse every *width* bytes of *size* bytes."""
    key = f"swap{width}"
    swap = _INDICES.get(key)
    if swap is None or len(swap) < size:
        at = _indices(size)
        swap = _INDICES[key] = pc.subtract(
            pc.add(at, _n(width - 1)), pc.multiply(pc.bit_wise_and(at, _n(width - 1)), _n(2))
        )
    return swap.slice(0, size)


def _numerics(mantissas: pa.Array, scale: int) -> pa.Array:
    """Return the binary ``numeric`` fields of these decimals (each distinct value once)."""
    encoded = pc.dictionary_encode(mantissas)
    fields = pc.binary_join_element_wise(
        *_numeric_pieces(encoded.dictionary, scale), b"", null_handling="skip"
    )
    return fields.take(encoded.indices)


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
    whole = pc.divide(mantissas, _n(10**scale))
    rest = pc.multiply(
        pc.subtract(mantissas, pc.multiply(whole, _n(10**scale))),
        _n(10 ** (4 * frac_groups - scale)),
    )
    groups: list[pa.Array] = []
    for value, count in ((whole, int_groups), (rest, frac_groups)):
        for k in range(count - 1, -1, -1):
            unit = _n(10 ** (4 * k))
            group = pc.divide(value, unit)
            value = pc.subtract(value, pc.multiply(group, unit))
            groups.append(group)
    nonzero = [pc.not_equal(g, _n(0)) for g in groups]
    before = _running_or(nonzero)
    after = _running_or(nonzero[::-1])[::-1]
    kept = [pc.and_(b, a) for b, a in zip(before, after, strict=True)]
    digits = _count(kept)
    leading = _count([pc.invert(b) for b in before])
    weight = pc.if_else(pc.equal(digits, _n(0)), _n(0), pc.subtract(_n(int_groups - 1), leading))
    heads = _numeric_heads(scale, len(groups), int_groups, frac_groups)
    head = heads.take(pc.add(pc.multiply(digits, _n(64)), pc.add(weight, _n(32))))
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
        pc.shift_left(pc.bit_wise_and(group, _n(255)), _n(8)), pc.shift_right(group, _n(8))
    )
    data = swapped.cast(pa.uint16()).buffers()[1]
    valid = kept.buffers()[1]
    return pa.Array.from_buffers(pa.binary(2), len(group), [valid, data], offset=0).cast(
        pa.binary()
    )


# ---------------------------------------------------------------------- candles and levels


@dataclass(frozen=True, slots=True)
class Aggregates:
    """A block's candles and levels as the store takes them."""

    params: tuple[str, ...]
    candles: int
    levels: int
    levels_copy: tuple[bytes, tuple[str, ...]] | None


def _fixed(mantissa: int, scale: int) -> str:
    """Return ``mantissa / 10**scale`` in plain notation with *scale* digits after the point."""
    if not scale:
        return str(mantissa)
    digits = str(mantissa).rjust(scale + 1, "0")
    return f"{digits[:-scale]}.{digits[-scale:]}"


def _aggregate(
    symbol: str,
    ids: pa.Array,
    times: pa.Array,
    price_text: pa.Array,
    prices: pa.Array,
    quantities: pa.Array,
    price_scale: int,
    qty_scale: int,
) -> Aggregates:
    """Return what :func:`~tickvault_writer.prepare.aggregate_params` makes of rows in time order,
    and the levels that may go by ``COPY`` (see :attr:`Prepared.levels_copy`).

    Arrow groups the rows by (minute, price) for the levels and by minute for the candles;
    sums and products run on base-10**6 limbs (int64 sums that cannot overflow), put together
    per minute in Python integers, exact. Canonical decimals of one scale make a price
    string one value, and rows in (time, id) order make a group's first row its earliest.
    """
    minutes = pc.multiply(pc.divide(times, _n(US_PER_MINUTE)), _n(US_PER_MINUTE))
    price_limbs, qty_limbs = _limbs(prices), _limbs(quantities)
    columns: dict[str, pa.Array] = {"m": minutes, "p": prices, "i": _indices(len(ids))}
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
    per_minute["n"] = pc.add(pc.subtract(ends, starts), _n(1))
    for name in ("p", "q", "pp", "pq"):
        for c in sums[name]:
            per_minute[c] = _run_sums(columns[c], starts, ends)
    extremes = (per_level["i_min"].take(low_levels), per_level["i_min"].take(high_levels))
    volume = _volumes(per_level, sums["q"])
    volume_text = _volume_text(per_level, volume, sums["q"], qty_scale)
    level_params = _level_params(symbol, per_level, price_text, volume_text)
    split = None
    if volume is not None:
        scales = (price_scale, qty_scale)
        split = _split_levels(symbol, per_level, price_text, volume, volume_text, scales)
    candles = _candles(
        symbol,
        per_minute,
        extremes,
        sums,
        (ids, times, price_text),
        (price_scale, qty_scale),
    )
    candle_part = candle_params(candles)
    params = (*candle_part, *level_params)
    levels_copy = None if split is None else (split[0], (*candle_part, *split[1]))
    return Aggregates(params, len(candles), per_level.num_rows, levels_copy)


def _runs(keys: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Return the first and last index of each run of equal values of sorted *keys*."""
    last = len(keys) - 1
    changes = pc.indices_nonzero(pc.not_equal(keys[1:], keys[:-1])).cast(pa.int64())
    starts = pa.concat_arrays([_single(0), pc.add(changes, _n(1))])
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
        high = pc.divide(rest, _n(_LIMB))
        limbs.append(pc.subtract(rest, pc.multiply(high, _n(_LIMB))))
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
        volume = pc.add(volume, pc.multiply(s, _n(_LIMB**k)))
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
    raw = symbol.encode()
    rows = pc.binary_join_element_wise(
        pa.scalar(struct.pack(">hi", 5, len(raw)) + raw, pa.binary()),
        _L8,
        _big_endian(pc.subtract(within["m"].combine_chunks(), _n(PG_EPOCH_US))),
        _numerics(within["p"].combine_chunks(), scales[0]),
        pa.scalar(struct.pack(">i", 4), pa.binary()),
        _big_endian(within["i_count"].combine_chunks().cast(pa.int32())),
        _numerics(volume.filter(inside), scales[1]),
        b"",
    )
    edge_params = _level_params(
        symbol, per_level.filter(edges), price_text, volume_text.filter(edges)
    )
    return _stream(rows), edge_params


def _stream(rows: pa.Array) -> bytes:
    """Return binary COPY rows (a binary array) as one ``COPY`` stream."""
    _, offsets, body = rows.buffers()
    ends = pa.Array.from_buffers(pa.int32(), len(rows) + 1, [None, offsets], offset=rows.offset)
    return b"".join((HEADER, memoryview(body)[ends[0].as_py() : ends[-1].as_py()], TRAILER))


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
