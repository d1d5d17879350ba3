"""Prepare a batch for the fast path: the binary COPY stream and the aggregates' parameters.

Pure. Done while decoding (in the reading thread), so the storing thread only talks to
PostgreSQL. Arrays travel as PostgreSQL array literals built here: every element is a
checked symbol (quoted), an integer or an exact decimal string, so nothing needs escaping.
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


def _texts(values: Iterable[object]) -> str:
    return "{" + ",".join([f'"{v}"' for v in values]) + "}"


def _plain(values: Iterable[object]) -> str:
    return "{" + ",".join(map(str, values)) + "}"


def _columns(rows: Sequence[tuple[object, ...]], width: int) -> list[tuple[object, ...]]:
    return list(zip(*rows, strict=True)) or [()] * width


class CannotPrepare(TickvaultError):
    """The ticks cannot take the fast path (the fallback SQL path still can store them)."""


def prepare(ticks: Sequence[Tick]) -> Prepared:
    """Return the COPY stream and the candle and level array literals of *ticks*."""
    try:
        levels, candles = aggregate(ticks)
        copy_data = copy_binary(ticks)
    except (ArithmeticError, ValueError, struct.error) as exc:  # not for codec-checked ticks
        raise CannotPrepare(str(exc)) from exc
    symbol, *numbers = _columns(candles, len(Candle._fields))  # in the statement's order
    level_symbol, *level_numbers = _columns(levels, len(Level._fields))
    params = (
        _texts(symbol),
        *map(_plain, numbers),
        _texts(level_symbol),
        *map(_plain, level_numbers),
    )
    return Prepared(copy_data, params, len(candles), len(levels))
