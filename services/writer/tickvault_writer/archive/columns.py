"""A block of an archive file's rows, read, checked and prepared as whole Arrow columns.

The exact path (:class:`~tickvault_writer.archive.rows.FileReader`, then
:func:`~tickvault_writer.prepare.prepare`) costs several microseconds a row in Python, more than
PostgreSQL's COPY of the row. :func:`read_block` does the same work on whole columns with
``pyarrow`` (C++, the GIL let go) and its result is the same to the byte: the binary COPY stream
(:mod:`.column_copy`) and the candle and price-level parameters (:mod:`.column_fold`) that
``prepare`` makes of the block's ticks (the unit tests compare them on real and generated rows).

It takes a block only when every row is in the form where the column rules provably agree with
the row rules: seven columns, an id and a time of ASCII digits, ``True``/``False``, times in the
file's unit and in tickvault's span, ids ascending and times not descending, prices and
quantities canonical decimals of one scale per column (``60000.00000000``, so that equal values
are equal strings) of at most 18 digits. Anything else (a refused row, a quote, a stray
carriage return, a header, a scale change) returns None and the caller reads the block row by
row, so a refused row is still named and counted exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from tickvault.symbols import is_name
from tickvault.tick import MAX_TIME_US, MIN_TIME_US, MS_BELOW, Source, Tick
from tickvault_writer.archive.arrow_cache import int64
from tickvault_writer.archive.column_copy import trades_stream
from tickvault_writer.archive.column_fold import aggregate
from tickvault_writer.prepare import Prepared

MAX_DIGITS = 18  # of a price or quantity: its digits as an int64
MAX_SCALE = 16  # digits after the point: four-digit groups of them stay within an int64
US_PER_HOUR = 3_600_000_000
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
        hours = pc.unique(pc.divide(self.times, int64(US_PER_HOUR)))
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
    times = raw_times if micros else pc.multiply(raw_times, int64(1000))
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
    scales = (price_scale, qty_scale)
    copy_data = trades_stream(symbol, received_at, ids, times, makers, prices, quantities, scales)
    made = aggregate(symbol, ids, times, price_text, prices, quantities, scales)
    prepared = Prepared(copy_data, made.params, made.candles, made.levels, made.levels_copy)
    return ArchiveRows(symbol, received_at, ids, price_text, qty_text, times, makers, prepared)


def _digits(text: pa.Array) -> pa.Array:
    """Return whether each string is 1 to 18 ASCII digits (an int64, as ``int()`` reads it)."""
    return pc.and_(pc.ascii_is_decimal(text), pc.less_equal(pc.binary_length(text), int64(18)))


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
