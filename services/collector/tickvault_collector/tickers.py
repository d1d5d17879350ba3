"""Read each symbol's latest trade id from Binance's tickers (pure).

Two answers carry it for the whole market at once: ``GET /api/v3/ticker/24hr`` without a
symbol (weight 80; ``firstId``/``lastId`` per row, ``-1`` when nothing traded in 24 h) and the
all-market rolling-window stream ``!ticker_1h@arr`` (free, once a second, only the symbols
whose ticker changed; ``F``/``L`` per entry). Both become :class:`TickerRow` values.

A row that cannot be read (wrong types, missing fields, a name tickvault cannot store) is
counted in :attr:`Tickers.bad` and left out; the others are kept. A body that is not a JSON
array at all raises :class:`~tickvault.errors.FrameError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import msgspec

from tickvault.errors import FrameError
from tickvault.tick import is_symbol, to_us

TICKER_STREAM = "!ticker_1h@arr"

Id = Annotated[int, msgspec.Meta(ge=-1)]
Time = Annotated[int, msgspec.Meta(ge=0)]


@dataclass(frozen=True, slots=True)
class TickerRow:
    """What a ticker says of one symbol: the first and last trade id of its window, and when."""

    symbol: str
    first_id: int
    last_id: int
    time_us: int  # the exchange's time of the answer (``E`` / ``closeTime``), epoch µs


@dataclass(frozen=True, slots=True)
class Tickers:
    """The readable rows of one ticker answer, and how many rows were not readable."""

    rows: list[TickerRow]
    bad: int = 0
    bad_names: tuple[str, ...] = ()


class _RestRow(msgspec.Struct):
    symbol: str
    firstId: Id
    lastId: Id
    closeTime: Time


class _StreamEntry(msgspec.Struct):
    s: str
    F: Id
    L: Id
    E: Time


class _Combined(msgspec.Struct):
    stream: str
    data: list[_StreamEntry]


class _CombinedRaw(msgspec.Struct):
    stream: str
    data: list[msgspec.Raw]


_REST = msgspec.json.Decoder(list[_RestRow])
_STREAM = msgspec.json.Decoder(list[_StreamEntry])
_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_COMBINED = msgspec.json.Decoder(_Combined)
_COMBINED_RAW = msgspec.json.Decoder(_CombinedRaw)
_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, ValueError, UnicodeError)


def parse_rest_tickers(body: bytes) -> Tickers:
    """Read a ``ticker/24hr`` body (no symbol given); FrameError when it is not an array."""
    try:
        return _rows([_from_rest(r) for r in _REST.decode(body)])
    except _ERRORS:
        pass
    return _salvage(body, _from_rest_raw, "ticker/24hr")


def parse_stream_tickers(frame: str | bytes) -> Tickers:
    """Read one ``!ticker_1h@arr`` frame (combined or raw); FrameError when it is not one."""
    try:
        return _rows([_from_stream(e) for e in _COMBINED.decode(frame).data])
    except _ERRORS:
        pass
    try:
        entries = _COMBINED_RAW.decode(frame).data
    except _ERRORS:
        return _salvage(frame, _from_stream_raw, TICKER_STREAM)
    return _salvage_rows(entries, _from_stream_raw)


def _from_rest(row: _RestRow) -> TickerRow:
    return TickerRow(row.symbol, row.firstId, row.lastId, to_us(row.closeTime))


def _from_stream(entry: _StreamEntry) -> TickerRow:
    return TickerRow(entry.s, entry.F, entry.L, to_us(entry.E))


def _from_rest_raw(raw: msgspec.Raw) -> TickerRow:
    return _from_rest(msgspec.json.decode(raw, type=_RestRow))


def _from_stream_raw(raw: msgspec.Raw) -> TickerRow:
    return _from_stream(msgspec.json.decode(raw, type=_StreamEntry))


def _salvage(body: str | bytes, parse: Callable[[msgspec.Raw], TickerRow], what: str) -> Tickers:
    """Decode row by row, keeping the readable rows; FrameError when there is no array."""
    try:
        raws = _RAW_LIST.decode(body)
    except _ERRORS as exc:
        raise FrameError(f"bad {what} answer: {exc}") from exc
    return _salvage_rows(raws, parse)


def _salvage_rows(raws: list[msgspec.Raw], parse: Callable[[msgspec.Raw], TickerRow]) -> Tickers:
    rows: list[TickerRow] = []
    bad = 0
    for raw in raws:
        try:
            rows.append(parse(raw))
        except _ERRORS:
            bad += 1
    result = _rows(rows)
    return Tickers(result.rows, result.bad + bad, result.bad_names)


def _rows(rows: list[TickerRow]) -> Tickers:
    """Keep the rows whose name tickvault can store and whose ids are consistent."""
    good = [r for r in rows if is_symbol(r.symbol) and _consistent(r)]
    if len(good) == len(rows):
        return Tickers(rows)
    names = tuple(r.symbol for r in rows if not is_symbol(r.symbol))
    return Tickers(good, len(rows) - len(good), names)


def _consistent(row: TickerRow) -> bool:
    """Return whether the ids make sense: both -1 (no trade in the window) or first <= last."""
    if row.last_id < 0:
        return row.first_id < 0
    return 0 <= row.first_id <= row.last_id
