"""Prepare a batch for PostgreSQL: its binary COPY stream and its aggregates' parameters.

Both paths of :mod:`tickvault_writer.store` use them: the fast path loads the COPY stream
into ``trades``, the fallback into the staging table. Pure. Done while decoding (in the
reading thread), so the storing thread only talks to PostgreSQL. Arrays travel as PostgreSQL
array literals built here: every element is a checked symbol (quoted), an integer or an
exact decimal string, so nothing needs escaping.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tickvault.errors import TickvaultError
from tickvault.tick import Tick
from tickvault_writer.aggregate import Candle, Level, aggregate
from tickvault_writer.binary import copy_binary


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch's ticks ready for :data:`sql.COPY_TRADES` and :data:`sql.UPSERT_AGGREGATES`."""

    copy_data: bytes
    params: tuple[str, ...]
    candles: int
    levels: int
    # A block of an import: the levels of the minutes it holds whole as a sql.COPY_LEVELS
    # stream, and the upsert's parameters without them. The store copies them when the block's
    # trades were all new and takes the upsert whole if one is stored already.
    levels_copy: tuple[bytes, tuple[str, ...]] | None = None


def _texts(values: Iterable[object]) -> str:
    return "{" + ",".join([f'"{v}"' for v in values]) + "}"


def _plain(values: Iterable[object]) -> str:
    return "{" + ",".join(map(str, values)) + "}"


def _columns(rows: Sequence[tuple[object, ...]], width: int) -> list[tuple[object, ...]]:
    return list(zip(*rows, strict=True)) or [()] * width


class CannotPrepare(TickvaultError):
    """The ticks cannot be encoded or aggregated (PostgreSQL is then asked to say which row)."""


def prepare(ticks: Sequence[Tick]) -> Prepared:
    """Return the COPY stream and the candle and level array literals of *ticks*."""
    try:
        copy_data = copy_binary(ticks)
    except (ValueError, struct.error) as exc:  # not for ticks that passed the Tick's checks
        raise CannotPrepare(str(exc)) from exc
    params, candles, levels = aggregate_params(ticks)
    return Prepared(copy_data, params, candles, levels)


def aggregate_params(ticks: Sequence[Tick]) -> tuple[tuple[str, ...], int, int]:
    """Return the :data:`sql.UPSERT_AGGREGATES` parameters of *ticks*, candles and levels."""
    try:
        levels, candles = aggregate(ticks)
    except (ArithmeticError, ValueError) as exc:
        raise CannotPrepare(str(exc)) from exc
    return params_of(levels, candles), len(candles), len(levels)


def params_of(levels: Sequence[Level], candles: Sequence[Candle]) -> tuple[str, ...]:
    """Return the :data:`sql.UPSERT_AGGREGATES` parameters of these levels and candles."""
    level_symbol, *level_numbers = _columns(levels, len(Level._fields))
    return (*candle_params(candles), _texts(level_symbol), *map(_plain, level_numbers))


def candle_params(candles: Sequence[Candle]) -> tuple[str, ...]:
    """Return the candles' share of the :data:`sql.UPSERT_AGGREGATES` parameters."""
    symbol, *numbers = _columns(candles, len(Candle._fields))  # in the statement's order
    return (_texts(symbol), *map(_plain, numbers))
