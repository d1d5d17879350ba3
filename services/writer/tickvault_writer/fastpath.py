"""Prepare a batch for the fast path: the binary COPY stream and the aggregates' parameters.

Pure. Done while decoding (in the reading thread), so the storing thread only talks to
PostgreSQL. Arrays travel as PostgreSQL array literals built here: every element is a
checked symbol (quoted), an integer or an exact decimal string, so nothing needs escaping.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tickvault.tick import Tick
from tickvault_writer.aggregate import aggregate
from tickvault_writer.binary import copy_binary


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch's ticks ready for :data:`sql.COPY_TRADES` and :data:`sql.UPSERT_AGGREGATES`."""

    copy_data: bytes
    params: tuple[str, ...]
    candles: int
    levels: int


def _texts(values: Iterable[str]) -> str:
    return "{" + ",".join([f'"{v}"' for v in values]) + "}"


def _plain(values: Iterable[object]) -> str:
    return "{" + ",".join(map(str, values)) + "}"


class CannotPrepare(ValueError):
    """The ticks cannot take the fast path (the fallback SQL path still can store them)."""


def prepare(ticks: Sequence[Tick]) -> Prepared:
    """Return the COPY stream and the candle and level array literals of *ticks*."""
    try:
        levels, candles = aggregate(ticks)
        copy_data = copy_binary(ticks)
    except (ArithmeticError, ValueError, struct.error) as exc:  # not for codec-checked ticks
        raise CannotPrepare(str(exc)) from exc
    c = candles
    params = (
        _texts(x.symbol for x in c), _plain(x.minute for x in c), _plain(x.open for x in c),
        _plain(x.high for x in c), _plain(x.low for x in c), _plain(x.close for x in c),
        _plain(x.volume for x in c), _plain(x.trades for x in c),
        _plain(x.quote_volume for x in c), _plain(x.price_sum for x in c),
        _plain(x.price_sq_sum for x in c), _plain(x.open_time for x in c),
        _plain(x.open_trade_id for x in c), _plain(x.close_time for x in c),
        _plain(x.close_trade_id for x in c), _plain(x.high_time for x in c),
        _plain(x.low_time for x in c),
        _texts(x.symbol for x in levels), _plain(x.minute for x in levels),
        _plain(x.price for x in levels), _plain(x.trades for x in levels),
        _plain(x.volume for x in levels),
    )
    return Prepared(copy_data, params, len(candles), len(levels))
